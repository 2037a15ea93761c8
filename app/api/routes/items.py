"""Items in the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from app.api.deps import ApiTokenDep, ApiUser
from app.api.schemas import (
    ErrorOut,
    ItemCreate,
    ItemListOut,
    ItemOut,
    ItemUpdate,
    SaveOut,
    StatusOut,
)
from app.models import ItemStatus
from app.repo import items as items_repo
from app.services import items as items_service
from app.services import library as library_service
from app.services.item_query import list_items_by_query
from app.web.deps import ServicesDep, SessionDep

router = APIRouter(prefix="/items", tags=["items"])
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 422)}
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1, description="An item id.")]


def _save_request(body: bytes) -> items_service.SaveRequest:
    """The JSON body of a save; a body that is not an ItemCreate is answered 422, as FastAPI would."""
    try:
        payload = ItemCreate.model_validate_json(body)
    except ValueError as exc:
        errors = exc.errors() if hasattr(exc, "errors") else [{"loc": ("body",), "msg": str(exc)}]
        raise RequestValidationError([{**e, "loc": ("body", *e.get("loc", ()))} for e in errors]) from exc
    return items_service.SaveRequest(**payload.model_dump())


def _out(item) -> ItemOut:
    return ItemOut.of(item, tags=item.tags, page_count=item.file.page_count if item.file else None)


def _item_out(session, item_id: ItemId, *, trashed_too: bool = False) -> ItemOut:
    session.expire_all()
    item = items_repo.get_item(session, item_id, with_relations=True)
    if item is None or (item.trashed_at is not None and not trashed_too):
        raise HTTPException(404, "No such item.")
    return _out(item)


@router.get("", response_model=ItemListOut, responses={**ERRORS, 503: {"model": ErrorOut}})
def list_items(
    user: ApiUser,
    services: ServicesDep,
    session: SessionDep,
    q: str = Query("", max_length=500, description="The search syntax: words, \"phrases\", tag:, kind:, is:, year:, author:, has:pdf, -word."),
    sort: str = Query("saved", pattern="^(saved|saved_asc|published|title|relevance)$"),
    status: ItemStatus | None = Query(None, description="Only items in this processing status."),
    page: int = Query(1, ge=1, le=10_000),
    page_size: int = Query(20, ge=1, le=100),
) -> ItemListOut:
    """Items, newest saved first, filtered with the same query syntax as search."""
    found = list_items_by_query(session, services.search, q, sort=sort, page=page, page_size=page_size,
                                status=status.value if status else None)
    if found.unavailable:
        raise HTTPException(503, "Search is unavailable right now; list without words to use the database.")
    return ItemListOut(query=q, total=found.total, page=page, page_size=page_size,
                       items=[_out(i) for i in found.items])


@router.post(
    "",
    response_model=SaveOut,
    status_code=201,
    responses={200: {"model": SaveOut, "description": "Already saved: the existing item."}, **ERRORS},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ItemCreate"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"},
                                       "tags": {"type": "string"}},
                        "required": ["file"],
                    }
                },
            },
            "required": True,
        }
    },
)
async def create_item(
    request: Request, response: Response, token: ApiTokenDep, services: ServicesDep, fail_on_duplicate: bool = False,
) -> SaveOut:
    """Save a URL (JSON, with optional captured content) or upload a PDF (multipart field `file`)."""
    content_type = request.headers.get("content-type", "")
    # The body is read here, on the event loop; the token's look-up and saving (database, file,
    # broker) run on the thread pool, so eight clients saving at once do not hold every other
    # request behind them. A JSON save makes one trip there for both.
    if content_type.startswith("multipart/form-data"):
        await run_in_threadpool(token.user)  # before reading an upload
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "A multipart upload needs a `file` field with the PDF.")
        data = await upload.read()
        tags = [t for t in str(form.get("tags", "")).split(",") if t.strip()]

        def save() -> items_service.SaveResult:
            return items_service.save_uploaded_pdf(
                services.factory, services.settings, services.jobs, data, upload.filename or "",
                items_service.SaveRequest(tags=tags),
            )
    else:
        body = await request.body()

        def save() -> items_service.SaveResult:
            token.user()  # a wrong token is answered 401 before a wrong body 422
            return items_service.save_item(services.factory, services.jobs, _save_request(body))

    try:
        result = await run_in_threadpool(save)
    except items_service.SaveError as exc:
        raise HTTPException(400, str(exc)) from exc
    if not result.created:
        if fail_on_duplicate:
            raise HTTPException(409, f"Already saved as item {result.item.id}.")
        response.status_code = 200

        def existing() -> ItemOut:
            with services.factory() as session:
                return _item_out(session, result.item.id, trashed_too=True)

        return SaveOut(item=await run_in_threadpool(existing), created=False, queued=result.enqueued)
    # A new item is answered as committed (no read back): the service knows its tags and pages.
    out = ItemOut.of(result.item, tags=result.tags, page_count=result.page_count if result.item.file_id else None)
    return SaveOut(item=out, created=True, queued=result.enqueued)


@router.get("/{item_id}", response_model=ItemOut, responses=ERRORS)
def get_item(item_id: ItemId, user: ApiUser, session: SessionDep) -> ItemOut:
    """One item with its processing status."""
    return _item_out(session, item_id)


@router.post("/{item_id}/retry", response_model=ItemOut, responses=ERRORS)
def retry_item(item_id: ItemId, user: ApiUser, services: ServicesDep, session: SessionDep) -> ItemOut:
    """Queue a failed item again."""
    if items_service.retry_item(services.factory, services.jobs, item_id) is None:
        raise HTTPException(404, "No such item.")
    return _item_out(session, item_id)


@router.patch("/{item_id}", response_model=ItemOut, responses=ERRORS)
def update_item(item_id: ItemId, body: ItemUpdate, user: ApiUser, services: ServicesDep, session: SessionDep) -> ItemOut:
    """Change the title, the tags (the list replaces them), the read state or the star."""
    try:
        item = items_service.update_item(services.factory, services.jobs, item_id, **body.model_dump(exclude_unset=True))
    except items_service.SaveError as exc:
        raise HTTPException(400, str(exc)) from exc
    if item is None:
        raise HTTPException(404, "No such item.")
    return _item_out(session, item_id)


@router.delete("/{item_id}", status_code=204, responses=ERRORS)
def delete_item(item_id: ItemId, user: ApiUser, services: ServicesDep, permanent: bool = False) -> Response:
    """Move an item to the trash (restorable in the web app for 30 days), or delete it for good."""
    if permanent:
        if not items_service.delete_item(services.factory, services.jobs, item_id):
            raise HTTPException(404, "No such item.")
    elif not library_service.trash_items(services.factory, services.jobs, [item_id]):
        raise HTTPException(404, "No such item.")
    return Response(status_code=204)


@router.get("/{item_id}/status", response_model=StatusOut, responses=ERRORS)
def item_status(item_id: ItemId, user: ApiUser, session: SessionDep) -> StatusOut:
    """Where the item is in processing: queued, fetching, extracting, indexing, ready or failed."""
    item = items_repo.get_item(session, item_id)
    if item is None or item.trashed_at is not None:
        raise HTTPException(404, "No such item.")
    return StatusOut(id=item.id, status=item.status, error=item.error, attempts=item.attempts,
                     final=item.status in (ItemStatus.ready, ItemStatus.failed))
