"""Threaded notes on an item (add, reply, edit, delete), the live preview, the latest-notes page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from app.repo import notes as notes_repo
from app.services import notes as notes_service
from app.services.markdown import render_markdown
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep
from app.web.render import is_htmx, render

router = APIRouter(tags=["web: notes"])


def _thread(request: Request, services, item_id: int, *, error: str = "", status_code: int = 200):
    if not is_htmx(request) and not error:
        return RedirectResponse(f"/items/{item_id}#notes", status_code=303)
    with services.factory() as session:
        ctx = {"item_id": item_id, "thread": notes_service.thread_of_item(session, item_id), "note_error": error}
        return render(request, "notes/_thread.html", ctx, status_code=status_code)


def _item_of_note(services, note_id: int) -> int:
    with services.factory() as session:
        note = notes_repo.get_note(session, note_id)
        if note is None:
            raise HTTPException(404, "No such note.")
        return note.item_id


@router.post("/items/{item_id}/notes", dependencies=[CsrfProtected])
def add(request: Request, item_id: int, user: CurrentUser, services: ServicesDep,
        body: Annotated[str, Form()] = ""):
    try:
        notes_service.add_note(services.factory, services.jobs, item_id, body)
    except notes_service.NoteError as exc:
        if str(exc) == "No such item.":
            raise HTTPException(404, str(exc)) from exc
        return _thread(request, services, item_id, error=str(exc), status_code=400)
    return _thread(request, services, item_id)


def _change_note(request: Request, services, note_id: int, change, body: str):
    """Reply to or edit a note (change is the service function); the item's thread, with the
    error when the service refuses."""
    item_id = _item_of_note(services, note_id)
    try:
        change(services.factory, services.jobs, note_id, body)
    except notes_service.NoteError as exc:
        return _thread(request, services, item_id, error=str(exc), status_code=400)
    return _thread(request, services, item_id)


@router.post("/notes/{note_id}/reply", dependencies=[CsrfProtected])
def reply(request: Request, note_id: int, user: CurrentUser, services: ServicesDep,
          body: Annotated[str, Form()] = ""):
    return _change_note(request, services, note_id, notes_service.reply_to_note, body)


@router.post("/notes/{note_id}/edit", dependencies=[CsrfProtected])
def edit(request: Request, note_id: int, user: CurrentUser, services: ServicesDep,
         body: Annotated[str, Form()] = ""):
    return _change_note(request, services, note_id, notes_service.edit_note, body)


@router.post("/notes/{note_id}/delete", dependencies=[CsrfProtected])
def delete(request: Request, note_id: int, user: CurrentUser, services: ServicesDep):
    item_id = _item_of_note(services, note_id)
    notes_service.delete_note(services.factory, services.jobs, note_id)
    return _thread(request, services, item_id)


@router.post("/notes/preview", dependencies=[CsrfProtected])
def preview(request: Request, user: CurrentUser, body: Annotated[str, Form()] = ""):
    return render(request, "notes/_preview.html", {"rendered": render_markdown(body), "body": body})


@router.get("/notes")
def latest(request: Request, user: CurrentUser, session: SessionDep, page: int = 1):
    page = max(page, 1)
    rows = notes_service.latest_notes(session, limit=30, offset=(page - 1) * 30)
    return render(request, "notes/page.html", {"rows": rows, "page": page, "has_next": len(rows) == 30})
