"""Tags in the JSON API: list with counts, rename, merge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from app.api.deps import ApiUser
from app.api.schemas import ErrorOut, TagCountOut, TagMerge, TagRename
from app.repo import tags as tags_repo
from app.services import tags as tags_service
from app.web.deps import ServicesDep, SessionDep

router = APIRouter(prefix="/tags", tags=["tags"])
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 404, 422)}
TagId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A tag id.")]


def _count_of(session, tag_id: int) -> TagCountOut:
    for tc in tags_service.tags_with_counts(session):
        if tc.tag.id == tag_id:
            return TagCountOut(id=tc.tag.id, name=tc.tag.name, count=tc.count)
    raise HTTPException(404, "No such tag.")


@router.get("", response_model=list[TagCountOut], responses=ERRORS)
def list_tags(user: ApiUser, session: SessionDep) -> list[TagCountOut]:
    """Every tag with the number of items that carry it, by name."""
    return [TagCountOut(id=tc.tag.id, name=tc.tag.name, count=tc.count) for tc in tags_service.tags_with_counts(session)]


@router.post("/{tag_id}/rename", response_model=TagCountOut, responses=ERRORS)
def rename_tag(tag_id: TagId, body: TagRename, user: ApiUser, services: ServicesDep, session: SessionDep) -> TagCountOut:
    """Rename a tag; renaming onto an existing tag's name merges the two (the answer is the survivor)."""
    if tags_repo.get_tag(session, tag_id) is None:
        raise HTTPException(404, "No such tag.")
    try:
        tag = tags_service.rename_tag(services.factory, services.jobs, tag_id, body.name)
    except tags_service.TagError as exc:
        raise HTTPException(400, str(exc)) from exc
    session.expire_all()
    return _count_of(session, tag.id)


@router.post("/{tag_id}/merge", response_model=TagCountOut, responses=ERRORS)
def merge_tags(tag_id: TagId, body: TagMerge, user: ApiUser, services: ServicesDep, session: SessionDep) -> TagCountOut:
    """Move the items of ``source_ids`` onto this tag and delete those tags."""
    missing = [i for i in [tag_id, *body.source_ids] if not (1 <= i < 2**31) or tags_repo.get_tag(session, i) is None]
    if missing:
        raise HTTPException(404, f"No such tag: {missing[0]}.")
    try:
        tag = tags_service.merge_tags(services.factory, services.jobs, body.source_ids, tag_id)
    except tags_service.TagError as exc:
        raise HTTPException(400, str(exc)) from exc
    session.expire_all()
    return _count_of(session, tag.id)
