"""Search in the JSON API."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from app.api.deps import ApiUser
from app.api.schemas import ErrorOut, SearchHitOut, SearchOut
from app.services.search import search_library
from app.web.deps import ServicesDep, SessionDep

router = APIRouter(prefix="/search", tags=["search"])


@router.get("", response_model=SearchOut, responses={401: {"model": ErrorOut}, 503: {"model": ErrorOut}})
def search(
    user: ApiUser,
    services: ServicesDep,
    session: SessionDep,
    q: str = Query("", max_length=500),
    sort: str = Query("relevance", pattern="^(relevance|saved|published)$"),
    page: int = Query(1, ge=1, le=10_000),
    page_size: int = Query(20, ge=1, le=100),
) -> SearchOut:
    """Full-text search with the query syntax of the search page (tag:, kind:, is:, year:, author:, "..", -word)."""
    result = search_library(session, services.search, q, sort=sort, page=page, page_size=page_size)
    if result.unavailable:
        raise HTTPException(503, "Search is unavailable right now; saving still works.")
    hits = [
        SearchHitOut(item_id=r.item.id, kind=r.item.kind, title=r.item.title, title_html=r.hit.title_html,
                     snippet_html=r.hit.snippet_html, page=r.hit.page, url=r.item.url)
        for r in result.rows
    ]
    return SearchOut(query=q, total=result.total, hits=hits, facets=result.facets)
