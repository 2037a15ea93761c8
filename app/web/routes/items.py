"""Saving (URL or PDF upload), the item page, its live status and the row a list polls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from app.repo import files as files_repo
from app.repo import items as items_repo
from app.services import items as items_service
from app.services import library as library_service
from app.services import notes as notes_service
from app.services.library import LibraryQuery
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep
from app.web.render import is_htmx, render
from app.web.routes.library import render_library

router = APIRouter(tags=["web: items"])


def _saved_response(request: Request, services, session, result: items_service.SaveResult):
    if is_htmx(request):
        flash = (
            f"Already in your library: {result.item.title or result.item.url}"
            if not result.created
            else ("Saved. It will be processed shortly." if result.enqueued
                  else "Saved. The worker is unreachable right now; it will be processed when it is back.")
        )
        return render_library(request, services, session, LibraryQuery(), flash=flash)
    return RedirectResponse(f"/items/{result.item.id}", status_code=303)


@router.post("/items", dependencies=[CsrfProtected])
def save_url(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    session: SessionDep,
    url: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
):
    req = items_service.SaveRequest(url=url, tags=[t for t in tags.split(",") if t.strip()])
    try:
        result = items_service.save_item(services.factory, services.jobs, req)
    except items_service.SaveError as exc:
        return render_library(request, services, session, LibraryQuery(), error=str(exc), url_value=url,
                              status_code=400)
    return _saved_response(request, services, session, result)


@router.post("/items/upload", dependencies=[CsrfProtected])
async def upload_pdf(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
):
    data = await file.read()

    def save():  # hashing, writing the file and the database: on the thread pool, not the event loop
        try:
            result = items_service.save_uploaded_pdf(
                services.factory, services.settings, services.jobs, data, file.filename or ""
            )
        except items_service.SaveError as exc:
            return render_library(request, services, session, LibraryQuery(), error=str(exc), status_code=400)
        return _saved_response(request, services, session, result)

    return await run_in_threadpool(save)


def item_or_404(session, item_id: int, *, trashed_ok: bool = False):
    item = items_repo.get_item(session, item_id, with_relations=True)
    if item is None or (item.trashed_at is not None and not trashed_ok):
        raise HTTPException(404, "No such item.")
    return item


@router.get("/items/{item_id}")
def item_page(request: Request, item_id: int, user: CurrentUser, services: ServicesDep, session: SessionDep):
    item = item_or_404(session, item_id)
    pages = files_repo.page_texts(session, item.file_id) if item.file_id else []
    ctx = {
        "item": item,
        "pages": pages,
        "thread": notes_service.thread_of_item(session, item.id),
        "has_thumb": bool(library_service.items_with_thumbnails(services.settings, [item])),
    }
    return render(request, "items/detail.html", ctx)


@router.get("/items/{item_id}/status")
def item_status(request: Request, item_id: int, user: CurrentUser, session: SessionDep):
    item = item_or_404(session, item_id)
    response = render(request, "items/_status.html", {"item": item})
    if item.status in ("ready", "failed") and request.headers.get("hx-target", "").startswith("status-"):
        response.headers["HX-Trigger"] = "item-settled"
    return response


@router.get("/items/{item_id}/row")
def item_row(request: Request, item_id: int, user: CurrentUser, services: ServicesDep, session: SessionDep):
    item = item_or_404(session, item_id)
    ctx = {
        "item": item,
        "note_counts": items_repo.note_counts(session, [item.id]),
        "thumbs": library_service.items_with_thumbnails(services.settings, [item]),
    }
    return render(request, "items/_row.html", ctx)


@router.post("/items/{item_id}/retry", dependencies=[CsrfProtected])
def retry(request: Request, item_id: int, user: CurrentUser, services: ServicesDep):
    item = items_service.retry_item(services.factory, services.jobs, item_id)
    if item is None:
        raise HTTPException(404, "No such item.")
    if is_htmx(request):
        with services.factory() as session:
            return render(request, "items/_status.html", {"item": item_or_404(session, item_id)})
    return RedirectResponse(f"/items/{item_id}", status_code=303)
