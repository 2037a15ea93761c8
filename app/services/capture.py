"""The bookmarklet and its popup: the javascript: link, kind guesses, tag suggestions, the details a
capture may carry, and the papers a saved tweet links to.

The bookmarklet's readable source is static/js/bookmarklet.js. It carries the placeholder
``"__LECTERN_URL__"``, which becomes this server's own address; comments and indentation are
stripped and the result is percent-encoded into a ``javascript:`` URL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from app.ingest.registry import identify_url
from app.models import Item, ItemKind
from app.repo import items as items_repo
from app.repo import tags as tags_repo

BOOKMARKLET_SOURCE = Path(__file__).resolve().parent.parent.parent / "static" / "js" / "bookmarklet.js"
URL_PLACEHOLDER = '"__LECTERN_URL__"'
MAX_EXTRA_BYTES = 200_000
# Characters a javascript: URL may carry as they are; everything else is percent-encoded.
_URL_SAFE = "()[]{};,.=!:?'*+-/<>&|_~$^@"


class CaptureError(ValueError):
    """Captured details Lectern refuses, with a message for the user."""


# The bookmarklet ---------------------------------------------------------------------------


def bookmarklet_code(base_url: str, source: str | None = None) -> str:
    """The bookmarklet's JavaScript for a Lectern at ``base_url`` (minified, not yet encoded)."""
    source = BOOKMARKLET_SOURCE.read_text(encoding="utf-8") if source is None else source
    if URL_PLACEHOLDER not in source:
        raise RuntimeError(f"{BOOKMARKLET_SOURCE} lost its {URL_PLACEHOLDER} placeholder")
    base = base_url if base_url.endswith("/") else base_url + "/"
    # json.dumps makes a valid JS string literal; "</" cannot end a script element it lands in.
    literal = json.dumps(base).replace("</", "<\\/")
    return minify_js(source.replace(URL_PLACEHOLDER, literal))


def bookmarklet_href(base_url: str) -> str:
    """The ``javascript:`` URL to drag to the bookmarks bar."""
    return "javascript:" + quote(bookmarklet_code(base_url), safe=_URL_SAFE)


def minify_js(source: str) -> str:
    """Drop comments and indentation; keep strings, template literals and regex literals as they
    are, and keep line breaks (as one newline) so automatic semicolon insertion still holds."""
    out: list[str] = []
    i, n = 0, len(source)
    last_significant = ""  # the last non-space character emitted: decides "/" = regex or divide
    pending_space = ""  # "", " " or "\n": whitespace seen since the last token
    while i < n:
        c = source[i]
        nxt = source[i + 1] if i + 1 < n else ""
        if c in " \t\r\n":
            if c == "\n":
                pending_space = "\n"
            elif not pending_space:
                pending_space = " "
            i += 1
            continue
        if c == "/" and nxt == "/":
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "/" and nxt == "*":
            end = source.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment */ in the bookmarklet source")
            i = end + 2
            if not pending_space:
                pending_space = " "
            continue
        if pending_space and out:
            if pending_space == "\n" or (_word_char(out[-1][-1]) and _word_char(c)):
                out.append(pending_space)
            elif pending_space == " " and c in "+-" and out[-1][-1] in "+-":
                out.append(" ")  # "a + +b" must not become "a++b"
        pending_space = ""
        if c in "\"'`":
            end = _end_of_string(source, i)
            out.append(source[i:end])
            i = end
        elif c == "/" and _regex_may_start(last_significant, out):
            end = _end_of_regex(source, i)
            out.append(source[i:end])
            i = end
        else:
            out.append(c)
            i += 1
        last_significant = out[-1][-1]
    return "".join(out).strip()


def _word_char(c: str) -> bool:
    return c.isalnum() or c in "_$\\"


def _regex_may_start(last: str, out: list[str]) -> bool:
    if not last or last in "(,=:[!&|?{};+-*%<>~^":
        return True
    tail = "".join(out[-8:])[-8:]
    return bool(re.search(r"(?:^|[^\w$])(?:return|typeof|case|in|of|void)$", tail))


def _end_of_string(source: str, start: int) -> int:
    quote_char, i = source[start], start + 1
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if c == quote_char:
            return i + 1
        if c == "\n" and quote_char != "`":
            break
        i += 1
    raise ValueError(f"unterminated string at offset {start} in the bookmarklet source")


def _end_of_regex(source: str, start: int) -> int:
    i, in_class = start + 1, False
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if c == "\n":
            break
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            i += 1
            while i < len(source) and source[i].isalpha():
                i += 1  # flags
            return i
        i += 1
    raise ValueError(f"unterminated regular expression at offset {start} in the bookmarklet source")


# The popup ---------------------------------------------------------------------------------


def guess_kind(url: str, hint: str | None = None) -> str:
    """What the popup proposes: what the URL says (a paper, a tweet) beats the page's own hint
    (the bookmarklet's guess from the page: an article, a citation meta tag)."""
    try:
        kind = identify_url(url).kind
    except ValueError:
        kind = "link"
    if kind == ItemKind.link and hint in ItemKind.__members__:
        return str(hint)
    return str(kind)


def suggest_tags(session: Session, typed: str, limit: int = 10) -> list[str]:
    """Values for the tag box's list: what is typed before the last comma, then each existing tag
    that starts with what follows it ("ml, dif" -> "ml, diffusion")."""
    head, _, last = typed.rpartition(",")
    prefix = (head.strip() + ", ") if head.strip() else ""
    chosen = {t.strip().lower() for t in head.split(",") if t.strip()}
    tags = tags_repo.find_tags_by_prefix(session, last.strip(), limit=limit + len(chosen))
    return [prefix + t.name for t in tags if t.name_key not in chosen][:limit]


def plain_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_tags(raw: str) -> list[str]:
    return [t.strip() for t in raw.split(",") if t.strip()]


def parse_extra(raw: str) -> dict[str, Any]:
    """The captured details (author handle, date, links, the thread's tweets) the popup posts as
    JSON; only a JSON object of modest size is accepted."""
    if not raw.strip():
        return {}
    if len(raw.encode()) > MAX_EXTRA_BYTES:
        raise CaptureError("The captured details are too large.")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise CaptureError("The captured details are not valid JSON.") from exc
    if not isinstance(value, dict):
        raise CaptureError("The captured details must be a JSON object.")
    return value


# Papers a tweet links to -------------------------------------------------------------------

_PAPER_LINK = re.compile(
    r"(?:https?://)?(?:www\.|export\.)?(?:arxiv\.org|alphaxiv\.org|huggingface\.co/papers|"
    r"openreview\.net|(?:dx\.)?doi\.org)/[^\s<>\"'\u2026]+"
    r"|\barxiv:\s?\d{4}\.\d{4,5}(?:v\d+)?",
    re.IGNORECASE,
)


def paper_urls_in(texts: list[str], links: list[str]) -> list[str]:
    """Canonical URLs of the papers (arXiv, DOI, OpenReview) named in ``links`` or in ``texts``
    (where X shows links without their scheme); truncated links ("arxiv.org/abs/2512.2…") drop out
    because they do not parse as a paper."""
    candidates = [str(link) for link in links if isinstance(link, str)]
    for text in texts:
        candidates += [m.group(0) for m in _PAPER_LINK.finditer(text or "")]
    found: dict[str, None] = {}
    for candidate in candidates:
        candidate = candidate.rstrip(".,;:!?)]}")
        try:
            identity = identify_url(candidate)
        except ValueError:
            continue
        if identity.kind == ItemKind.paper and (
            identity.arxiv_id or identity.doi or identity.site == "OpenReview"
        ):
            found[identity.canonical_url] = None
    return list(found)


def paper_offers(session: Session, item: Item) -> list[dict[str, Any]]:
    """For a tweet: the papers it links to, each with the item that already holds it (or None)."""
    if item.kind != ItemKind.tweet:
        return []
    captured = item.captured or {}
    extra = {**(captured.get("extra") or {}), **(item.extra or {})}
    links = [link for link in extra.get("links") or [] if isinstance(link, str)]
    texts = [str(captured.get("text") or ""), item.text or ""]
    offers = []
    for url in paper_urls_in(texts, links):
        identity = identify_url(url)
        existing = items_repo.find_existing_item(
            session, canonical_url=identity.canonical_url, arxiv_id=identity.arxiv_id, doi=identity.doi
        )
        if existing is not None and existing.id == item.id:
            continue
        offers.append({"url": url, "existing": existing})
    return offers
