"""Use cases on notes: add, reply (any depth), edit, delete, and the thread as a tree.

A note's Markdown is stored as written; it is rendered when shown (app.services.markdown), so a
note is saved whatever its rendering does. Deleting a note that has replies keeps the replies: the
note is marked deleted, its body cleared, and the thread shows a placeholder in its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from app.models import Item, Note, utcnow
from app.repo import index_queue as index_repo
from app.repo import items as items_repo
from app.repo import notes as notes_repo
from app.services.jobs import JobQueue
from app.services.markdown import Rendered, render_markdown

MAX_NOTE = 100_000


class NoteError(ValueError):
    """A note change Lectern refuses, with a message for the user."""


@dataclass(slots=True)
class NoteNode:
    note: Note
    rendered: Rendered
    depth: int = 0
    children: list[NoteNode] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.note.deleted_at is not None


def _body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise NoteError("A note cannot be empty.")
    if len(body) > MAX_NOTE:
        raise NoteError(f"A note is at most {MAX_NOTE} characters.")
    return body


def _done(session: Session, jobs: JobQueue, item_id: int, note: Note) -> Note:
    index_repo.mark_for_index(session, [item_id])  # notes are searchable
    session.commit()
    session.refresh(note)
    session.expunge(note)
    jobs.enqueue_index()
    return note


def add_note(factory: sessionmaker[Session], jobs: JobQueue, item_id: int, body: str) -> Note:
    body = _body(body)
    with factory() as session:
        if items_repo.get_item(session, item_id) is None:
            raise NoteError("No such item.")
        note = notes_repo.add_note(session, Note(item_id=item_id, body=body))
        return _done(session, jobs, item_id, note)


def reply_to_note(factory: sessionmaker[Session], jobs: JobQueue, parent_id: int, body: str) -> Note:
    body = _body(body)
    with factory() as session:
        parent = notes_repo.get_note(session, parent_id)
        if parent is None:
            raise NoteError("No such note to reply to.")
        note = notes_repo.add_note(session, Note(item_id=parent.item_id, parent_id=parent.id, body=body))
        return _done(session, jobs, parent.item_id, note)


def edit_note(factory: sessionmaker[Session], jobs: JobQueue, note_id: int, body: str) -> Note:
    body = _body(body)
    with factory() as session:
        note = notes_repo.get_note(session, note_id)
        if note is None or note.deleted_at is not None:
            raise NoteError("No such note.")
        note.body, note.edited_at = body, utcnow()
        return _done(session, jobs, note.item_id, note)


def delete_note(factory: sessionmaker[Session], jobs: JobQueue, note_id: int) -> Note:
    """Mark the note deleted and clear its body; its replies stay where they are."""
    with factory() as session:
        note = notes_repo.get_note(session, note_id)
        if note is None:
            raise NoteError("No such note.")
        if note.deleted_at is None:
            note.deleted_at, note.body = utcnow(), ""
        return _done(session, jobs, note.item_id, note)


def build_thread(notes: list[Note]) -> list[NoteNode]:
    """Notes (any order) as a forest by parent; a deleted note without live replies is left out."""
    nodes = {n.id: NoteNode(note=n, rendered=Rendered(html="")) for n in notes}
    roots: list[NoteNode] = []
    for n in sorted(notes, key=lambda n: (n.created_at, n.id)):
        node = nodes[n.id]
        parent = nodes.get(n.parent_id) if n.parent_id else None
        (parent.children if parent else roots).append(node)

    def prune(level: list[NoteNode], depth: int) -> list[NoteNode]:
        kept = []
        for node in level:
            node.depth = depth
            node.children = prune(node.children, depth + 1)
            if node.deleted and not node.children:
                continue
            if not node.deleted:
                node.rendered = render_markdown(node.note.body)
            kept.append(node)
        return kept

    return prune(roots, 0)


def thread_of_item(session: Session, item_id: int) -> list[NoteNode]:
    return build_thread(notes_repo.notes_of_item(session, item_id))


def count_nodes(nodes: list[NoteNode]) -> int:
    return sum(1 + count_nodes(n.children) for n in nodes if not n.deleted) + sum(
        count_nodes(n.children) for n in nodes if n.deleted
    )


@dataclass(slots=True)
class LatestNote:
    note: Note
    item: Item
    rendered: Rendered


def latest_notes(session: Session, limit: int = 50, offset: int = 0) -> list[LatestNote]:
    return [LatestNote(n, i, render_markdown(n.body)) for n, i in notes_repo.latest_notes(session, limit, offset)]
