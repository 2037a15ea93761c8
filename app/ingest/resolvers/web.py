"""Any other link, blog posts included: the page's metadata and main text."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.extract.html import decode_html, extract_page
from app.ingest.base import Identity, ResolveContext, Resolved
from app.ingest.canonical import parse_reference, reference_or_none
from app.ingest.http import FetchResult


class WebResolver:
    name = "web"

    def score(self, url: str) -> float:
        return 0.1 if reference_or_none(url) is not None else 0.0

    def identify(self, url: str) -> Identity:
        ref = parse_reference(url)
        kind = "paper" if ref.doi or ref.arxiv_id else "tweet" if ref.tweet_id else "link"
        return Identity(canonical_url=ref.url, kind=kind, arxiv_id=ref.arxiv_id, doi=ref.doi, site=ref.host,
                        tweet_id=ref.tweet_id)  # fmt: skip

    def resolve(self, ctx: ResolveContext) -> Resolved:
        capture = ctx.capture
        if capture is not None and (capture.text.strip() or capture.html.strip()):
            # What the user saw (the bookmarklet sends it for any page it cannot tell is public):
            # the page's main text when its HTML came along, else the text as shown.
            page = extract_page(capture.html) if capture.html else None
            text = page.text.strip() if page is not None and page.text.strip() else capture.text.strip()
            return Resolved(
                kind=capture.kind or (("post" if page.is_article else "link") if page else "link"),
                title=capture.title or (page.title if page else ""),
                authors=page.authors if page else [],
                abstract=page.description if page else "",
                text=text,
                site=(page.site_name if page else "") or urlsplit(ctx.url).hostname or "",
                published_at=page.published if page else None,
                extra={"from_capture": True},
            )
        return resolved_from_page(
            ctx, ctx.http.get(ctx.url, headers={"Accept": "text/html,*/*;q=0.8"})
        )


def resolved_from_page(ctx: ResolveContext, result: FetchResult) -> Resolved:
    from app.ingest.resolvers.pdf import is_pdf

    host = urlsplit(result.url).hostname or ""
    if is_pdf(result):
        return Resolved(
            kind="paper", site=host, pdf_bytes=result.content, extra={"final_url": result.url}
        )
    if result.content_type not in {"text/html", "application/xhtml+xml", "text/plain", ""}:
        return Resolved(
            kind="link",
            site=host,
            extra={"content_type": result.content_type, "final_url": result.url},
        )
    if result.content_type == "text/plain":
        return Resolved(kind="link", text=result.text, site=host, extra={"final_url": result.url})
    page = extract_page(decode_html(result.content, result.charset))
    extra: dict[str, object] = {"final_url": result.url}
    if page.lang:
        extra["lang"] = page.lang
    return Resolved(
        kind="post" if page.is_article else "link",
        title=page.title,
        authors=page.authors,
        abstract=page.description,
        text=page.text,
        site=page.site_name or host,
        published_at=page.published,
        extra=extra,
    )
