"""One spelling per thing: the canonical URL and the external ids a saved link is deduplicated by.

``canonicalize_url`` is offline and total: anything that is a web address, a bare arXiv id or a
DOI gets a canonical form; anything else raises ``ValueError("not a web address: ...")``, and
nothing else is ever raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus, urlsplit

# New-style ids (0704.0001 onwards, 4 or 5 digits after the dot) and old-style "archive/YYMMNNN",
# where an archive may carry a subject class ("math.GT/0309136") that is not part of the id.
_ARXIV_NEW = r"\d{4}\.\d{4,5}"
_ARXIV_OLD = r"[a-z][a-z\-]*(?:\.[A-Za-z]{2})?/\d{7}"
ARXIV_ID = re.compile(rf"(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?:v(?P<version>\d+))?", re.IGNORECASE)
_BARE_ARXIV = re.compile(rf"^(?:arxiv\s*:\s*)?(?:{ARXIV_ID.pattern})$", re.IGNORECASE)
_DOI = re.compile(
    r"^(?:doi\s*:\s*|https?://(?:dx\.)?doi\.org/)?(?P<doi>10\.\d{4,9}/\S+)$", re.IGNORECASE
)

ARXIV_HOSTS = {"arxiv.org", "www.arxiv.org", "export.arxiv.org", "xxx.lanl.gov"}
ALPHAXIV_HOSTS = {"alphaxiv.org", "www.alphaxiv.org"}
HF_HOSTS = {"huggingface.co", "www.huggingface.co"}
DOI_HOSTS = {"doi.org", "dx.doi.org", "www.doi.org"}
ARXIV_DOI_PREFIX = "10.48550/arxiv."  # arXiv's own DOIs (DataCite), lower-cased
X_HOSTS = {
    "x.com", "www.x.com", "mobile.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com",
    "m.twitter.com",
}  # fmt: skip

# Query parameters that say where a click came from, never what the page is.
_TRACKING_EXACT = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
    "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "ref", "ref_src", "ref_url", "referrer",
    "spm", "share_source", "from_source", "vero_id", "oly_enc_id", "oly_anon_id", "__s",
}  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci")
_X_STATUS = re.compile(
    r"^/(?:(?P<handle>\w{1,50})|i/web|i)/status(?:es)?/(?P<id>\d{1,25})(?:/.*)?$"
)
_X_HANDLE = re.compile(r"^/(?P<handle>\w{1,50})/?$")

# Characters left as they are in a path or query; everything else is percent-encoded (UTF-8).
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"


@dataclass(frozen=True, slots=True)
class Reference:
    """A canonical URL and the ids found in it."""

    url: str
    arxiv_id: str | None = None  # without version
    arxiv_version: int | None = None  # the version the link pinned, if any
    doi: str | None = None  # lower-cased
    tweet_id: str | None = None
    handle: str | None = None  # X handle, lower-cased

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


def canonicalize_url(url: str) -> str:
    """The canonical spelling of ``url`` (see ``parse_reference``)."""
    return parse_reference(url).url


def parse_reference(text: str) -> Reference:
    """Canonical URL and ids for a link, a bare arXiv id ("arXiv:2502.09992v3") or a bare DOI.

    Raises ValueError("not a web address: ...") for anything else, and nothing but ValueError.
    """
    try:
        return _parse(text)
    except ValueError:
        raise
    except Exception as exc:  # a parser surprise on junk input is still junk input
        raise ValueError(f"not a web address: {_show(text)}") from exc


def reference_or_none(text: str) -> Reference | None:
    """parse_reference, or None for what it refuses (a resolver's score asks this of any input)."""
    try:
        return parse_reference(text)
    except ValueError:
        return None


def arxiv_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def doi_url(doi: str) -> str:
    return "https://doi.org/" + quote(doi, safe="/:;()<>[]._-~,@!$&'*+=")


def normalize_arxiv_id(raw: str) -> tuple[str, int | None] | None:
    """("2502.09992", 2) for "arXiv:2502.09992v2"; None when ``raw`` is not an arXiv id."""
    match = _BARE_ARXIV.match(raw.strip())
    if not match:
        return None
    return _arxiv_parts(match)


def arxiv_id_of_doi(doi: str) -> str | None:
    """"2502.09992" for arXiv's DataCite DOI 10.48550/arXiv.2502.09992; None otherwise."""
    if not doi.lower().startswith(ARXIV_DOI_PREFIX):
        return None
    found = normalize_arxiv_id(doi[len(ARXIV_DOI_PREFIX) :])
    return found[0] if found else None


# Internals ---------------------------------------------------------------------------------


def _show(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _arxiv_parts(match: re.Match[str]) -> tuple[str, int | None]:
    arxiv_id = match.group("id")
    if "/" in arxiv_id:
        archive, number = arxiv_id.split("/", 1)
        arxiv_id = f"{archive.split('.', 1)[0].lower()}/{number}"
    version = match.group("version")
    return arxiv_id, int(version) if version else None


def _arxiv_reference(arxiv_id: str, version: int | None) -> Reference:
    return Reference(arxiv_url(arxiv_id), arxiv_id=arxiv_id, arxiv_version=version)


def _doi_reference(raw: str) -> Reference | None:
    doi = unquote(raw).strip().rstrip(".,;").lower()
    if not re.fullmatch(r"10\.\d{4,9}/\S+", doi):
        return None
    return Reference(doi_url(doi), doi=doi)


def _parse(text: str) -> Reference:
    if not isinstance(text, str):
        raise ValueError(f"not a web address: {_show(text)}")
    raw = text.strip()
    if not raw or any(c in raw for c in "\x00\r\n\t"):
        raise ValueError(f"not a web address: {_show(text)}")

    if arxiv := normalize_arxiv_id(raw):
        return _arxiv_reference(*arxiv)
    if (doi_match := _DOI.match(raw)) and (ref := _doi_reference(doi_match.group("doi"))):
        return ref

    if "://" not in raw and not raw.lower().startswith(("http:", "https:")):
        # "arxiv.org/abs/..." or "www.example.com/page": a host name first, no scheme.
        head = raw.split("/", 1)[0]
        if ":" in head.split("]")[-1] and not re.fullmatch(r"[^:]+:\d+", head):
            raise ValueError(
                f"not a web address: {_show(text)} (only http and https links can be saved)"
            )
        if "." not in head or " " in raw:
            raise ValueError(f"not a web address: {_show(text)}")
        raw = "https://" + raw

    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ValueError(
            f"not a web address: {_show(text)} (only http and https links can be saved)"
        )
    host = (parts.hostname or "").rstrip(".").lower()
    if not host or not re.fullmatch(r"[\w.\-]+|[0-9a-f:.]+", host) or " " in raw:
        raise ValueError(f"not a web address: {_show(text)} (no valid host name)")
    port = parts.port  # raises ValueError for a port that is not a number in range

    path = parts.path
    if host in ARXIV_HOSTS | ALPHAXIV_HOSTS | HF_HOSTS:
        if ref := _arxiv_from_path(host, path):
            return ref
    if host in DOI_HOSTS and (ref := _doi_reference(path.lstrip("/"))):
        return ref
    if host in X_HOSTS:
        return _x_reference(path)

    if (scheme, port) in {("http", 80), ("https", 443)}:
        port = None
    if scheme == "http" and port is None:
        scheme = "https"  # the same page; only a non-default port suggests a plain-HTTP server
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = quote(path, safe=_SAFE_PATH)
    path = path.rstrip("/") if path.strip("/") else ""
    query = _clean_query(parts.query)
    return Reference(f"{scheme}://{netloc}{path or '/'}" + (f"?{query}" if query else ""))


def _arxiv_from_path(host: str, path: str) -> Reference | None:
    path = unquote(path)
    if host in HF_HOSTS:
        prefixes: tuple[str, ...] = ("/papers/",)
    elif host in ALPHAXIV_HOSTS:
        prefixes = ("/abs/", "/overview/", "/pdf/")
    else:
        prefixes = ("/abs/", "/pdf/", "/html/", "/format/", "/ps/")
    for prefix in prefixes:
        if path.startswith(prefix):
            rest = path[len(prefix) :].strip("/")
            rest = re.sub(r"\.pdf$", "", rest, flags=re.IGNORECASE)
            match = ARXIV_ID.fullmatch(rest)
            if match:
                return _arxiv_reference(*_arxiv_parts(match))
    return None


def _x_reference(path: str) -> Reference:
    status = _X_STATUS.match(path)
    if status:
        handle = (status.group("handle") or "i").lower()
        tweet_id = status.group("id")
        return Reference(f"https://x.com/{handle}/status/{tweet_id}", tweet_id=tweet_id,
                         handle=None if handle == "i" else handle)  # fmt: skip
    profile = _X_HANDLE.match(path)
    if profile:
        handle = profile.group("handle").lower()
        return Reference(f"https://x.com/{handle}", handle=handle)
    path = quote(path, safe=_SAFE_PATH).rstrip("/")
    return Reference(f"https://x.com{path or '/'}")  # every query on x.com is tracking or UI state


def _clean_query(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        key = unquote_plus(pair.split("=", 1)[0]).strip().lower()
        if key in _TRACKING_EXACT or key.startswith(_TRACKING_PREFIXES):
            continue
        kept.append(quote(pair, safe=_SAFE_QUERY))
    return "&".join(kept)
