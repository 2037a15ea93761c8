"""Notes' Markdown to safe HTML, with LaTeX kept for KaTeX in the browser.

1. Math spans ($...$, \\(...\\), $$...$$, \\[...\\]) outside code are swapped for inert placeholders,
   so Markdown never sees (and mangles) their backslashes, underscores and asterisks.
2. markdown-it-py renders CommonMark with raw HTML disabled (its link validator drops javascript:,
   vbscript:, file: and data: links).
3. The placeholders come back as ``<span class="math">`` holding the escaped TeX; KaTeX
   (static/js/math.js, trust off, size limits) draws them.
4. nh3 sanitises the result with a short allow-list: whatever slipped through, no script, event
   handler or unsafe URL reaches the page.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "img",
    "h1", "h2", "h3", "h4", "h5", "h6", "span", "table", "thead", "tbody", "tr", "th", "td", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
ALLOWED_CLASSES = {"span": {"math", "math-inline", "math-display"}}
URL_SCHEMES = {"http", "https", "mailto"}

# Code first (its contents are left alone), then display math, then inline math.
_SPANS = re.compile(
    r"(?P<fence>^(?P<fchar>`{3,}|~{3,})[^\n]*\n.*?(?:^(?P=fchar)[ \t]*$|\Z))"
    r"|(?P<code>(?P<ticks>`+).+?(?P=ticks))"
    r"|(?P<escaped>\\\$)"
    r"|\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<db>.+?)\\\]"
    r"|\\\((?P<ip>.+?)\\\)"
    r"|(?<![\\$\w])\$(?P<id>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?!\d)",
    re.DOTALL | re.MULTILINE,
)


@dataclass(slots=True)
class Rendered:
    html: str
    ok: bool = True
    error: str = ""


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    return md


_MD = _parser()


def protect_math(text: str) -> tuple[str, dict[str, tuple[str, bool]], str]:
    """Replace math spans outside code with placeholders; returns (text, {placeholder: (tex, display)}, nonce)."""
    nonce = secrets.token_hex(6)
    found: dict[str, tuple[str, bool]] = {}

    def swap(match: re.Match[str]) -> str:
        if match.group("fence") or match.group("code") or match.group("escaped"):
            return match.group(0)
        for name, display in (("dd", True), ("db", True), ("ip", False), ("id", False)):
            tex = match.group(name)
            if tex is not None:
                key = f"lecternmath{nonce}x{len(found)}x"
                found[key] = (tex.strip(), display)
                return key
        return match.group(0)

    return _SPANS.sub(swap, text), found, nonce


def _restore_math(rendered: str, found: dict[str, tuple[str, bool]], nonce: str) -> str:
    if not found:
        return rendered

    def put(match: re.Match[str]) -> str:
        item = found.get(match.group(0))
        if item is None:
            return match.group(0)
        tex, display = item
        cls = "math math-display" if display else "math math-inline"
        return f'<span class="{cls}">{html.escape(tex, quote=True)}</span>'

    return re.sub(rf"lecternmath{nonce}x\d+x", put, rendered)


def sanitise(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str) -> Rendered:
    """Markdown (with LaTeX) to sanitised HTML. Never raises: a failure answers escaped plain text."""
    try:
        protected, found, nonce = protect_math(text or "")
        body = _MD.render(protected)
        return Rendered(html=sanitise(_restore_math(body, found, nonce)))
    except Exception as exc:  # noqa: BLE001 - the note is kept whatever its Markdown does
        return Rendered(html=f'<pre class="note-raw">{html.escape(text or "")}</pre>', ok=False, error=str(exc))
