"""An Atom feed (RFC 4287) of the items carrying a tag, newest saved first, so a reading list can be shared."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from app.models import Item

FEED_SIZE = 100


def tag_feed(tag_name: str, items: Sequence[Item], base_url: str) -> str:
    base = base_url.rstrip("/")
    items = sorted(items, key=lambda i: (i.saved_at, i.id), reverse=True)[:FEED_SIZE]
    updated = max((i.updated_at or i.saved_at for i in items), default=datetime(2000, 1, 1, tzinfo=UTC))
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"  <title>{escape(f'Lectern: {tag_name}')}</title>",
        f"  <id>{escape(f'{base}/feeds/tags/{tag_name}.atom')}</id>",
        f"  <link rel=\"self\" href={quoteattr(f'{base}/feeds/tags/{tag_name}.atom')}/>",
        f"  <updated>{updated.astimezone(UTC).isoformat()}</updated>",
        "  <author><name>Lectern</name></author>",
    ]
    for item in items:
        link = item.url if not item.url.startswith("lectern:") else f"{base}/items/{item.id}"
        out += [
            "  <entry>",
            f"    <title>{escape(item.title or item.url)}</title>",
            f"    <id>{escape(f'{base}/items/{item.id}')}</id>",
            f"    <link href={quoteattr(link)}/>",
            f"    <updated>{(item.updated_at or item.saved_at).astimezone(UTC).isoformat()}</updated>",
            f"    <published>{item.saved_at.astimezone(UTC).isoformat()}</published>",
            *(f"    <author><name>{escape(a)}</name></author>" for a in (item.authors or [])[:20]),
            *(f"    <category term={quoteattr(t.name)}/>" for t in item.tags),
            *([f"    <summary>{escape(item.abstract or item.text[:2000])}</summary>"] if (item.abstract or item.text) else []),
            "  </entry>",
        ]
    out.append("</feed>")
    return "\n".join(out) + "\n"
