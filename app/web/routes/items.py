"""The library page, saving (URL or PDF upload), the item page and its live status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse

from app.repo import files as files_repo
from app.repo import items as items_repo
from app.repo import notes as notes_repo
from app.repo.items import ItemListFilter
from app.services import items as items_service
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep
from app.web.render import is_htmx, render

router = APIRouter(tags=["web: items"])
PAGE_SIZE = 50


def _library_context(session, flt: ItemListFilter, page: int) -> dict:
    items = items_repo.list_items(session, flt)
    return {
        "items": items,
        "note_counts": items_repo.note_counts(session, [i.id for i in items]),
        "total": items_repo.count_items(session, flt),
        "page": page,
        "page_size": flt.limit,
        "flt": flt,
    }


@router.get("/")
def library(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    kind: str | None = None,
    tag: str | None = None,
    state: str | None = None,
    page: int = 1,
):
    page = max(page, 1)
    flt = ItemListFilter(kind=kind or None, tag=tag or None, read_state=state or None,
                         limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    ctx = _library_context(session, flt, page)
    return render(request, "items/page.html", ctx, fragment="items/_list.html")


def _saved_response(request: Request, result: items_service.SaveResult, session):
    if is_htmx(request):
        flt = ItemListFilter(limit=PAGE_SIZE)
        ctx = _library_context(session, flt, 1)
        ctx["flash"] = (
            f"Already in your library: {result.item.title or result.item.url}"
            if not result.created
            else ("Saved. It will be processed shortly." if result.enqueued
                  else "Saved. The worker is unreachable right now; it will be processed when it is back.")
        )
        return render(request, "items/page.html", ctx, fragment="items/_list.html")
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
        flt = ItemListFilter(limit=PAGE_SIZE)
        ctx = {**_library_context(session, flt, 1), "error": str(exc), "url_value": url}
        return render(request, "items/page.html", ctx, fragment="items/_list.html", status_code=400)
    return _saved_response(request, result, session)


@router.post("/items/upload", dependencies=[CsrfProtected])
async def upload_pdf(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
):
    data = await file.read()
    try:
        result = items_service.save_uploaded_pdf(
            services.factory, services.settings, services.jobs, data, file.filename or ""
        )
    except items_service.SaveError as exc:
        flt = ItemListFilter(limit=PAGE_SIZE)
        ctx = {**_library_context(session, flt, 1), "error": str(exc)}
        return render(request, "items/page.html", ctx, fragment="items/_list.html", status_code=400)
    return _saved_response(request, result, session)


def _item_or_404(session, item_id: int):
    item = items_repo.get_item(session, item_id, with_relations=True)
    if item is None:
        raise HTTPException(404, "No such item.")
    return item


@router.get("/items/{item_id}")
def item_page(request: Request, item_id: int, user: CurrentUser, session: SessionDep):
    item = _item_or_404(session, item_id)
    pages = files_repo.page_texts(session, item.file_id) if item.file_id else []
    ctx = {"item": item, "pages": pages, "notes": notes_repo.notes_of_item(session, item.id)}
    return render(request, "items/detail.html", ctx)


@router.get("/items/{item_id}/status")
def item_status(request: Request, item_id: int, user: CurrentUser, session: SessionDep):
    item = _item_or_404(session, item_id)
    response = render(request, "items/_status.html", {"item": item})
    if item.status in ("ready", "failed") and request.headers.get("hx-target", "").startswith("status-"):
        response.headers["HX-Trigger"] = "item-settled"
    return response


@router.get("/items/{item_id}/row")
def item_row(request: Request, item_id: int, user: CurrentUser, session: SessionDep):
    item = _item_or_404(session, item_id)
    counts = items_repo.note_counts(session, [item.id])
    return render(request, "items/_row.html", {"item": item, "note_counts": counts})


@router.post("/items/{item_id}/retry", dependencies=[CsrfProtected])
def retry(request: Request, item_id: int, user: CurrentUser, services: ServicesDep):
    item = items_service.retry_item(services.factory, services.jobs, item_id)
    if item is None:
        raise HTTPException(404, "No such item.")
    if is_htmx(request):
        with services.factory() as session:
            return render(request, "items/_status.html", {"item": _item_or_404(session, item_id)})
    return RedirectResponse(f"/items/{item_id}", status_code=303)
