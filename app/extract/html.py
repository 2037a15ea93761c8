"""Pure HTML functions: a web page in, its metadata and main text out.

Readability-like and dependency-free (the standard library's HTML parser): the main text is the
``<article>``/``<main>`` element, else the element whose paragraphs hold the most text. Code blocks
keep their whitespace, TeX stays TeX (``$...$``, ``\\(...\\)``; KaTeX and MathJax markup is turned
back into its TeX source), and Chinese text passes through untouched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from html.parser import HTMLParser

_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
_AUTO_CLOSE = {"p": {"p"}, "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "tr": {"tr"},
               "td": {"td", "th"}, "th": {"td", "th"}, "option": {"option"}}  # fmt: skip
_DROP = {"script", "style", "noscript", "template", "iframe", "form", "button", "select", "nav",
         "aside", "footer", "svg", "canvas", "object", "head", "dialog"}  # fmt: skip
_BLOCK = {"p", "div", "section", "article", "main", "header", "h1", "h2", "h3", "h4", "h5", "h6",
          "ul", "ol", "li", "blockquote", "table", "tr", "figure", "figcaption", "dl", "dt", "dd",
          "hr", "br", "details", "summary", "body"}  # fmt: skip
_BOILERPLATE = re.compile(
    r"comment|sidebar|footer|share|social|related|advert|promo|cookie|newsletter|subscribe|"
    r"breadcrumb|menu|navbar|popup|banner|disqus|toc-sidebar",
    re.IGNORECASE,
)
_ARTICLE_TYPES = {
    "article",
    "blogposting",
    "newsarticle",
    "scholarlyarticle",
    "techarticle",
    "report",
}


@dataclass(slots=True)
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None):  # noqa: ANN201 - a generator of Node
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)


@dataclass(slots=True)
class PageInfo:
    title: str = ""
    description: str = ""
    site_name: str = ""
    authors: list[str] = field(default_factory=list)
    published: date | None = None
    text: str = ""
    is_article: bool = False
    lang: str = ""
    canonical_url: str = ""


def decode_html(content: bytes, header_charset: str | None = None) -> str:
    """Bytes to text: the header's charset, else ``<meta charset>``, else UTF-8, else GB18030."""
    candidates = [header_charset]
    head = content[:4096].decode("ascii", errors="replace")
    match = re.search(r"""<meta[^>]+charset\s*=\s*["']?([\w\-]+)""", head, re.IGNORECASE)
    if match:
        candidates.append(match.group(1))
    candidates += ["utf-8", "gb18030"]
    for encoding in candidates:
        if not encoding:
            continue
        if encoding.lower() in {"gb2312", "gbk"}:
            encoding = "gb18030"  # a superset; pages labelled gb2312 often use GBK characters
        try:
            return content.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return content.decode("utf-8", errors="replace")


def parse_html(markup: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


def extract_page(markup: str) -> PageInfo:
    root = parse_html(markup)
    meta = _meta(root)
    ld = _json_ld(root)
    info = PageInfo()
    title_node = next(root.iter("title"), None)
    info.title = _clean(
        meta.get("og:title") or meta.get("twitter:title") or meta.get("citation_title")
        or ld.get("headline") or (title_node.text() if title_node else "")
    )  # fmt: skip
    info.description = _clean(
        meta.get("og:description") or meta.get("description") or ld.get("description") or ""
    )
    info.site_name = _clean(
        meta.get("og:site_name") or meta.get("application-name") or ld.get("publisher") or ""
    )
    info.authors = _authors(root, meta, ld)
    info.published = _published(root, meta, ld)
    html_node = next(root.iter("html"), None)
    info.lang = html_node.attrs.get("lang", "") if html_node else ""
    link = next(
        (n for n in root.iter("link") if "canonical" in n.attrs.get("rel", "").lower().split()),
        None,
    )
    info.canonical_url = link.attrs.get("href", "") if link else ""
    main = _main_node(root)
    info.text = _render(main) if main is not None else ""
    info.is_article = bool(
        meta.get("og:type", "").lower() == "article"
        or ld.get("is_article")
        or next(root.iter("article"), None) is not None
        or (info.authors and info.published)
    )
    return info


# Tree building -----------------------------------------------------------------------------


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        closes = _AUTO_CLOSE.get(tag)
        if closes and self.stack[-1].tag in closes:
            self.stack.pop()
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


# Metadata ----------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def _meta(root: Node) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in root.iter("meta"):
        key = (
            node.attrs.get("property") or node.attrs.get("name") or node.attrs.get("itemprop") or ""
        ).lower()
        content = node.attrs.get("content", "")
        if key and content and key not in found:
            found[key] = content
    return found


def _json_ld(root: Node) -> dict[str, object]:
    """headline, description, authors, datePublished, publisher of the page's Article object."""
    out: dict[str, object] = {}
    for node in root.iter("script"):
        if node.attrs.get("type", "").lower() != "application/ld+json":
            continue
        try:
            data = json.loads(node.text())
        except ValueError:
            continue
        for obj in _ld_objects(data):
            types = obj.get("@type", [])
            types = [types] if isinstance(types, str) else types
            if not any(str(t).lower() in _ARTICLE_TYPES for t in types):
                continue
            out["is_article"] = True
            for key in ("headline", "description", "datePublished"):
                if isinstance(obj.get(key), str):
                    out.setdefault(key, obj[key])
            authors = obj.get("author", [])
            authors = authors if isinstance(authors, list) else [authors]
            names = [a.get("name", "") if isinstance(a, dict) else str(a) for a in authors]
            out.setdefault("authors", [n for n in names if n])
            publisher = obj.get("publisher")
            if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
                out.setdefault("publisher", publisher["name"])
    return out


def _ld_objects(data: object):  # noqa: ANN202 - a generator of dicts
    if isinstance(data, list):
        for item in data:
            yield from _ld_objects(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _ld_objects(data["@graph"])


def _authors(root: Node, meta: dict[str, str], ld: dict[str, object]) -> list[str]:
    if ld.get("authors"):
        return [_clean(a) for a in ld["authors"]]  # type: ignore[union-attr]
    names = [_clean(n.attrs.get("content", "")) for n in root.iter("meta")
             if n.attrs.get("name", "").lower() in {"citation_author", "dc.creator"}]  # fmt: skip
    if names:
        return [n for n in names if n]
    for key in ("author", "article:author", "twitter:creator"):
        value = _clean(meta.get(key, ""))
        if value and not value.startswith("http"):
            return [value]
    node = next(
        (
            n
            for n in root.iter()
            if n.attrs.get("rel") == "author" or "author" in n.attrs.get("itemprop", "")
        ),
        None,
    )
    if node is not None and _clean(node.text()):
        return [_clean(node.text())[:100]]
    return []


def parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    for pattern in (
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%B %d, %Y",
        "%b %d, %Y",
        "%d %B %Y",
        "%d %b %Y",
        "%Y年%m月%d日",
    ):
        try:
            return datetime.strptime(text[: len(text)], pattern).date()
        except ValueError:
            continue
    match = re.search(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", text)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    return None


def _published(root: Node, meta: dict[str, str], ld: dict[str, object]) -> date | None:
    for value in (
        meta.get("article:published_time"), ld.get("datePublished"), meta.get("citation_publication_date"),
        meta.get("citation_date"), meta.get("dc.date"), meta.get("date"), meta.get("datepublished"),
    ):  # fmt: skip
        if isinstance(value, str) and (parsed := parse_date(value)):
            return parsed
    for node in root.iter("time"):
        parsed = parse_date(node.attrs.get("datetime", "") or node.text())
        if parsed:
            return parsed
    return None


# Main text ---------------------------------------------------------------------------------


def _is_boilerplate(node: Node) -> bool:
    if node.tag in _DROP:
        return True
    if node.tag in {"html", "body", "article", "main", "#root"}:
        return False
    if node.tag == "header" and not _inside(node, {"article", "main"}):
        return True
    label = f"{node.attrs.get('class', '')} {node.attrs.get('id', '')} {node.attrs.get('role', '')}"
    return (
        bool(_BOILERPLATE.search(label))
        or node.attrs.get("aria-hidden") == "true"
        and not _is_math(node)
    )


def _inside(node: Node, tags: set[str]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


def _is_math(node: Node) -> bool:
    return "katex" in node.attrs.get("class", "") or node.tag in {"math", "mjx-container"}


def _main_node(root: Node) -> Node | None:
    articles = [n for n in root.iter("article") if not _inside(n, {"article"})]
    if articles:
        return max(articles, key=lambda n: len(n.text()))
    for node in root.iter():
        if node.tag == "main" or node.attrs.get("role") == "main":
            return node
    # Score each paragraph's parent by the paragraph text it holds; the grandparent gets half.
    scores: dict[int, float] = {}
    nodes: dict[int, Node] = {}
    for paragraph in root.iter():
        if paragraph.tag not in {"p", "pre"} or paragraph.parent is None:
            continue
        length = len(_clean(paragraph.text()))
        if length < 20:
            continue
        parent, grandparent = paragraph.parent, paragraph.parent.parent
        for node, weight in ((parent, 1.0), (grandparent, 0.5)):
            if node is not None:
                scores[id(node)] = scores.get(id(node), 0) + length * weight
                nodes[id(node)] = node
    if scores:
        return nodes[max(scores, key=lambda key: scores[key])]
    return next(root.iter("body"), root)


def _render(node: Node) -> str:
    out: list[str] = []
    _walk(node, out)
    text = "".join(out)
    lines = [line.strip() if not line.startswith("\x00") else line[1:] for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _walk(node: Node, out: list[str]) -> None:
    for child in node.children:
        if isinstance(child, str):
            out.append(re.sub(r"[ \t\r\n\f]+", " ", child))
            continue
        if _is_boilerplate(child):
            continue
        tex = _tex_of(child)
        if tex is not None:
            out.append(tex)
            continue
        if child.tag == "pre":
            code = child.text().strip("\n")
            # \x00 marks lines whose leading whitespace must survive the final strip.
            out.append(
                "\n\n```\n" + "\n".join("\x00" + line for line in code.split("\n")) + "\n```\n\n"
            )
            continue
        if child.tag == "img":
            continue
        block = child.tag in _BLOCK
        if block:
            out.append("\n\n" if child.tag not in {"br", "li", "tr", "dt", "dd"} else "\n")
        if child.tag == "li":
            out.append("- ")
        _walk(child, out)
        if block:
            out.append("\n\n" if child.tag not in {"br", "li", "tr", "dt", "dd"} else "\n")


def _tex_of(node: Node) -> str | None:
    """The TeX source behind rendered math, or None when ``node`` is not math."""
    kind = node.attrs.get("type", "").lower()
    if node.tag == "script" and kind.startswith("math/tex"):
        body = node.text().strip()
        return f"$${body}$$" if "mode=display" in kind else f"${body}$"
    classes = node.attrs.get("class", "").split()
    if (
        node.tag in {"span", "div"}
        and ("katex" in classes or "katex-display" in classes)
        or node.tag == "math"
    ):
        annotation = next(
            (n for n in node.iter("annotation") if "tex" in n.attrs.get("encoding", "")), None
        )
        source = annotation.text().strip() if annotation else node.attrs.get("alttext", "").strip()
        if not source:
            return None if node.tag != "math" else _clean(node.text())
        display = "katex-display" in classes or node.attrs.get("display") == "block"
        return f"$${source}$$" if display else f"${source}$"
    return None
