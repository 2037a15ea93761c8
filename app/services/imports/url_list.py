"""A plain list: one URL, arXiv id (``2502.09992``, ``arXiv:hep-th/9901001``) or DOI per line;
blank lines and lines starting with ``#`` are ignored."""

from __future__ import annotations

from collections.abc import Iterator

from app.ingest.registry import identify_url
from app.services.imports.base import Entry, Skipped, decode_text, short


class UrlListImporter:
    name = "urls"
    label = "A list of URLs, arXiv ids or DOIs, one per line"
    suffixes = (".txt", ".list")

    def parse(self, data: bytes) -> Iterator[Entry | Skipped]:
        for n, line in enumerate(decode_text(data).splitlines(), start=1):
            ref = line.strip()
            if not ref or ref.startswith("#"):
                continue
            try:
                identify_url(ref)
            except ValueError as exc:
                yield Skipped(entry=f"line {n}: {short(ref, 60)}", reason=str(exc))
                continue
            yield Entry(ref=ref, label=f"line {n}")
