"""Items in the JSON API."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from app.api.deps import ApiUser
from app.api.schemas import ErrorOut, ItemCreate, ItemOut, SaveOut
from app.repo import items as items_repo
from app.services import items as items_service
from app.web.deps import ServicesDep, SessionDep

router = APIRouter(prefix="/items", tags=["items"])
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 422)}


def _item_out(session, item_id: int) -> ItemOut:
    item = items_repo.get_item(session, item_id, with_relations=True)
    if item is None:
        raise HTTPException(404, "No such item.")
    return ItemOut.of(item, tags=item.tags, page_count=item.file.page_count if item.file else None)


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
    request: Request, response: Response, user: ApiUser, services: ServicesDep, session: SessionDep,
    fail_on_duplicate: bool = False,
) -> SaveOut:
    """Save a URL (JSON, with optional captured content) or upload a PDF (multipart field `file`)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "A multipart upload needs a `file` field with the PDF.")
            data = await upload.read()
            tags = [t for t in str(form.get("tags", "")).split(",") if t.strip()]
            result = items_service.save_uploaded_pdf(
                services.factory, services.settings, services.jobs, data, upload.filename or "",
                items_service.SaveRequest(tags=tags),
            )
        else:
            try:
                payload = ItemCreate.model_validate_json(await request.body())
            except ValueError as exc:
                from fastapi.exceptions import RequestValidationError

                errors = getattr(exc, "errors", lambda: [{"loc": ("body",), "msg": str(exc)}])()
                raise RequestValidationError([{**e, "loc": ("body", *e.get("loc", ()))} for e in errors]) from exc
            result = items_service.save_item(
                services.factory, services.jobs,
                items_service.SaveRequest(**payload.model_dump()),
            )
    except items_service.SaveError as exc:
        raise HTTPException(400, str(exc)) from exc
    if not result.created:
        if fail_on_duplicate:
            raise HTTPException(409, f"Already saved as item {result.item.id}.")
        response.status_code = 200
    return SaveOut(item=_item_out(session, result.item.id), created=result.created, queued=result.enqueued)


@router.get("/{item_id}", response_model=ItemOut, responses=ERRORS)
def get_item(item_id: int, user: ApiUser, session: SessionDep) -> ItemOut:
    """One item with its processing status."""
    return _item_out(session, item_id)


@router.post("/{item_id}/retry", response_model=ItemOut, responses=ERRORS)
def retry_item(item_id: int, user: ApiUser, services: ServicesDep, session: SessionDep) -> ItemOut:
    """Queue a failed item again."""
    if items_service.retry_item(services.factory, services.jobs, item_id) is None:
        raise HTTPException(404, "No such item.")
    return _item_out(session, item_id)
