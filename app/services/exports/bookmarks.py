"""The Netscape bookmark file every browser and bookmark manager imports, with TAGS and ADD_DATE."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from app.models import Item

HEADER = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file. It will be read and overwritten. DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
"""


def to_netscape(items: Sequence[Item]) -> str:
    lines = [HEADER]
    for item in items:
        if item.url.startswith("lectern:"):
            continue  # an uploaded PDF has no address to bookmark
        added = int(item.saved_at.timestamp()) if item.saved_at else 0
        tags = ",".join(t.name.replace(",", " ") for t in item.tags)
        attrs = f'HREF="{escape(item.url)}" ADD_DATE="{added}"'
        if tags:
            attrs += f' TAGS="{escape(tags)}"'
        if item.read_state != "read":
            attrs += ' TOREAD="1"'
        lines.append(f"    <DT><A {attrs}>{escape(item.title or item.url)}</A>\n")
        if item.abstract:
            lines.append(f"    <DD>{escape(' '.join(item.abstract.split()))}\n")
    lines.append("</DL><p>\n")
    return "".join(lines)
