"""Direct links to PDFs: the bytes are the paper; extraction later fills in the title."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.extract.pdf import metadata_from_pdf
from app.ingest.base import Identity, ResolveContext, Resolved, ResolveError
from app.ingest.canonical import parse_reference
from app.ingest.http import FetchResult

__all__ = ["PdfResolver", "is_pdf", "metadata_from_pdf"]


def is_pdf(result: FetchResult) -> bool:
    return result.content_type == "application/pdf" or b"%PDF-" in result.content[:1024]


class PdfResolver:
    name = "pdf"

    def score(self, url: str) -> float:
        try:
            path = urlsplit(url.strip()).path.lower()
        except ValueError:
            return 0.0
        return 0.5 if path.endswith(".pdf") else 0.0

    def identify(self, url: str) -> Identity:
        ref = parse_reference(url)
        return Identity(
            canonical_url=ref.url, kind="paper", arxiv_id=ref.arxiv_id, doi=ref.doi, site=ref.host
        )

    def resolve(self, ctx: ResolveContext) -> Resolved:
        result = ctx.http.get(ctx.url)
        if not is_pdf(result):
            # "paper.pdf" answered with something else: a login wall, a landing page. Saying so beats
            # keeping a page of "please log in" as if it were the paper.
            kind = result.content_type or "an unknown type"
            raise ResolveError(
                f"{ctx.url} is not a PDF (the server answered with {kind}). If it needs a login, "
                "save it with the bookmarklet or upload the PDF."
            )
        return Resolved(kind="paper", site=urlsplit(result.url).hostname or "", pdf_bytes=result.content,
                        extra={"final_url": result.url})  # fmt: skip
