"""The library page (filters, views, sorting, pages), read/star toggles and bulk actions with undo."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from app.repo import items as items_repo
from app.services import library as library_service
from app.services import tags as tags_service
from app.services.library import LibraryQuery
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep
from app.web.render import is_htmx, render

router = APIRouter(tags=["web: library"])


def library_query(view: str = "", kind: str = "", tag: str = "", state: str = "", starred: str = "",
                  sort: str = "", page: int = 1, per_page: int = library_service.PAGE_SIZE) -> LibraryQuery:
    return LibraryQuery(view=view, kind=kind, tag=tag.strip(), state=state, starred=starred in ("1", "true", "on"),
                        sort=sort, page=page, per_page=per_page)


def render_library(request: Request, services, session, query: LibraryQuery, *, flash: str = "",
                   error: str = "", undo_ids: list[int] | None = None, url_value: str = "", status_code: int = 200):
    lib = library_service.library_page(session, services.settings, query, services.counts)
    lib.flash, lib.undo_ids = flash, undo_ids or []
    ctx = {"lib": lib, "error": error, "url_value": url_value, "sort_labels": library_service.SORT_LABELS}
    return render(request, "items/page.html", ctx, fragment="items/_list.html", status_code=status_code)


@router.get("/")
def library(
    request: Request, user: CurrentUser, services: ServicesDep, session: SessionDep,
    view: str = "", kind: str = "", tag: str = "", state: str = "", starred: str = "", sort: str = "",
    page: int = 1, per_page: int = library_service.PAGE_SIZE,
):
    query = library_query(view, kind, tag, state, starred, sort, page, per_page)
    return render_library(request, services, session, query)


def _item_actions(request: Request, services, item_id: int):
    with services.factory() as session:
        item = items_repo.get_item(session, item_id)
        if item is None:
            raise HTTPException(404, "No such item.")
        return render(request, "items/_actions.html", {"item": item})


@router.post("/items/{item_id}/read", dependencies=[CsrfProtected])
def toggle_read(request: Request, item_id: int, user: CurrentUser, services: ServicesDep):
    if library_service.toggle_read(services.factory, services.jobs, item_id) is None:
        raise HTTPException(404, "No such item.")
    if is_htmx(request):
        return _item_actions(request, services, item_id)
    return RedirectResponse(request.headers.get("referer") or f"/items/{item_id}", status_code=303)


@router.post("/items/{item_id}/star", dependencies=[CsrfProtected])
def toggle_star(request: Request, item_id: int, user: CurrentUser, services: ServicesDep):
    if library_service.toggle_star(services.factory, services.jobs, item_id) is None:
        raise HTTPException(404, "No such item.")
    if is_htmx(request):
        return _item_actions(request, services, item_id)
    return RedirectResponse(request.headers.get("referer") or f"/items/{item_id}", status_code=303)


BULK_ACTIONS = ("tag", "untag", "read", "unread", "delete", "restore")


@router.post("/items/bulk", dependencies=[CsrfProtected])
def bulk(
    request: Request, user: CurrentUser, services: ServicesDep, session: SessionDep,
    action: Annotated[str, Form()],
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
    tag_name: Annotated[str, Form()] = "",
    view: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "", tag: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "", starred: Annotated[str, Form()] = "", sort: Annotated[str, Form()] = "",
    page: Annotated[int, Form()] = 1, per_page: Annotated[int, Form()] = library_service.PAGE_SIZE,
):
    query = library_query(view, kind, tag, state, starred, sort, page, per_page)
    if action not in BULK_ACTIONS:
        raise HTTPException(400, "Unknown action.")
    if not ids:
        return render_library(request, services, session, query, error="Select some items first.", status_code=400)
    f, j = services.factory, services.jobs
    n = len(ids)
    noun = f"{n} item{'' if n == 1 else 's'}"
    undo: list[int] = []
    try:
        if action == "tag":
            tag_obj = tags_service.tag_items(f, j, ids, tag_name)
            flash = f"Tagged {noun} “{tag_obj.name}”."
        elif action == "untag":
            tags_service.untag_items_by_name(f, j, ids, tag_name)
            flash = f"Removed “{tag_name.strip()}” from {noun}."
        elif action in ("read", "unread"):
            library_service.set_read(f, j, ids, action == "read")
            flash = f"Marked {noun} as {action}."
        elif action == "delete":
            undo = library_service.trash_items(f, j, ids)
            flash = f"Deleted {len(undo)} item{'' if len(undo) == 1 else 's'}."
        else:
            library_service.restore_items(f, j, ids)
            flash = f"Restored {noun}."
    except tags_service.TagError as exc:
        return render_library(request, services, session, query, error=str(exc), status_code=400)
    session.expire_all()
    if not is_htmx(request):
        return RedirectResponse(query.url(page=query.page), status_code=303)
    return render_library(request, services, session, query, flash=flash, undo_ids=undo)
