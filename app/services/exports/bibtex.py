"""BibTeX for papers, with stable citation keys (``nie2025large``: first author's family name, year,
first significant title word; an imported key is kept). The output reads back through
app.services.imports.bibtex to the same papers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from app.models import Item

STOPWORDS = {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "from", "at", "by", "is", "are",
             "towards", "toward", "via", "how", "what", "why", "when", "do", "does", "can"}
_SPECIAL = str.maketrans({"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                          "\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"})


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def citation_key(item: Item) -> str:
    kept = (item.extra or {}).get("citation_key")
    if isinstance(kept, str) and re.fullmatch(r"[\w\-:.+/]+", kept):
        return kept
    family = item.authors[0].split()[-1] if item.authors else ""
    family = re.sub(r"[^a-z]", "", _ascii(family)) or "anon"
    year = str(item.published_at.year) if item.published_at else "nd"
    words = [re.sub(r"[^a-z0-9]", "", _ascii(w)) for w in (item.title or "").split()]
    word = next((w for w in words if w and w not in STOPWORDS), "")
    return f"{family}{year}{word}"


def _escape(value: str) -> str:
    return " ".join(value.translate(_SPECIAL).split())


def _author(name: str) -> str:
    parts = name.split()
    if len(parts) < 2:
        return "{" + _escape(name) + "}"
    return f"{_escape(parts[-1])}, {_escape(' '.join(parts[:-1]))}"


def entry(item: Item, key: str) -> str:
    extra = item.extra or {}
    fields: list[tuple[str, str]] = [("title", _escape(item.title or item.url))]
    if item.authors:
        fields.append(("author", " and ".join(_author(a) for a in item.authors)))
    if item.published_at:
        fields += [("year", str(item.published_at.year)), ("date", item.published_at.isoformat())]
    venue = extra.get("venue") if isinstance(extra.get("venue"), str) else ""
    kind = extra.get("bibtex_type") if isinstance(extra.get("bibtex_type"), str) else ""
    if not kind:
        kind = "misc" if item.arxiv_id and not venue else ("article" if venue else "misc")
    if venue:
        fields.append(("booktitle" if kind == "inproceedings" else "journal", _escape(venue)))
    if item.doi:
        fields.append(("doi", item.doi))
    if item.arxiv_id:
        fields += [("eprint", item.arxiv_id), ("archiveprefix", "arXiv")]
    if item.url and not item.url.startswith("lectern:"):
        fields.append(("url", item.url))
    if item.abstract:
        fields.append(("abstract", _escape(item.abstract)))
    if item.tags:
        fields.append(("keywords", ", ".join(_escape(t.name) for t in item.tags)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{re.sub(r'[^a-z]', '', kind.lower()) or 'misc'}{{{key},\n{body}\n}}\n"


def to_bibtex(items: Sequence[Item]) -> str:
    """One entry per item; keys made unique by a, b, c ... in item order (oldest saved first)."""
    used: dict[str, int] = {}
    out = []
    for item in sorted(items, key=lambda i: i.id):
        key = citation_key(item)
        n = used.get(key, 0)
        used[key] = n + 1
        if n:
            key += chr(ord("a") + (n - 1) % 26) * (1 + (n - 1) // 26)
        out.append(entry(item, key))
    return "\n".join(out)
