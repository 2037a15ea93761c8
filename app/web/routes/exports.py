"""Downloads (BibTeX, bookmarks, Markdown, backup) and the Atom feed of a tag."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from app.repo import exports as exports_repo
from app.repo import tags as tags_repo
from app.services import auth as auth_service
from app.services.exports import FORMATS, export_library
from app.services.exports.atom import tag_feed
from app.web.deps import SESSION_COOKIE, CurrentUser, ServicesDep, SessionDep
from app.web.render import render

router = APIRouter(tags=["web: exports"])


@router.get("/exports")
def exports_page(request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep):
    tags = [t for t, _ in tags_repo.list_tags_with_counts(session)]
    return render(request, "exports/page.html", {"tags": tags, "feeds_public": services.settings.feeds_public})


@router.get("/exports/{fmt}")
def download(
    fmt: str, user: CurrentUser, services: ServicesDep, tag: str | None = None,
    item: list[int] = Query(default_factory=list, description="Only these item ids."),
):
    if fmt not in FORMATS:
        raise HTTPException(404, "No such export.")
    ids = [i for i in item if 0 < i < 2**31] or None
    result = export_library(services.factory, services.settings, fmt, tag=tag or None, item_ids=ids)
    return Response(result.data, media_type=result.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{result.filename}"'})


@router.get("/feeds/tags/{tag_name:path}.atom")
def tag_atom(tag_name: str, request: Request, services: ServicesDep, session: SessionDep):
    """The tag's Atom feed: public when LECTERN_FEEDS_PUBLIC is on, otherwise for the logged-in owner."""
    if not services.settings.feeds_public:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if not cookie or auth_service.user_for_web_session(session, cookie) is None:
            raise HTTPException(404, "No such feed.")  # do not reveal which tags exist
    tag = tags_repo.get_tag_by_name(session, tag_name)
    if tag is None:
        raise HTTPException(404, "No such feed.")
    items = exports_repo.items_for_export(session, tag=tag.name)
    body = tag_feed(tag.name, items, str(request.base_url))
    return Response(body, media_type="application/atom+xml; charset=utf-8")
