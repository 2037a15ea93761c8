"""Jinja filters shared by every template."""

from __future__ import annotations

from datetime import UTC, date, datetime

from jinja2 import Environment

STATUS_LABELS = {
    "queued": "Queued",
    "fetching": "Fetching",
    "extracting": "Extracting text",
    "indexing": "Indexing",
    "ready": "Ready",
    "failed": "Failed",
}
KIND_ICONS = {"paper": "📄", "tweet": "🐦", "post": "📝", "link": "🔗"}


def human_date(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.isoformat()


def human_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def authors_short(authors: list[str] | None, limit: int = 3) -> str:
    if not authors:
        return ""
    shown = ", ".join(authors[:limit])
    return shown + (" et al." if len(authors) > limit else "")


def safe_href(url: str | None) -> str:
    """A link target only if it is http(s); anything else (javascript:, data: ...) becomes "#"."""
    value = (url or "").strip()
    return value if value.lower().startswith(("http://", "https://")) else "#"


def install_filters(env: Environment) -> None:
    env.filters["safe_href"] = safe_href
    env.filters["human_date"] = human_date
    env.filters["authors_short"] = authors_short
    env.filters["human_datetime"] = human_datetime
    env.globals["STATUS_LABELS"] = STATUS_LABELS
    env.globals["KIND_ICONS"] = KIND_ICONS
    env.globals["FINAL_STATUSES"] = ("ready", "failed")
