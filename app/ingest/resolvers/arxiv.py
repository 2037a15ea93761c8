"""arXiv papers: metadata from the arXiv API (Atom), the PDF from arXiv."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from app.extract.html import parse_date
from app.ingest.base import Identity, ResolveContext, Resolved, ResolveError
from app.ingest.canonical import parse_reference, reference_or_none

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


class ArxivResolver:
    name = "arxiv"

    def score(self, url: str) -> float:
        ref = reference_or_none(url)
        return 0.9 if ref is not None and ref.arxiv_id else 0.0

    def identify(self, url: str) -> Identity:
        ref = parse_reference(url)
        return Identity(canonical_url=ref.url, kind="paper", arxiv_id=ref.arxiv_id, site="arXiv")

    def resolve(self, ctx: ResolveContext) -> Resolved:
        arxiv_id = ctx.identity.arxiv_id or self.identify(ctx.url).arxiv_id
        if not arxiv_id:
            raise ResolveError(f"{ctx.url} is not an arXiv paper", transient=False)
        api = ctx.settings.arxiv_api_url
        response = ctx.http.get(f"{api}?{urlencode({'id_list': arxiv_id, 'max_results': 1})}")
        resolved = parse_arxiv_feed(response.content, arxiv_id)
        resolved.pdf_url = f"{ctx.settings.arxiv_pdf_url.rstrip('/')}/{arxiv_id}"
        return resolved


def parse_arxiv_feed(content: bytes, arxiv_id: str) -> Resolved:
    """The entry for ``arxiv_id`` in an arXiv API answer; ResolveError when there is none."""
    try:
        feed = ET.fromstring(content)
    except ET.ParseError as exc:
        # arXiv answers "Rate exceeded." as plain text when it throttles.
        snippet = content[:60].decode("utf-8", errors="replace").strip()
        raise ResolveError(
            f"arXiv's API answered something that is not a feed ({snippet!r})", transient=True
        ) from exc
    for entry in feed.iter(f"{ATOM}entry"):
        entry_id = (entry.findtext(f"{ATOM}id") or "").strip()
        title = " ".join((entry.findtext(f"{ATOM}title") or "").split())
        if "/api/errors" in entry_id or title == "Error":
            summary = " ".join((entry.findtext(f"{ATOM}summary") or "").split())
            raise ResolveError(
                f"arXiv's API refused the request for {arxiv_id}: {summary}", transient=False
            )
        found = parse_reference(entry_id) if entry_id else None
        if found is None or found.arxiv_id != arxiv_id:
            continue
        categories = [c.get("term", "") for c in entry.findall(f"{ATOM}category") if c.get("term")]
        primary = entry.find(f"{ARXIV}primary_category")
        extra = {
            "categories": categories,
            "primary_category": primary.get("term", "")
            if primary is not None
            else (categories[:1] or [""])[0],
            "version": found.arxiv_version,
            "updated": (entry.findtext(f"{ATOM}updated") or "").strip(),
        }
        for key in ("comment", "journal_ref"):
            value = " ".join((entry.findtext(f"{ARXIV}{key}") or "").split())
            if value:
                extra[key] = value
        doi = (entry.findtext(f"{ARXIV}doi") or "").strip().lower() or None
        return Resolved(
            kind="paper",
            title=title,
            authors=[
                " ".join((a.findtext(f"{ATOM}name") or "").split())
                for a in entry.findall(f"{ATOM}author")
            ],
            abstract=" ".join((entry.findtext(f"{ATOM}summary") or "").split()),
            site="arXiv",
            arxiv_id=arxiv_id,
            doi=doi,
            published_at=parse_date(entry.findtext(f"{ATOM}published") or ""),
            extra=extra,
        )
    raise ResolveError(f"arXiv has no paper {arxiv_id}", transient=False)
