"""The search page; HTMX asks for the results fragment as the user types."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.services.search import search_library
from app.web.deps import CurrentUser, ServicesDep, SessionDep
from app.web.render import render

router = APIRouter(tags=["web: search"])


@router.get("/search")
def search_page(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    session: SessionDep,
    q: str = "",
    sort: str = "relevance",
    page: int = 1,
):
    result = search_library(session, services.search, q, sort=sort, page=page)
    status = 503 if result.unavailable else 200
    return render(request, "search/page.html", {"result": result, "q": q, "sort": sort},
                  fragment="search/_results.html", status_code=status)
