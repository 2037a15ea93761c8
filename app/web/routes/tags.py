"""Tags: add and remove on an item (inline, with suggestions), and the tags page (rename, merge)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from app.repo import items as items_repo
from app.services import tags as tags_service
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep
from app.web.render import is_htmx, render

router = APIRouter(tags=["web: tags"])


def _item_tags(request: Request, services, item_id: int, *, error: str = "", status_code: int = 200):
    with services.factory() as session:
        item = items_repo.get_item(session, item_id, with_relations=True)
        if item is None:
            raise HTTPException(404, "No such item.")
        return render(request, "tags/_item_tags.html", {"item": item, "tag_error": error, "open_form": True},
                      status_code=status_code)


@router.post("/items/{item_id}/tags", dependencies=[CsrfProtected])
def add_tag(request: Request, item_id: int, user: CurrentUser, services: ServicesDep,
            name: Annotated[str, Form()] = ""):
    with services.factory() as session:
        if items_repo.get_item(session, item_id) is None:
            raise HTTPException(404, "No such item.")
    try:
        tags_service.tag_item(services.factory, services.jobs, item_id, name)
    except tags_service.TagError as exc:
        return _item_tags(request, services, item_id, error=str(exc), status_code=400)
    if not is_htmx(request):
        return RedirectResponse(f"/items/{item_id}", status_code=303)
    return _item_tags(request, services, item_id)


@router.post("/items/{item_id}/tags/{tag_id}/remove", dependencies=[CsrfProtected])
def remove_tag(request: Request, item_id: int, tag_id: int, user: CurrentUser, services: ServicesDep):
    tags_service.untag_item(services.factory, services.jobs, item_id, tag_id)
    if not is_htmx(request):
        return RedirectResponse(f"/items/{item_id}", status_code=303)
    return _item_tags(request, services, item_id)


@router.get("/tags/suggest")
def suggest(request: Request, user: CurrentUser, session: SessionDep, name: str = ""):
    return render(request, "tags/_options.html", {"suggestions": tags_service.suggest_tags(session, name)})


def _tags_page(request: Request, session, *, flash: str = "", error: str = "", status_code: int = 200):
    ctx = {"tag_counts": tags_service.tags_with_counts(session), "flash": flash, "error": error}
    return render(request, "tags/page.html", ctx, fragment="tags/_list.html", status_code=status_code)


@router.get("/tags")
def tags_page(request: Request, user: CurrentUser, session: SessionDep):
    return _tags_page(request, session)


def _change_tag(request: Request, services, session, tag_id: int, change, name: str, *, done: str):
    """Rename or merge a tag (change is the service function); the tags page saying
    "<done> “name”." (a redirect to it without HTMX), or with the error the service gave."""
    try:
        tag = change(services.factory, services.jobs, tag_id, name)
    except tags_service.TagError as exc:
        return _tags_page(request, session, error=str(exc), status_code=400)
    if not is_htmx(request):
        return RedirectResponse("/tags", status_code=303)
    return _tags_page(request, session, flash=f"{done} “{tag.name}”.")


@router.post("/tags/{tag_id}/rename", dependencies=[CsrfProtected])
def rename(request: Request, tag_id: int, user: CurrentUser, services: ServicesDep, session: SessionDep,
           name: Annotated[str, Form()] = ""):
    return _change_tag(request, services, session, tag_id, tags_service.rename_tag, name, done="Now")


@router.post("/tags/{tag_id}/merge", dependencies=[CsrfProtected])
def merge(request: Request, tag_id: int, user: CurrentUser, services: ServicesDep, session: SessionDep,
          into: Annotated[str, Form()] = ""):
    return _change_tag(request, services, session, tag_id, tags_service.merge_into_name, into, done="Merged into")
