"""The Resolver interface: how Lectern learns what a URL is.

Two phases, so saving never waits on the network:
- ``identify(url)`` runs at save time, offline: the canonical URL and the external ids that decide
  whether the thing is already in the library (arXiv id, DOI).
- ``resolve(ctx)`` runs in the worker and may fetch (always through ``ctx.http``, the SSRF-safe
  client): metadata, main text, and where the PDF is.

The registry (app.ingest.registry) asks every resolver for a ``score`` and picks the highest;
built-in resolvers use the same interface a new one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.config import Settings
    from app.ingest.http import SafeClient


class ResolveError(Exception):
    """A failure worth showing the user ("arXiv answered 404 for 2501.00001")."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient  # True: worth retrying later (timeouts, 5xx, connection refused)


@dataclass(slots=True)
class Identity:
    """What a URL is, known without fetching it."""

    canonical_url: str
    kind: str = "link"  # paper | tweet | post | link
    arxiv_id: str | None = None  # without version, e.g. "2502.09992" or "hep-th/9901001"
    doi: str | None = None  # lower-cased, e.g. "10.1145/3600006.3613165"
    site: str = ""
    tweet_id: str | None = None  # an X status id; the same tweet under any handle spelling


@dataclass(slots=True)
class Capture:
    """What a client (bookmarklet, API, importer) sent along with the URL."""

    url: str
    title: str = ""
    kind: str | None = None
    text: str = ""  # the text the user saw (a tweet thread, a page behind a login)
    html: str = ""
    selection: str = ""  # selected text, kept as a quote
    extra: dict[str, Any] = field(default_factory=dict)  # author handle, date, links ...


@dataclass(slots=True)
class Resolved:
    """What the worker learned; empty fields leave the item's current value alone."""

    kind: str | None = None
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    text: str = ""
    site: str = ""
    arxiv_id: str | None = None
    doi: str | None = None
    published_at: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    pdf_url: str | None = None  # a PDF to download
    pdf_bytes: bytes | None = None  # a PDF already in hand (the URL itself was a PDF)


@dataclass(slots=True)
class ResolveContext:
    url: str
    identity: Identity
    settings: Settings
    http: SafeClient
    capture: Capture | None = None


class Resolver(Protocol):
    name: str

    def score(self, url: str) -> float:
        """0 when this resolver cannot handle the URL; higher wins (generic link is 0.1)."""

    def identify(self, url: str) -> Identity: ...

    def resolve(self, ctx: ResolveContext) -> Resolved: ...
