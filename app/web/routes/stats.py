"""The reading page: items saved and read per week (an SVG drawn here) and the most used tags."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.services.library import reading_stats
from app.web.deps import CurrentUser, SessionDep
from app.web.render import render

router = APIRouter(tags=["web: stats"])


@router.get("/stats")
def stats(request: Request, user: CurrentUser, session: SessionDep):
    return render(request, "stats/page.html", {"stats": reading_stats(session)})
