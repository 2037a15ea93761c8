"""Netscape bookmark files (``<!DOCTYPE NETSCAPE-Bookmark-file-1>``), as browsers, Linkding,
Karakeep, Pinboard and Pocket export them: ``<DT><A HREF=".." ADD_DATE="1700000000" TAGS="a,b">Title</A>``
optionally followed by ``<DD>description``. Folders (``<H3>``) are kept in ``extra["folder"]``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser

from app.services.imports.base import Entry, Skipped, UnreadableFile, decode_text, short


def _epoch(value: str | None) -> datetime | None:
    if not value or not value.strip().isdigit():
        return None
    seconds = int(value.strip())
    if seconds > 10**14:  # microseconds (some exporters)
        seconds //= 10**6
    elif seconds > 10**11:  # milliseconds
        seconds //= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[Entry | Skipped] = []
        self.folders: list[str] = []
        self.pending_folder: str | None = None
        self.in_h3 = False
        self.anchor: dict | None = None
        self.last: Entry | None = None
        self.in_dd = False
        self.seen_netscape = False

    def handle_decl(self, decl: str) -> None:
        if "netscape" in decl.lower():
            self.seen_netscape = True

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "h3":
            self.in_h3, self.pending_folder = True, ""
        elif tag == "dl":
            if self.pending_folder is not None:
                self.folders.append(self.pending_folder)
                self.pending_folder = None
            else:
                self.folders.append("")
        elif tag == "a":
            self.anchor = {"attrs": a, "text": ""}
            self.in_dd = False
        elif tag == "dd":
            self.in_dd = self.last is not None
        elif tag == "dt":
            self.in_dd = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3":
            self.in_h3 = False
        elif tag == "dl":
            if self.folders:
                self.folders.pop()
            self.in_dd = False
        elif tag == "a" and self.anchor is not None:
            self._finish_anchor()

    def handle_data(self, data: str) -> None:
        if self.in_h3 and self.pending_folder is not None:
            self.pending_folder += data
        elif self.anchor is not None:
            self.anchor["text"] += data
        elif self.in_dd and self.last is not None and data.strip():
            desc = (self.last.extra.get("description", "") + " " + data).strip()
            self.last.extra["description"] = " ".join(desc.split())

    def _finish_anchor(self) -> None:
        a, title = self.anchor["attrs"], " ".join(self.anchor["text"].split())
        self.anchor = None
        href = a.get("href", "").strip()
        label = short(title or href or "(a bookmark without a link)", 60)
        if not href:
            self.out.append(Skipped(entry=label, reason="no HREF"))
            return
        if href.lower().startswith(("place:", "javascript:", "data:", "chrome:", "about:", "file:")):
            self.out.append(Skipped(entry=label, reason=f"not a web page ({href.split(':', 1)[0]}: link)"))
            return
        tags = [t.strip() for t in a.get("tags", "").split(",") if t.strip()]
        extra: dict = {}
        folder = "/".join(f.strip() for f in self.folders if f.strip())
        if folder:
            extra["folder"] = folder
        if a.get("private") == "1":
            extra["private"] = True
        if a.get("toread") == "1":
            extra["to_read"] = True
        entry = Entry(ref=href, label=label, title=title if title != href else "", tags=tags,
                      saved_at=_epoch(a.get("add_date")), extra=extra)
        self.last = entry
        self.out.append(entry)


class BookmarksImporter:
    name = "bookmarks"
    label = "Bookmarks HTML (browsers, Linkding, Karakeep, Pinboard, Pocket)"
    suffixes = (".html", ".htm")

    def parse(self, data: bytes) -> Iterator[Entry | Skipped]:
        text = decode_text(data)
        parser = _Parser()
        parser.feed(text)
        parser.close()
        if parser.anchor is not None:
            parser._finish_anchor()
        if not parser.out and not parser.seen_netscape and "<a" not in text.lower():
            raise UnreadableFile("not a bookmarks file (no NETSCAPE-Bookmark-file doctype and no links)")
        for entry in parser.out:
            if isinstance(entry, Entry) and entry.extra.get("description"):
                entry.abstract = entry.extra["description"]
            yield entry
