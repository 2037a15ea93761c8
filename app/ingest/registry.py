"""Which resolver handles a URL: every resolver scores it, the highest wins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.ingest.base import Identity, Resolver
from app.ingest.resolvers.arxiv import ArxivResolver
from app.ingest.resolvers.doi import DoiResolver
from app.ingest.resolvers.openreview import OpenReviewResolver
from app.ingest.resolvers.pdf import PdfResolver
from app.ingest.resolvers.tweet import TweetResolver
from app.ingest.resolvers.web import WebResolver

if TYPE_CHECKING:
    from app.config import Settings


def default_resolvers(settings: Settings | None = None) -> list[Resolver]:
    """The built-in resolvers (settings reach them through ResolveContext at resolve time)."""
    return [ArxivResolver(), DoiResolver(), OpenReviewResolver(), TweetResolver(), PdfResolver(),
            WebResolver()]


def pick_resolver(url: str, resolvers: list[Resolver] | None = None) -> Resolver:
    """The resolver with the highest score (ties go to the earlier one); ValueError when none
    can handle ``url`` (it is not a web address)."""
    candidates = resolvers if resolvers is not None else default_resolvers()
    best, best_score = None, 0.0
    for resolver in candidates:
        score = resolver.score(url)
        if score > best_score:
            best, best_score = resolver, score
    if best is None:
        from app.ingest.canonical import canonicalize_url

        canonicalize_url(url)  # raises the ValueError that says why
        raise ValueError(f"no resolver handles {url!r}")
    return best


def identify_url(url: str, resolvers: list[Resolver] | None = None) -> Identity:
    """Offline, at save time: canonical URL, kind and external ids, for deduplication.
    Raises ValueError("not a web address: ...") for what cannot be saved."""
    return pick_resolver(url, resolvers).identify(url)
