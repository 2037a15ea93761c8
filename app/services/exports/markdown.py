"""Markdown for Obsidian and plain-text people: one file per item with YAML front matter, its
abstract or text, and its note thread (replies indented), in a zip."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Sequence

from app.models import Item, Note


def slug(text: str, limit: int = 60) -> str:
    s = re.sub(r"[^\w\s-]", "", text.lower(), flags=re.UNICODE)
    s = re.sub(r"[\s_-]+", "-", s).strip("-")
    return s[:limit].strip("-") or "item"


def _yaml(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON scalar or list is valid YAML


def _thread(notes: Sequence[Note]) -> list[str]:
    children: dict[int | None, list[Note]] = {}
    ids = {n.id for n in notes}
    for n in notes:
        children.setdefault(n.parent_id if n.parent_id in ids else None, []).append(n)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for n in children.get(parent, []):
            pad = "    " * depth
            when = n.created_at.strftime("%Y-%m-%d %H:%M")
            body = "*(deleted)*" if n.deleted_at else n.body
            text_lines = body.splitlines() or [""]
            lines.append(f"{pad}- **{when}**{' (edited)' if n.edited_at else ''}")
            lines.extend(f"{pad}  {line}".rstrip() for line in text_lines)
            walk(n.id, depth + 1)

    walk(None, 0)
    return lines


def item_markdown(item: Item, notes: Sequence[Note]) -> str:
    front = {
        "title": item.title or item.url, "url": item.url, "kind": item.kind, "authors": list(item.authors or []),
        "tags": [t.name for t in item.tags], "saved": item.saved_at.isoformat() if item.saved_at else None,
        "published": item.published_at.isoformat() if item.published_at else None, "doi": item.doi,
        "arxiv": item.arxiv_id, "read_state": item.read_state, "starred": bool(item.starred), "lectern_id": item.id,
    }
    out = ["---", *(f"{k}: {_yaml(v)}" for k, v in front.items() if v not in (None, [], "")), "---", "",
           f"# {item.title or item.url}", ""]
    if item.abstract:
        out += [item.abstract, ""]
    elif item.text:
        out += [item.text, ""]
    if notes:
        out += ["## Notes", "", *_thread(notes), ""]
    return "\n".join(out)


def to_markdown_zip(items: Sequence[Item], notes: dict[int, list[Note]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in items:
            zf.writestr(f"lectern/{item.id}-{slug(item.title or item.url)}.md", item_markdown(item, notes.get(item.id, [])))
    return buf.getvalue()
