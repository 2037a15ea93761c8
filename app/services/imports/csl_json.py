"""CSL-JSON (the citation-style-language data format Zotero, Mendeley and pandoc read and write):
a JSON array of items with ``type``, ``title``, ``author`` [{family, given} | {literal}],
``issued`` {"date-parts": [[y, m, d]]}, ``DOI``, ``URL``, ``abstract``, ``container-title``,
``keyword`` ("a, b") and, for preprints, the arXiv id in ``number`` or ``note``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date

from app.ingest.canonical import normalize_arxiv_id
from app.services.imports.base import Entry, Skipped, UnreadableFile, decode_text, short
from app.services.imports.bibtex import ARXIV_IN_TEXT


def _text(value) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return " ".join(str(value).split()) if isinstance(value, str | int | float) else ""


def _names(value) -> list[str]:
    out = []
    for person in value if isinstance(value, list) else []:
        if not isinstance(person, dict):
            continue
        name = person.get("literal") or " ".join(
            str(p) for p in (person.get("given"), person.get("non-dropping-particle"), person.get("family")) if p
        )
        if str(name).strip():
            out.append(" ".join(str(name).split()))
    return out


def _issued(value) -> date | None:
    if not isinstance(value, dict):
        return None
    parts = value.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        try:
            nums = [int(p) for p in parts[0][:3]]
            return date(nums[0], *(nums[1:] + [1, 1])[:2])
        except (TypeError, ValueError):
            pass
    raw = value.get("raw") or value.get("literal")
    if isinstance(raw, str) and (m := re.match(r"\s*(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", raw)):
        try:
            return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
        except ValueError:
            return None
    return None


def entry_of(obj: dict, index: int) -> Entry | Skipped:
    label = _text(obj.get("id")) or f"item {index + 1}"
    title = _text(obj.get("title"))
    doi = _text(obj.get("DOI")).lower() or None
    if doi:
        doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", doi)
    url = _text(obj.get("URL"))
    arxiv_id = None
    for name in ("number", "note", "URL", "container-title", "publisher"):
        m = ARXIV_IN_TEXT.search(_text(obj.get(name)))
        if m and (parsed := normalize_arxiv_id(m.group(1))):
            arxiv_id = parsed[0]
            break
    ref = f"arXiv:{arxiv_id}" if arxiv_id else (doi or url)
    if not (title or ref):
        return Skipped(entry=label, reason="no title, DOI, arXiv id or URL")
    keywords = obj.get("keyword", "")
    tags = keywords if isinstance(keywords, list) else re.split(r"[,;]", str(keywords))
    venue = _text(obj.get("container-title"))
    extra = {k: v for k, v in (("citation_key", _text(obj.get("citation-key")) or label), ("venue", venue),
                                ("csl_type", _text(obj.get("type")))) if v}
    if url and ref != url:
        extra["url"] = url
    return Entry(
        ref=ref, label=label, kind="paper", title=title, authors=_names(obj.get("author")),
        abstract=_text(obj.get("abstract")), published_at=_issued(obj.get("issued")),
        tags=[" ".join(str(t).split()) for t in tags if str(t).strip()], doi=doi, arxiv_id=arxiv_id, extra=extra,
        pdf_paths=[p for p in [_text(obj.get("file"))] if p.lower().endswith(".pdf")],
    )


class CslJsonImporter:
    name = "csl-json"
    label = "CSL-JSON (Zotero, Mendeley, pandoc)"
    suffixes = (".json",)

    def parse(self, data: bytes) -> Iterator[Entry | Skipped]:
        try:
            doc = json.loads(decode_text(data))
        except json.JSONDecodeError as exc:
            raise UnreadableFile(f"not JSON: {exc}") from exc
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            doc = doc["items"]
        if not isinstance(doc, list):
            raise UnreadableFile("CSL-JSON is an array of items")
        for i, obj in enumerate(doc):
            if not isinstance(obj, dict):
                yield Skipped(entry=f"item {i + 1}", reason=f"not an object: {short(json.dumps(obj), 40)}")
                continue
            yield entry_of(obj, i)
