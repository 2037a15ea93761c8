"""Pure PyMuPDF functions: a PDF path in, pages of text and what page 1 tells about the paper out.

Nothing here knows about the database, the network or processes; ``app.extract.sandbox`` runs
``extract_pdf`` in a child process because MuPDF can hang or crash on hostile files.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# pymupdf is imported inside the functions that use it: the web process imports this module (for
# PdfText and metadata_from_pdf) and would otherwise carry MuPDF (~45 MB) without ever using it.

# "arXiv:2502.09992v2 [cs.CL] 14 Feb 2025" (new style) or "arXiv:hep-th/9901001v1" (old style).
ARXIV_STAMP = re.compile(
    r"arXiv:\s*(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?",
)

# Metadata titles that are really file names or word-processor leftovers.
_JUNK_TITLE = re.compile(
    r"^(?:microsoft (?:word|powerpoint) - .*|untitled.*|title|paper|main|document\d*|"
    r".*\.(?:dvi|pdf|docx?|tex|ps|rtf|indd|odt))$",
    re.IGNORECASE,
)
# Text that is never a title even when it is the largest on the page.
_NOT_TITLE = re.compile(r"^(?:arxiv:|preprint|draft|doi:|https?://|proceedings|vol\.|\d+$)", re.I)
_NAME_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&|，|、)\s*", re.IGNORECASE)
_NOT_NAMES = re.compile(
    r"@|\babstract\b|摘要|universit|institut|college|school|department|laborator|\blabs?\b|"
    r"\binc\b|corporation|research|project|google|microsoft|[eé]cole|\d{3}",
    re.IGNORECASE,
)
_FOOTNOTE_MARKS = re.compile(r"[\d∗*†‡§¶♯♮,]+$")


@dataclass(slots=True)
class PdfText:
    """What extraction learned from one PDF. ``pages[0]`` is page 1."""

    page_count: int
    pages: list[str]
    has_text_layer: bool
    title: str = ""  # from the document's metadata, junk such as "Microsoft Word - x.doc" removed
    author: str = ""  # from the document's metadata, as written
    title_guess: str = ""  # the largest text near the top of page 1
    authors_guess: list[str] = field(default_factory=list)  # the name lines under that title
    arxiv_id: str | None = None  # the arXiv stamp on page 1, without version
    truncated: bool = False  # True when page_count exceeded max_pages

    @property
    def best_title(self) -> str:
        return self.title or self.title_guess

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PdfText:
        return cls(**data)


def extract_pdf(path: str | Path, *, max_pages: int = 2000) -> PdfText:
    """Text of each page (reading order as MuPDF stores it, not ``sort=True``, which interleaves
    two-column papers) and what page 1 says about the paper.

    Raises ``pymupdf.FileDataError`` (and friends) for what MuPDF cannot open; the sandbox turns
    those into messages for the user. An encrypted PDF that needs a password raises
    ``PermissionError``.
    """
    import pymupdf

    with pymupdf.open(path, filetype="pdf") as doc:
        if doc.needs_pass:
            raise PermissionError("the PDF is password-protected")
        page_count = doc.page_count
        limit = min(page_count, max(max_pages, 0))
        pages: list[str] = []
        first_page_dict: dict[str, Any] | None = None
        for number in range(limit):
            page = doc.load_page(number)
            if number == 0:
                # One text page serves both the plain text and the font sizes of page 1.
                textpage = page.get_textpage(flags=pymupdf.TEXTFLAGS_TEXT)
                pages.append(_page_text(page.get_text(textpage=textpage)))
                first_page_dict = textpage.extractDICT()
            else:
                pages.append(_page_text(page.get_text()))
        metadata = doc.metadata or {}

    title = _clean(metadata.get("title") or "")
    if _JUNK_TITLE.match(title) or len(title) < 4:
        title = ""
    title_guess, authors_guess = (
        _guess_title_and_authors(first_page_dict) if first_page_dict else ("", [])
    )
    stamp = ARXIV_STAMP.search(pages[0]) if pages else None
    return PdfText(
        page_count=page_count,
        pages=pages,
        has_text_layer=_has_text_layer(pages),
        title=title,
        author=_clean(metadata.get("author") or ""),
        title_guess=title_guess,
        authors_guess=authors_guess,
        arxiv_id=stamp.group("id") if stamp else None,
        truncated=page_count > limit,
    )


def render_thumbnail(path: str | Path, width: int = 240) -> bytes:
    """PNG of page 1, ``width`` pixels wide."""
    import pymupdf

    with pymupdf.open(path, filetype="pdf") as doc:
        if doc.needs_pass:
            raise PermissionError("the PDF is password-protected")
        page = doc.load_page(0)
        zoom = width / max(page.rect.width, 1)
        pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
        return pixmap.tobytes("png")


def metadata_from_pdf(pdf: PdfText) -> tuple[str, list[str], str | None]:
    """(title, authors, arxiv_id) the pipeline should store for a PDF with nothing better known."""
    authors = pdf.authors_guess
    if pdf.author and not authors:
        authors = [a for a in _NAME_SPLIT.split(pdf.author) if a]
    return pdf.best_title, authors, pdf.arxiv_id


# Internals ---------------------------------------------------------------------------------


def _page_text(text: str) -> str:
    """A page's text as stored: NUL removed (6 of the 17 shared papers have some, and PostgreSQL
    text cannot hold it)."""
    return text.replace("\x00", "")


def _clean(text: str) -> str:
    return " ".join(text.replace("\x00", "").split())


def _has_text_layer(pages: list[str]) -> bool:
    """A scanned PDF has (almost) no extractable characters; a real one has many on most pages
    (at least 10 per page on average, and 20 in all). Counting stops once there are enough, which
    for a paper is usually after page 1 (counting every page of the 17 shared PDFs cost 1.3% of
    extraction)."""
    if not pages:
        return False
    needed = max(20, 10 * len(pages))
    chars = 0
    for page in pages:
        chars += len("".join(page.split()))
        if chars >= needed:
            return True
    return False


def _lines(page_dict: dict[str, Any]) -> list[tuple[float, float, str]]:
    """(top y, largest font size, text) of each horizontal line on the page, top to bottom."""
    out = []
    for block in page_dict.get("blocks", []):
        for line in block.get("lines", []):
            direction = line.get("dir", (1, 0))
            if abs(direction[0] - 1) > 0.01:  # the rotated arXiv stamp in the margin
                continue
            spans = [s for s in line.get("spans", []) if s.get("text", "").strip()]
            if not spans:
                continue
            text = _clean(_join_spans(spans))
            size = max(round(s["size"], 1) for s in spans)
            out.append((line["bbox"][1], size, text))
    out.sort(key=lambda t: t[0])
    return out


def _join_spans(spans: list[dict[str, Any]]) -> str:
    """Spans of one line; TeX often sets words as separate spans with no space character."""
    parts = [spans[0]["text"]]
    for before, span in zip(spans, spans[1:], strict=False):
        gap = span["bbox"][0] - before["bbox"][2]
        if (
            gap > 0.15 * span["size"]
            and not before["text"].endswith(" ")
            and not span["text"].startswith(" ")
        ):
            parts.append(" ")
        parts.append(span["text"])
    return "".join(parts)


def _guess_title_and_authors(page_dict: dict[str, Any]) -> tuple[str, list[str]]:
    height = page_dict.get("height") or 792
    all_lines = _lines(page_dict)  # read once: it is most of this function's time
    lines = [ln for ln in all_lines if ln[0] < height * 0.6]
    candidates = [
        ln for ln in lines if sum(c.isalpha() for c in ln[2]) >= 3 and not _NOT_TITLE.match(ln[2])
    ]
    if not candidates:
        return "", []
    biggest = max(size for _, size, _ in candidates)
    chars_by_size: dict[float, int] = {}
    for _, size, text in all_lines:
        chars_by_size[size] = chars_by_size.get(size, 0) + len(text)
    smaller = {size: n for size, n in chars_by_size.items() if size < biggest - 0.5}
    if not smaller:  # one size only: nothing stands out, guessing would pick a random sentence
        return "", []
    body = max(smaller, key=lambda size: smaller[size])  # the size most of the other text is set in
    if biggest < body * 1.15 or chars_by_size.get(biggest, 0) > 4 * sum(smaller.values()):
        return "", []
    start = next(i for i, ln in enumerate(lines) if ln in candidates and ln[1] >= biggest - 0.5)
    title_lines = []
    index = start
    while index < len(lines) and lines[index][1] >= biggest - 0.5 and len(title_lines) < 4:
        title_lines.append(lines[index][2])
        index += 1
    title = _clean(" ".join(title_lines))[:300]
    return title, _guess_authors(lines[index : index + 4], body)


def _guess_authors(lines: list[tuple[float, float, str]], body_size: float) -> list[str]:
    """Names on the lines right under the title; stop at the first line that is not names."""
    names: list[str] = []
    for _, size, text in lines:
        if size < body_size - 0.5 or re.search(
            r"@|\babstract\b|摘要|university|institute|\d{3}", text, re.I
        ):
            break
        parts = [_FOOTNOTE_MARKS.sub("", p).strip(" ∗*†‡§¶") for p in _NAME_SPLIT.split(text)]
        parts = [p for p in parts if p]
        for part in parts:
            if _NOT_NAMES.search(part) or "!" in part or not _looks_like_name(part):
                return names[:50]
            names.append(part)
    return names[:50]


def _looks_like_name(text: str) -> bool:
    if any("\u4e00" <= c <= "\u9fff" for c in text):  # Chinese names: 2-4 characters
        return 2 <= len(text.replace(" ", "")) <= 4
    words = text.split()
    return 2 <= len(words) <= 5 and all(w[0].isupper() for w in words if w[0].isalpha())
