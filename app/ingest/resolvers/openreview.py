"""OpenReview forums (openreview.net/forum?id=..., /pdf?id=...): the submission note from the API.

API v2 (``GET {openreview_api_url}/notes?id=<forum>``) answers ``{"notes": [{"id", "forum",
"content": {"title": {"value": ...}, "authors": {"value": [...]}, "abstract": {...}, "venue": {...},
"pdf": {"value": "/pdf/<sha>.pdf"}, ...}, "pdate": <ms>, "cdate": <ms>, ...}], "count": 1}``. Venues
from before 2023 live on API v1, whose content values are bare (``"title": "..."``); both shapes
are read, and when API v2 has no such note and its address is api2.*, API v1 at api.* is asked.
The PDF comes from the API's ``/pdf?id=<forum>``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from app.ingest.base import Identity, ResolveContext, Resolved, ResolveError
from app.ingest.http import FetchError

HOSTS = {"openreview.net", "www.openreview.net"}
_PATHS = {"/forum", "/pdf", "/attachment"}
_ID = re.compile(r"^[A-Za-z0-9_\-]{5,64}$")


def forum_id_of(url: str) -> str | None:
    """The forum id an OpenReview link names (``noteId`` points into the discussion: ignored)."""
    try:
        parts = urlsplit(url.strip() if "://" in url else "https://" + url.strip())
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in HOSTS or parts.path.rstrip("/") not in _PATHS:
        return None
    ids = parse_qs(parts.query).get("id") or []
    return ids[0] if ids and _ID.match(ids[0]) else None


def forum_url(forum_id: str) -> str:
    return f"https://openreview.net/forum?{urlencode({'id': forum_id})}"


class OpenReviewResolver:
    name = "openreview"

    def score(self, url: str) -> float:
        return 0.9 if forum_id_of(url) else 0.0

    def identify(self, url: str) -> Identity:
        forum_id = forum_id_of(url)
        if forum_id is None:
            raise ValueError(f"not an OpenReview forum: {url!r}")
        return Identity(canonical_url=forum_url(forum_id), kind="paper", site="OpenReview")

    def resolve(self, ctx: ResolveContext) -> Resolved:
        forum_id = forum_id_of(ctx.url)
        assert forum_id is not None
        api = ctx.settings.openreview_api_url.rstrip("/")
        note = _fetch_note(ctx, api, forum_id)
        if note is None and "://api2." in api:
            api = api.replace("://api2.", "://api.", 1)
            note = _fetch_note(ctx, api, forum_id)
        if note is None:
            raise ResolveError(f"OpenReview has no public submission {forum_id}", transient=False)
        resolved = resolved_from_note(note)
        if _value(note.get("content", {}), "pdf"):
            resolved.pdf_url = f"{api}/pdf?{urlencode({'id': note.get('forum') or forum_id})}"
        return resolved


def resolved_from_note(note: dict[str, Any]) -> Resolved:
    content = note.get("content") if isinstance(note.get("content"), dict) else {}
    authors = _value(content, "authors")
    venue = str(_value(content, "venue") or "")
    extra: dict[str, Any] = {
        key: value
        for key, value in {
            "openreview_id": note.get("forum") or note.get("id"),
            "venue": venue,
            "venueid": str(_value(content, "venueid") or ""),
            "keywords": [k for k in _value(content, "keywords") or [] if isinstance(k, str)],
            "tldr": str(_value(content, "TLDR") or _value(content, "TL;DR") or ""),
        }.items()
        if value
    }
    published = None
    for key in ("pdate", "odate", "cdate", "tcdate"):
        if isinstance(note.get(key), int | float):
            published = datetime.fromtimestamp(note[key] / 1000, tz=UTC).date()
            break
    return Resolved(
        kind="paper",
        title=" ".join(str(_value(content, "title") or "").split()),
        authors=[" ".join(a.split()) for a in authors if isinstance(a, str)] if isinstance(authors, list) else [],
        abstract=str(_value(content, "abstract") or "").strip(),
        site="OpenReview",
        published_at=published if isinstance(published, date) else None,
        extra=extra,
    )


def _value(content: dict[str, Any], key: str) -> Any:
    """API v2 wraps every field as {"value": ...}; API v1 does not."""
    value = content.get(key)
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _fetch_note(ctx: ResolveContext, api: str, forum_id: str) -> dict[str, Any] | None:
    try:
        response = ctx.http.get(f"{api}/notes?{urlencode({'id': forum_id})}",
                                headers={"Accept": "application/json"})  # fmt: skip
    except FetchError as exc:
        if re.search(r" answered (?:403|404) ", str(exc)):
            return None  # no such note, or not public
        raise
    try:
        answer = json.loads(response.content)
    except ValueError as exc:
        raise ResolveError("OpenReview's API answered something that is not JSON", transient=True) from exc
    notes = answer.get("notes") if isinstance(answer, dict) else None
    if not notes or not isinstance(notes[0], dict):
        return None
    return notes[0]
