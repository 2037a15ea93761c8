"""One helper decides full page or fragment (from the HX-Request header)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from app.web.filters import install_filters

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
# Templates are read once per process (no stat() of every template file on every render).
templates.env.auto_reload = False
install_filters(templates.env)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    page: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``page``; an HTMX request gets only ``fragment`` (the file the page includes)."""
    ctx = {"request": request, "csrf_token": getattr(request.state, "csrf_token", ""), **(context or {})}
    name = fragment if fragment and is_htmx(request) else page
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
