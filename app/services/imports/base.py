"""The one interface every import format implements, and the values it yields.

An importer turns a file's bytes into ``Entry`` values (what an item should be) and ``Skipped``
values (an entry it could not read, with the reason); it never touches the database and never
raises for one bad entry. ``app.services.imports.run`` turns entries into items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol


class UnreadableFile(ValueError):
    """The whole file cannot be read (not this format, not UTF-8, unsafe zip ...)."""


@dataclass(slots=True)
class Entry:
    """One thing to import. ``ref`` is a URL, an arXiv id or a DOI (what identify_url accepts);
    empty when the file names none (then title, year and authors identify the entry)."""

    ref: str = ""
    label: str = ""  # how the summary names the entry: a citation key, a title, a line number
    kind: str | None = None
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    text: str = ""  # a tweet's text
    published_at: date | None = None
    saved_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    doi: str | None = None
    arxiv_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # venue, citation key, description ...
    pdf_paths: list[str] = field(default_factory=list)  # files named by the entry (inside a zip upload)


@dataclass(slots=True)
class Skipped:
    entry: str
    reason: str


class Importer(Protocol):
    name: str  # the FORMAT of `lectern import FORMAT FILE`
    label: str  # shown on the import page
    suffixes: tuple[str, ...]  # which file inside a zip upload is the document

    def parse(self, data: bytes) -> Iterator[Entry | Skipped]: ...


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), falling back to Latin-1 so an old export still reads."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
