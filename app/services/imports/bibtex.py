"""BibTeX (.bib) as Zotero, Google Scholar, arXiv, JabRef and Mendeley export it.

A small parser written for this (bibtexparser 1.x is slow on 10,000 entries and 2.x is a beta):
``@type{key, field = {braced} # "quoted" # macro, ...}`` with ``@string`` macros, ``@comment`` and
``@preamble`` ignored, nested braces, and LaTeX accents turned into Unicode. A malformed entry is
reported and the parser carries on at the next ``@`` that starts a line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import date

from app.ingest.canonical import arxiv_id_of_doi, normalize_arxiv_id
from app.services.imports.base import Entry, Skipped, decode_text, short

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
DEFAULT_MACROS = {m: str(i) for m, i in MONTHS.items()}
_IDENT = re.compile(r"[A-Za-z][\w\-:.+]*")
_KEY = re.compile(r"[^,\s{}()=\"#%'~]+")
_FIELD = re.compile(r"[A-Za-z_][\w\-:.+]*")
_ENTRY_START = re.compile(r"^[ \t]*@", re.M)
_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
            ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
            "r": "\u030a"}
_SYMBOLS = {"ss": "ß", "o": "ø", "O": "Ø", "l": "ł", "L": "Ł", "ae": "æ", "AE": "Æ", "oe": "œ",
            "OE": "Œ", "aa": "å", "AA": "Å", "i": "ı", "j": "ȷ", "&": "&", "%": "%", "_": "_", "#": "#",
            "$": "$", "{": "{", "}": "}", "textendash": "–", "textemdash": "—", "ldots": "…",
            "dots": "…", "textquoteright": "’", "textquoteleft": "‘", "S": "§", "TeX": "TeX", "LaTeX": "LaTeX",
            "textbackslash": "\\", "textasciicircum": "^"}


class BibSyntaxError(ValueError):
    pass


def latex_to_text(value: str) -> str:
    """Accents and escapes to Unicode, braces dropped, whitespace collapsed; math is kept as written."""
    if "\\" in value:
        value = re.sub(
            r"\\([`'^\"~=.])\s*(?:\{\s*(\\?[A-Za-z])\s*\}|(\\?[A-Za-z]))",
            lambda m: _accent(m.group(1), m.group(2) or m.group(3)), value,
        )
        value = re.sub(
            r"\\([uvHckr])(?:\s*\{\s*(\\?[A-Za-z])\s*\}|\s+([A-Za-z]))",
            lambda m: _accent(m.group(1), m.group(2) or m.group(3)), value,
        )
        value = re.sub(r"\\([A-Za-z]+|[&%_#${}])(?:\{\})?", lambda m: _SYMBOLS.get(m.group(1), m.group(0)), value)
        value = re.sub(r"\\(?:emph|textit|textbf|textsc|texttt|mathrm|url|textrm)\s*", "", value)
    value = value.replace("{", "").replace("}", "").replace("---", "—").replace("--", "–").replace("~", " ")
    return unicodedata.normalize("NFC", " ".join(value.split()))


def _accent(mark: str, letter: str) -> str:
    letter = {"\\i": "i", "\\j": "j"}.get(letter, letter.lstrip("\\"))
    return unicodedata.normalize("NFC", letter + _ACCENTS[mark])


class _Reader:
    def __init__(self, text: str, macros: dict[str, str]) -> None:
        self.text, self.pos, self.macros = text, 0, macros

    def ws(self) -> None:
        n = len(self.text)
        while self.pos < n and (self.text[self.pos].isspace()):
            self.pos += 1

    def expect(self, chars: str) -> str:
        self.ws()
        if self.pos >= len(self.text) or self.text[self.pos] not in chars:
            got = self.text[self.pos : self.pos + 10] or "end of file"
            raise BibSyntaxError(f"expected {' or '.join(chars)} but found {got!r}")
        self.pos += 1
        return self.text[self.pos - 1]

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.ws()
        m = pattern.match(self.text, self.pos)
        if not m:
            raise BibSyntaxError(f"expected {what} near {self.text[self.pos : self.pos + 20]!r}")
        self.pos = m.end()
        return m.group(0)

    def braced(self) -> str:
        depth, start = 1, self.pos  # after the opening brace
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return text[start : self.pos - 1]
            elif ch == "@" and depth == 1 and _line_start(text, self.pos) and _looks_like_entry(text, self.pos):
                break  # an unclosed brace ran into the next entry
            self.pos += 1
        raise BibSyntaxError("unbalanced braces")

    def quoted(self) -> str:
        depth, start, text = 0, self.pos, self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == '"' and depth == 0:
                self.pos += 1
                return text[start : self.pos - 1]
            elif ch == "\n" and _line_start(text, self.pos + 1) and text.startswith("@", self.pos + 1):
                break
            self.pos += 1
        raise BibSyntaxError("unterminated quoted value")

    def value(self) -> str:
        parts: list[str] = []
        while True:
            self.ws()
            ch = self.text[self.pos : self.pos + 1]
            if ch == "{":
                self.pos += 1
                parts.append(self.braced())
            elif ch == '"':
                self.pos += 1
                parts.append(self.quoted())
            elif ch.isdigit():
                parts.append(self.match(re.compile(r"\d+"), "a number"))
            elif ch and (ch.isalpha() or ch == "_"):
                name = self.match(_FIELD, "a macro name").lower()
                parts.append(self.macros.get(name, name))
            else:
                raise BibSyntaxError(f"expected a value near {self.text[self.pos : self.pos + 20]!r}")
            self.ws()
            if self.text.startswith("#", self.pos):
                self.pos += 1
                continue
            return "".join(parts)


def _line_start(text: str, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] == "\n"


def _looks_like_entry(text: str, pos: int) -> bool:
    return re.match(r"@[A-Za-z]+\s*[{(]", text[pos : pos + 40]) is not None


def parse_bibtex(text: str) -> Iterator[tuple[str, str, dict[str, str]] | Skipped]:
    """(type, key, raw fields) per entry, or Skipped for an entry that cannot be read."""
    macros = dict(DEFAULT_MACROS)
    pos = 0
    while True:
        at = text.find("@", pos)
        if at == -1:
            return
        if not re.match(r"@\s*[A-Za-z]+\s*[{(]", text[at : at + 60]):
            pos = at + 1  # text outside entries is a comment in BibTeX
            continue
        reader = _Reader(text, macros)
        reader.pos = at + 1
        key = ""
        try:
            kind = reader.match(_IDENT, "an entry type").lower()
            if kind == "comment":
                pos = reader.pos
                continue
            opener = reader.expect("{(")
            closer = "}" if opener == "{" else ")"
            if kind == "preamble":
                reader.value()
                reader.expect(closer)
                pos = reader.pos
                continue
            if kind == "string":
                name = reader.match(_FIELD, "a macro name").lower()
                reader.expect("=")
                macros[name] = reader.value()
                reader.expect(closer)
                pos = reader.pos
                continue
            reader.ws()
            key_match = _KEY.match(text, reader.pos)
            key = key_match.group(0) if key_match else ""
            reader.pos = key_match.end() if key_match else reader.pos
            fields: dict[str, str] = {}
            while True:
                sep = reader.expect("," + closer)
                if sep == closer:
                    break
                reader.ws()
                if text.startswith(closer, reader.pos):  # trailing comma
                    reader.pos += 1
                    break
                name = reader.match(_FIELD, "a field name").lower()
                reader.expect("=")
                fields[name] = reader.value()
            pos = reader.pos
            yield kind, key, fields
        except BibSyntaxError as exc:
            label = f"@{text[at + 1 : at + 40].split(',', 1)[0].strip()}" if not key else key
            line = text.count("\n", 0, at) + 1
            yield Skipped(entry=f"{short(label, 60)} (line {line})", reason=f"malformed BibTeX: {exc}")
            nxt = _ENTRY_START.search(text, at + 1)
            if nxt is None:
                return
            pos = nxt.end() - 1


def split_authors(raw: str) -> list[str]:
    """``Last, First and First Last and {Org Name}`` -> ["First Last", "First Last", "Org Name"]."""
    names, depth, start = [], 0, 0
    low = raw
    i = 0
    while i < len(low):
        ch = low[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and low[i : i + 5].lower() == " and " :
            names.append(raw[start:i])
            start = i + 5
            i += 5
            continue
        i += 1
    names.append(raw[start:])
    out = []
    for name in names:
        parts = [latex_to_text(p) for p in _split_top(name, ",")]
        parts = [p for p in parts if p]
        if not parts or parts[0].lower() == "others":
            continue
        out.append(" ".join([parts[-1], *parts[:-1]]) if len(parts) > 1 and len(parts) <= 3 else " ".join(parts))
    return out


def _split_top(raw: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(raw):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(raw[start:i])
            start = i + 1
    parts.append(raw[start:])
    return parts


def _date(fields: dict[str, str]) -> date | None:
    raw = fields.get("date", "")
    m = re.match(r"\s*(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", raw)
    year, month, day = (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)
    if year is None:
        ym = re.search(r"\d{4}", fields.get("year", ""))
        year = ym.group(0) if ym else None
        mon = fields.get("month", "").strip().lower()[:3]
        month = str(MONTHS[mon]) if mon in MONTHS else (mon if mon.isdigit() else None)
    if year is None:
        return None
    try:
        return date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return date(int(year), 1, 1) if 1 <= int(year) <= 9999 else None


ARXIV_IN_TEXT = re.compile(r"arxiv[:\s/]*(?:abs/)?(\d{4}\.\d{4,5}(?:v\d+)?|[a-z\-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)", re.I)


def _arxiv_of(fields: dict[str, str]) -> str | None:
    eprint = fields.get("eprint", "").strip()
    prefix = (fields.get("archiveprefix", "") or fields.get("eprinttype", "")).strip().lower()
    if eprint and (prefix in ("arxiv", "") ) and (parsed := normalize_arxiv_id(eprint)):
        return parsed[0]
    for name in ("journal", "url", "note", "howpublished", "number", "publisher"):
        m = ARXIV_IN_TEXT.search(fields.get(name, ""))
        if m and (parsed := normalize_arxiv_id(m.group(1))):
            return parsed[0]
    return None


def _pdf_paths(raw: str) -> list[str]:
    """Zotero ``Full Text PDF:files/12/x.pdf:application/pdf``; JabRef ``:x.pdf:PDF``; plain paths."""
    paths = []
    for part in re.split(r";(?=[^;]*\.pdf)", raw):
        bits = [b for b in part.split(":") if b]
        pdf = next((b for b in bits if b.lower().strip().endswith(".pdf")), None)
        if pdf:
            paths.append(pdf.strip().replace("\\:", ":"))
    return paths


def entry_of(kind: str, key: str, fields: dict[str, str]) -> Entry | Skipped:
    title = latex_to_text(fields.get("title", ""))
    doi = latex_to_text(fields.get("doi", "")).strip() or None
    if doi:
        doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", doi, flags=re.I).lower()
    arxiv_id = _arxiv_of(fields)
    if not arxiv_id and doi:
        arxiv_id = arxiv_id_of_doi(doi)  # arXiv's own DOI names the preprint
    url = latex_to_text(fields.get("url", "")).strip()
    ref = f"arXiv:{arxiv_id}" if arxiv_id else (doi or url)
    if not (title or ref):
        return Skipped(entry=key or f"@{kind}", reason="no title, DOI, arXiv id or URL")
    venue = latex_to_text(fields.get("journal", "") or fields.get("booktitle", "") or fields.get("journaltitle", ""))
    keywords = fields.get("keywords", "") or fields.get("mendeley-tags", "")
    extra = {k: v for k, v in (("citation_key", key), ("venue", venue), ("bibtex_type", kind)) if v}
    if url and ref != url:
        extra["url"] = url
    return Entry(
        ref=ref, label=key or short(title, 60), kind="paper", title=title,
        authors=split_authors(fields.get("author", "")) if fields.get("author") else [],
        abstract=latex_to_text(fields.get("abstract", "")), published_at=_date(fields),
        tags=[latex_to_text(t) for t in re.split(r"[,;]", keywords) if latex_to_text(t)],
        doi=doi, arxiv_id=arxiv_id, extra=extra, pdf_paths=_pdf_paths(fields.get("file", "")),
    )


class BibtexImporter:
    name = "bibtex"
    label = "BibTeX (.bib from Zotero, Google Scholar, arXiv, JabRef; a .zip with the PDFs)"
    suffixes = (".bib", ".bibtex")

    def parse(self, data: bytes) -> Iterator[Entry | Skipped]:
        for parsed in parse_bibtex(decode_text(data)):
            if isinstance(parsed, Skipped):
                yield parsed
            else:
                yield entry_of(*parsed)
