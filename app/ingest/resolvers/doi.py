"""DOIs (doi.org links and bare "10.xxxx/..." ids): metadata from Crossref's works API.

Crossref answers ``GET {crossref_api_url}/{doi}`` with ``{"status": "ok", "message-type": "work",
"message": {...}}``: ``title`` and ``container-title`` are lists, ``author`` a list of
``{"given", "family"}`` (or ``{"name"}`` for an organisation), ``abstract`` a JATS XML string, dates
``{"date-parts": [[2023, 10, 23]]}`` (month and day may be missing), and ``link`` the full-text links
a publisher deposited, each with a ``content-type``. A PDF link is tried and kept only when it
really answers with a PDF: many are text-mining links that need a subscription.

arXiv's own DOIs (10.48550/arXiv.<id>) are registered with DataCite, not Crossref: they are the
arXiv paper, resolved and deduplicated as such.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date
from typing import Any
from urllib.parse import quote

from app.ingest.base import Identity, ResolveContext, Resolved, ResolveError
from app.ingest.canonical import arxiv_id_of_doi, parse_reference, reference_or_none
from app.ingest.http import FetchError
from app.ingest.resolvers.arxiv import ArxivResolver
from app.ingest.resolvers.pdf import is_pdf

MAX_PDF_TRIES = 2
# Crossref's "polite pool" wants a way to reach the client; the project page will do.
CROSSREF_HEADERS = {"Accept": "application/json"}


class DoiResolver:
    name = "doi"

    def score(self, url: str) -> float:
        ref = reference_or_none(url)
        return 0.9 if ref is not None and ref.doi else 0.0

    def identify(self, url: str) -> Identity:
        ref = parse_reference(url)
        if ref.doi is None:
            raise ValueError(f"not a DOI: {url!r}")
        if arxiv_id := arxiv_id_of_doi(ref.doi):
            identity = ArxivResolver().identify(arxiv_id)
            identity.doi = ref.doi
            return identity
        return Identity(canonical_url=ref.url, kind="paper", doi=ref.doi, site="doi.org")

    def resolve(self, ctx: ResolveContext) -> Resolved:
        doi = ctx.identity.doi or self.identify(ctx.url).doi
        assert doi is not None
        if arxiv_id_of_doi(doi):
            resolved = ArxivResolver().resolve(ctx)
            resolved.doi = resolved.doi or doi
            return resolved
        api = ctx.settings.crossref_api_url.rstrip("/")
        try:
            response = ctx.http.get(f"{api}/{quote(doi, safe='/')}", headers=CROSSREF_HEADERS)
        except FetchError as exc:
            if " answered 404 " in str(exc):
                raise ResolveError(
                    f"Crossref has no record of the DOI {doi} (it may be registered with another "
                    "agency, such as DataCite).",
                    transient=False,
                ) from exc
            raise
        resolved = parse_crossref_work(response.content, doi)
        resolved.pdf_bytes, pdf_url, pdf_error = _open_pdf(ctx, _pdf_links(response.content))
        if pdf_url:
            resolved.extra["pdf_source"] = pdf_url
        elif pdf_error:
            resolved.extra["pdf_error"] = pdf_error
        return resolved


def parse_crossref_work(content: bytes, doi: str) -> Resolved:
    """The metadata in a Crossref ``/works/{doi}`` answer; ResolveError when it is not one."""
    message = _message(content, doi)
    authors = []
    for author in message.get("author") or []:
        if not isinstance(author, dict):
            continue
        name = " ".join(p for p in (author.get("given"), author.get("family")) if p) or author.get(
            "name", ""
        )
        if name.strip():
            authors.append(" ".join(str(name).split()))
    container = _first(message.get("container-title"))
    event = message.get("event") if isinstance(message.get("event"), dict) else {}
    extra: dict[str, Any] = {
        key: value
        for key, value in {
            "venue": container or str(event.get("name") or ""),
            "publisher": str(message.get("publisher") or ""),
            "type": str(message.get("type") or ""),
            "volume": str(message.get("volume") or ""),
            "issue": str(message.get("issue") or ""),
            "pages": str(message.get("page") or ""),
            "subjects": [s for s in message.get("subject") or [] if isinstance(s, str)],
            "licenses": [
                lic.get("URL") for lic in message.get("license") or []
                if isinstance(lic, dict) and lic.get("URL")
            ],  # fmt: skip
        }.items()
        if value
    }
    return Resolved(
        kind="paper",
        title=_plain(_first(message.get("title"))),
        authors=authors,
        abstract=jats_to_text(str(message.get("abstract") or "")),
        site=container or str(message.get("publisher") or "doi.org"),
        doi=str(message.get("DOI") or doi).lower(),
        published_at=_published(message),
        extra=extra,
    )


def jats_to_text(jats: str) -> str:
    """Crossref abstracts are JATS XML ("<jats:title>Abstract</jats:title><jats:p>...</jats:p>"):
    paragraphs become blank-line separated text; a leading "Abstract" heading is dropped."""
    if not jats.strip():
        return ""
    jats = re.sub(r"<jats:title>\s*abstract\s*</jats:title>", "", jats, flags=re.I)
    jats = re.sub(r"</(?:jats:)?(?:p|title|sec)>", "\n\n", jats, flags=re.I)
    paragraphs = [" ".join(html.unescape(re.sub(r"<[^>]+>", "", p)).split())
                  for p in jats.split("\n\n")]  # fmt: skip
    return "\n\n".join(p for p in paragraphs if p)


# Internals ---------------------------------------------------------------------------------


def _message(content: bytes, doi: str) -> dict[str, Any]:
    try:
        answer = json.loads(content)
    except ValueError as exc:
        snippet = content[:60].decode("utf-8", errors="replace").strip()
        raise ResolveError(
            f"Crossref answered something that is not JSON for {doi} ({snippet!r})", transient=True
        ) from exc
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        raise ResolveError(f"Crossref could not describe the DOI {doi}", transient=False)
    message = answer.get("message")
    if not isinstance(message, dict):
        raise ResolveError(f"Crossref's answer for {doi} has no work in it", transient=False)
    return message


def _first(value: object) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return " ".join(value.split()) if isinstance(value, str) else ""


def _plain(text: str) -> str:
    """Titles carry inline markup at times ("<i>E. coli</i>", "H<sub>2</sub>O")."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def _published(message: dict[str, Any]) -> date | None:
    for key in ("published", "published-print", "published-online", "issued", "created"):
        parts = (message.get(key) or {}).get("date-parts") if isinstance(message.get(key), dict) else None
        if not parts or not isinstance(parts[0], list) or not parts[0] or parts[0][0] is None:
            continue
        year, month, day = (list(parts[0]) + [1, 1])[:3]
        try:
            return date(int(year), int(month or 1), int(day or 1))
        except (TypeError, ValueError):
            continue
    return None


def _pdf_links(content: bytes) -> list[str]:
    """Full-text links that say they are PDFs, those meant for anyone ("similarity-checking",
    "unspecified") before text-mining ones."""
    try:
        links = json.loads(content)["message"].get("link") or []
    except (ValueError, KeyError, AttributeError, TypeError):
        return []
    found = [
        link for link in links
        if isinstance(link, dict) and str(link.get("content-type", "")).lower() == "application/pdf"
        and str(link.get("URL", "")).startswith(("http://", "https://"))
    ]  # fmt: skip
    found.sort(key=lambda link: link.get("intended-application") == "text-mining")
    return list(dict.fromkeys(str(link["URL"]) for link in found))


def _open_pdf(ctx: ResolveContext, urls: list[str]) -> tuple[bytes | None, str | None, str]:
    """The first link that answers with a PDF: (bytes, url, ""), else (None, None, why)."""
    error = ""
    for url in urls[:MAX_PDF_TRIES]:
        try:
            result = ctx.http.get(url, headers={"Accept": "application/pdf"})
        except ResolveError as exc:
            error = f"the linked PDF could not be fetched: {exc}"
            continue
        if is_pdf(result):
            return result.content, url, ""
        error = f"the linked PDF {url} answered with {result.content_type or 'something else'}"
    return None, None, error
