"""Notes in the JSON API: an item's thread, add, reply, edit, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from app.api.deps import ApiUser
from app.api.schemas import ErrorOut, NoteCreate, NoteEdit, NoteOut
from app.models import Note
from app.repo import items as items_repo
from app.repo import notes as notes_repo
from app.services import notes as notes_service
from app.web.deps import ServicesDep, SessionDep

router = APIRouter(tags=["notes"])
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 404, 422)}
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1, description="An item id.")]
NoteId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A note id.")]


def _note_out(note: Note, replies: list[NoteOut] | None = None) -> NoteOut:
    return NoteOut(id=note.id, item_id=note.item_id, parent_id=note.parent_id, body=note.body,
                   created_at=note.created_at, edited_at=note.edited_at, deleted=note.deleted_at is not None,
                   replies=replies or [])


def _tree(nodes) -> list[NoteOut]:
    return [_note_out(n.note, _tree(n.children)) for n in nodes]


def _live_item(session, item_id: int) -> None:
    item = items_repo.get_item(session, item_id)
    if item is None or item.trashed_at is not None:
        raise HTTPException(404, "No such item.")


@router.get("/items/{item_id}/notes", response_model=list[NoteOut], responses=ERRORS)
def list_thread(item_id: ItemId, user: ApiUser, session: SessionDep) -> list[NoteOut]:
    """The item's notes as a thread: top-level notes oldest first, each with its replies.
    A deleted note that has replies stays as a placeholder (``deleted: true``, empty body)."""
    _live_item(session, item_id)
    return _tree(notes_service.thread_of_item(session, item_id))


@router.post("/items/{item_id}/notes", response_model=NoteOut, status_code=201, responses=ERRORS)
def create_note(item_id: ItemId, body: NoteCreate, user: ApiUser, services: ServicesDep, session: SessionDep) -> NoteOut:
    """Add a note, or with ``parent_id`` a reply to a note of this item."""
    _live_item(session, item_id)
    try:
        if body.parent_id is not None:
            parent = notes_repo.get_note(session, body.parent_id) if 1 <= body.parent_id < 2**31 else None
            if parent is None or parent.item_id != item_id:
                raise HTTPException(404, "No such note to reply to on this item.")
            note = notes_service.reply_to_note(services.factory, services.jobs, body.parent_id, body.body)
        else:
            note = notes_service.add_note(services.factory, services.jobs, item_id, body.body)
    except notes_service.NoteError as exc:
        raise HTTPException(400, str(exc)) from exc
    return _note_out(note)


@router.post("/notes/{note_id}/replies", response_model=NoteOut, status_code=201, responses=ERRORS)
def reply(note_id: NoteId, body: NoteEdit, user: ApiUser, services: ServicesDep, session: SessionDep) -> NoteOut:
    """Reply to a note (threads may nest to any depth)."""
    if notes_repo.get_note(session, note_id) is None:
        raise HTTPException(404, "No such note.")
    try:
        return _note_out(notes_service.reply_to_note(services.factory, services.jobs, note_id, body.body))
    except notes_service.NoteError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.patch("/notes/{note_id}", response_model=NoteOut, responses=ERRORS)
def edit_note(note_id: NoteId, body: NoteEdit, user: ApiUser, services: ServicesDep, session: SessionDep) -> NoteOut:
    """Replace a note's body."""
    note = notes_repo.get_note(session, note_id)
    if note is None or note.deleted_at is not None:
        raise HTTPException(404, "No such note.")
    try:
        return _note_out(notes_service.edit_note(services.factory, services.jobs, note_id, body.body))
    except notes_service.NoteError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.delete("/notes/{note_id}", status_code=204, responses=ERRORS)
def delete_note(note_id: NoteId, user: ApiUser, services: ServicesDep, session: SessionDep) -> Response:
    """Delete a note; its replies stay in the thread under a placeholder."""
    if notes_repo.get_note(session, note_id) is None:
        raise HTTPException(404, "No such note.")
    notes_service.delete_note(services.factory, services.jobs, note_id)
    return Response(status_code=204)
