"""The bookmarklet: its settings section, the capture popup, tag suggestions and saving from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from app.models import ItemKind
from app.repo import items as items_repo
from app.repo import notes as notes_repo
from app.services import capture as capture_service
from app.services import items as items_service
from app.web.deps import CsrfProtected, CurrentUser, ServicesDep, SessionDep
from app.web.render import render

router = APIRouter(tags=["web: capture"])
KINDS = [k.value for k in ItemKind]
CAPTURE_FIELD_MAX = 8 * 1024 * 1024


def _section_context(request: Request) -> dict:
    return {"bookmarklet_href": capture_service.bookmarklet_href(str(request.base_url))}


@router.get("/settings/bookmarklet")
def bookmarklet_settings(request: Request, user: CurrentUser):
    return render(request, "bookmarklet/page.html", {**_section_context(request), "nav": "settings"})


def _popup(request: Request, session, form: dict, *, error: str = "", status_code: int = 200):
    ctx = {
        "form": form,
        "kinds": KINDS,
        "error": error,
        "tag_options": capture_service.suggest_tags(session, form.get("tags", "")),
    }
    return render(request, "bookmarklet/popup.html", ctx, status_code=status_code)


@router.get("/capture/popup")
def popup(request: Request, user: CurrentUser, session: SessionDep, url: str = "", title: str = "",
          kind: str = ""):
    form = {"url": url, "title": title[:1000], "kind": capture_service.guess_kind(url, kind) if url else "link"}
    return _popup(request, session, form)


@router.get("/capture/tags")
def tag_options(request: Request, user: CurrentUser, session: SessionDep, tags: str = ""):
    """The tag box's suggestions (an HTMX swap of the datalist; a plain GET shows the same list)."""
    options = capture_service.suggest_tags(session, tags)
    return render(request, "bookmarklet/_tag_options.html", {"tag_options": options})


# A page's captured HTML and text can pass Starlette's 1 MB default for one form field; the request
# as a whole stays under LECTERN_UPLOAD_MAX_BYTES (the middleware refuses more before parsing).
@router.post("/capture/save", dependencies=[CsrfProtected], form_limits={"max_part_size": CAPTURE_FIELD_MAX})
def save(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    session: SessionDep,
    url: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    selection: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    html: Annotated[str, Form()] = "",
    extra: Annotated[str, Form()] = "",
):
    # A browser sends a form's line breaks as CRLF; what was captured had plain newlines.
    note, selection, text, html = (capture_service.plain_newlines(v) for v in (note, selection, text, html))
    form = {"url": url, "title": title, "kind": kind, "tags": tags, "note": note,
            "selection": selection, "text": text, "html": html, "extra": extra}
    try:
        req = items_service.SaveRequest(
            url=url, title=title.strip(), kind=kind if kind in KINDS else None, text=text, html=html,
            selection=selection, tags=capture_service.parse_tags(tags), note=note,
            extra=capture_service.parse_extra(extra),
        )
        result = items_service.save_item(services.factory, services.jobs, req)
    except (items_service.SaveError, capture_service.CaptureError) as exc:
        return _popup(request, session, form, error=str(exc), status_code=400)
    return RedirectResponse(
        f"/capture/saved/{result.item.id}?new={1 if result.created else 0}", status_code=303
    )


@router.get("/capture/saved/{item_id}")
def saved(request: Request, item_id: int, user: CurrentUser, session: SessionDep, new: int = 1):
    item = items_repo.get_item(session, item_id, with_relations=True)
    if item is None:
        raise HTTPException(404, "No such item.")
    ctx = {
        "item": item,
        "created": bool(new),
        "offers": capture_service.paper_offers(session, item),
        "note_count": len(notes_repo.note_bodies_of_item(session, item.id)),
    }
    return render(request, "bookmarklet/saved.html", ctx)


@router.get("/capture/offers/{item_id}")
def offers(request: Request, item_id: int, user: CurrentUser, session: SessionDep):
    """The papers a tweet links to, with a button to save each (a fragment for the item page)."""
    item = items_repo.get_item(session, item_id)
    if item is None:
        raise HTTPException(404, "No such item.")
    ctx = {"item": item, "offers": capture_service.paper_offers(session, item)}
    return render(request, "bookmarklet/_paper_offers.html", ctx)
