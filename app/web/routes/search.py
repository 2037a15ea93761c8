"""The search page; HTMX asks for the results fragment as the user types. Saved searches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from app.main import Services
from app.repo import saved_searches as saved_repo
from app.services.search import (
    SavedSearchError,
    count_library,
    facet_links,
    save_search,
    search_library,
)
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep, current_user
from app.web.render import is_htmx, render

router = APIRouter(tags=["web: search"])
SORT_LABELS = {"relevance": "Best match", "saved": "Recently saved", "published": "Recently published"}


@router.get("/search")
async def search_page(
    request: Request,
    services: ServicesDep,
    q: str = "",
    sort: str = "relevance",
    page: int = 1,
):
    """The search page, or its results fragment as the user types (HTMX). Logged-in only: the
    login check (current_user) runs in the same trip through the thread pool as the search rather
    than in a trip of its own before it, as a sync dependency would (0.25-0.3 ms each here). The
    database session is made and closed in that trip too, not by SessionDep, whose setup and
    teardown FastAPI runs around the route as a dependency with a yield."""
    return await run_in_threadpool(_search_page, request, services, q[:500], sort, page)


def _search_page(request: Request, services: Services, q: str, sort: str, page: int):
    session = services.factory()
    try:
        current_user(request, services, session)
        # As the user types (HTMX), the hits come first: an engine that counts in a second round
        # trip (Meilisearch) leaves the count and facets to /search/counts, which the fragment loads.
        result = search_library(session, services.search, q, sort=sort, page=max(1, min(page, 1000)),
                                count_later=is_htmx(request))
        ctx = {
            "result": result,
            "q": q,
            "sort": sort if sort in SORT_LABELS else "relevance",
            "sort_labels": SORT_LABELS,
            "facets": facet_links(q, result.facets),
        }
        status = 503 if result.unavailable else 200
        return render(request, "search/page.html", ctx, fragment="search/_results.html", status_code=status)
    finally:
        session.close()  # the page is rendered: its rows are plain data


@router.get("/search/counts")
def search_counts(request: Request, user: CurrentUser, services: ServicesDep, q: str = "",
                  sort: str = "relevance", matched: str = ""):
    """The count and facets of a search whose results fragment came without them. ``matched``
    is a hint from that fragment; a missing or malformed one costs the engine a search, no more."""
    q = q[:500]
    hint = int(matched) if matched.isascii() and matched.isdigit() and len(matched) < 10 else None
    result = count_library(services.search, q, sort=sort, matched=hint)
    ctx = {"result": result, "q": q, "sort": sort if sort in SORT_LABELS else "relevance",
           "facets": facet_links(q, result.facets)}
    return render(request, "search/_counts.html", ctx, status_code=503 if result.unavailable else 200)


@router.get("/search/saved")
def saved_searches(request: Request, user: CurrentUser, session: SessionDep):
    return render(request, "search/_saved.html", {"saved": saved_repo.list_saved_searches(session, pinned_only=True)})


@router.post("/search/saved", dependencies=[CsrfProtected])
def create_saved_search(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    sort: Annotated[str, Form()] = "relevance",
):
    try:
        save_search(session, name, q, sort)
    except SavedSearchError as exc:
        if is_htmx(request):
            return render(request, "search/_saved.html",
                          {"saved": saved_repo.list_saved_searches(session, pinned_only=True), "error": str(exc)},
                          status_code=400)
        raise HTTPException(400, str(exc)) from exc
    if is_htmx(request):
        response = render(request, "search/_saved.html",
                          {"saved": saved_repo.list_saved_searches(session, pinned_only=True)})
        return response
    return RedirectResponse(f"/search?q={q}", status_code=303)


@router.post("/search/saved/{search_id}/delete", dependencies=[CsrfProtected])
def delete_saved_search(request: Request, search_id: int, user: CurrentUser, session: SessionDep):
    saved = saved_repo.get_saved_search(session, search_id)
    if saved is None:
        raise HTTPException(404, "No such saved search.")
    saved_repo.delete_saved_search(session, saved)
    session.commit()
    if is_htmx(request):
        return render(request, "search/_saved.html", {"saved": saved_repo.list_saved_searches(session, pinned_only=True)})
    return RedirectResponse("/search", status_code=303)
