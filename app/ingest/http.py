"""SafeClient: the one HTTP client every outbound fetch goes through.

A user saves any URL, and the worker fetches it from inside the network Lectern runs in, so a
fetch must not reach what only that network can reach (SSRF): the cloud metadata service at
169.254.169.254, a database on 127.0.0.1, a router on 192.168.0.1.

The address check sits where the socket is opened, in an httpcore network backend: the host is
resolved once, every address is checked, and the connection goes to a checked address while the
URL, the Host header and TLS (SNI and certificate) keep the name. A DNS answer that changes
between a check and the connect (rebinding) therefore cannot slip through, and neither can a
redirect: each hop opens its own connection through the same backend. Redirects are followed
here, at most ``MAX_REDIRECTS``, each one checked again for its scheme.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpcore
import httpx

from app.ingest.base import ResolveError

if TYPE_CHECKING:
    from app.config import Settings

MAX_REDIRECTS = 5
USER_AGENT = "Lectern/0.1 (self-hosted reading library)"
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024

# (host, port) -> IP address strings. Tests pass one that answers for made-up names.
HostResolver = Callable[[str, int], list[str]]


class FetchError(ResolveError):
    """A fetch failed; the message names the URL and the reason in words a user can act on."""


class AddressRefused(FetchError):
    """The URL leads to an address Lectern does not fetch from (loopback, private, metadata ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(slots=True)
class FetchResult:
    url: str  # after redirects
    status: int
    headers: httpx.Headers
    content_type: str  # media type only, lower-cased: "application/pdf", "text/html"
    content: bytes
    redirects: tuple[str, ...] = ()  # the URLs that answered with a redirect, in order

    @property
    def charset(self) -> str | None:
        match = re.search(r"charset=[\"']?([\w\-]+)", self.headers.get("content-type", ""), re.I)
        return match.group(1) if match else None

    @property
    def text(self) -> str:
        """The body decoded by its declared charset, else UTF-8 (with replacement)."""
        for encoding in (self.charset, "utf-8"):
            if encoding:
                try:
                    return self.content.decode(encoding)
                except (LookupError, UnicodeDecodeError):
                    continue
        return self.content.decode("utf-8", errors="replace")


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def refusal_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``address`` is not fetched from, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            reason = refusal_reason(embedded)
            return f"{reason} inside an IPv6 address" if reason else None
    checks = [
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private-network address"),
    ]
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.IPv4Network(
        "100.64.0.0/10"
    ):
        return "a carrier-grade NAT address"
    if not address.is_global:
        return "a non-public address"
    return None


def parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally, including odd IPv4 spellings the C library accepts
    ("2130706433", "0x7f000001", "0177.0.0.1", "127.1")."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}", host, re.I):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _is_standard_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class AddressPolicy:
    """Which addresses a host may be reached at. Allow-list entries match the URL's host as
    written (names case-insensitively, IP literals by value), never what a name resolves to, so
    a DNS answer cannot borrow an allowed intranet address."""

    def __init__(self, allow_hosts: Iterable[str], resolver: HostResolver) -> None:
        self.resolver = resolver
        self.allow_names: set[str] = set()
        self.allow_ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        for entry in allow_hosts:
            entry = entry.strip().lower().rstrip(".")
            ip = parse_ip(entry)
            if (
                ip is not None
                and re.fullmatch(r"[0-9.]+|[0-9a-f:.\[\]]+", entry)
                and ("." in entry or ":" in entry)
            ):
                self.allow_ips.add(ip)
            else:
                self.allow_names.add(entry)

    def is_allowed_host(self, host: str) -> bool:
        host = host.lower().rstrip(".").strip("[]")
        if host in self.allow_names:
            return True
        try:
            return ipaddress.ip_address(host) in self.allow_ips  # standard notation only
        except ValueError:
            return False

    def addresses(self, host: str, port: int) -> list[str]:
        """Addresses to connect to, or AddressRefused."""
        allowed = self.is_allowed_host(host)
        literal = parse_ip(host)
        if literal is not None:
            reason = None if allowed else refusal_reason(literal)
            if reason:
                shown = host if _is_standard_literal(host) else f"{host} (that is {literal})"
                raise AddressRefused(f"refused to fetch from {shown}: {reason}")
            return [str(literal)]
        try:
            found = self.resolver(host, port)
        except socket.gaierror as exc:
            transient = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", -11))
            raise FetchError(
                f"could not find the host {host} ({exc.strerror})", transient=transient
            ) from exc
        if not found:
            raise FetchError(f"could not find the host {host}", transient=True)
        if allowed:
            return found
        usable, refused = [], []
        for text in found:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            reason = refusal_reason(address)
            (refused if reason else usable).append((text, reason))
        if not usable:
            text, reason = refused[0]
            raise AddressRefused(f"refused to fetch from {host}: it resolves to {text}, {reason}")
        return [text for text, _ in usable]


class _GuardedBackend(httpcore.SyncBackend):
    """Connects only to addresses the policy allows (resolved here, once per connection)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self.policy.addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
        raise AddressRefused("refused to fetch from a Unix socket")


class SafeClient:
    """``get(url)`` with the SSRF checks, redirects, a byte cap and a total timeout.

    ``resolver`` replaces DNS (tests make "papers.example.org" answer 127.0.0.1). Use as a context
    manager, or call ``close()``, to release pooled connections.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: HostResolver | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.settings = settings
        self.policy = AddressPolicy(settings.fetch_allow_hosts, resolver or system_resolver)
        self.user_agent = user_agent
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_GuardedBackend(self.policy),
            max_connections=10,
            keepalive_expiry=30.0,
        )

    def __enter__(self) -> SafeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    def get(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> FetchResult:
        """Fetch ``url``; FetchError (``transient`` says whether a retry may help) otherwise.

        A 4xx or 5xx answer is an error too: "... answered 404 Not Found".
        """
        max_bytes = self.settings.fetch_max_bytes if max_bytes is None else max_bytes
        timeout = self.settings.fetch_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        redirects: list[str] = []
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parsed = self._check_url(current)
            result = self._fetch_once(parsed, headers or {}, max_bytes, deadline, timeout)
            if result.status in _REDIRECTS and "location" in result.headers:
                redirects.append(str(parsed))
                try:
                    current = str(parsed.join(result.headers["location"].strip()))
                except httpx.InvalidURL as exc:
                    raise FetchError(
                        f"{parsed.host} redirected to an invalid address", transient=False
                    ) from exc
                continue
            if result.status >= 400:
                raise _status_error(parsed, result.status)
            result.redirects = tuple(redirects)
            return result
        raise FetchError(
            f"too many redirects (more than {MAX_REDIRECTS}) from {url}", transient=False
        )

    # Internals -----------------------------------------------------------------------------

    def _check_url(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise FetchError(f"not a web address: {url!r}", transient=False) from exc
        if parsed.scheme not in {"http", "https"}:
            raise AddressRefused(f"refused to fetch {url!r}: only http and https links are fetched")
        if not parsed.host:
            raise FetchError(f"not a web address: {url!r} (no host)", transient=False)
        return parsed

    def _fetch_once(
        self,
        url: httpx.URL,
        extra_headers: dict[str, str],
        max_bytes: int,
        deadline: float,
        timeout: float,
    ) -> FetchResult:
        request_headers = {
            "Host": url.netloc.decode("ascii"),
            "User-Agent": self.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            **extra_headers,
        }
        target = url.raw_path or b"/"
        core_url = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=target
        )
        try:
            remaining = _remaining(deadline, timeout, url)
            with self._pool.stream(
                "GET",
                core_url,
                headers=list(request_headers.items()),
                extensions={
                    "timeout": dict.fromkeys(("connect", "read", "write", "pool"), remaining)
                },
            ) as response:
                response_headers = httpx.Headers(
                    [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
                )
                status = response.status
                if status in _REDIRECTS or status >= 400:
                    content = b""  # not read: only the status and the Location matter
                else:
                    content = _read_body(
                        response, response_headers, max_bytes, deadline, timeout, url
                    )
        except FetchError:
            raise
        except httpcore.TimeoutException as exc:
            raise FetchError(
                f"{url.host} did not answer within {timeout:g} s", transient=True
            ) from exc
        except httpcore.ConnectError as exc:
            raise FetchError(
                f"could not connect to {url.host} ({_reason(exc)})", transient=True
            ) from exc
        except (httpcore.NetworkError, httpcore.RemoteProtocolError) as exc:
            raise FetchError(
                f"the connection to {url.host} failed ({_reason(exc)})", transient=True
            ) from exc
        except (httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise FetchError(
                f"{url.host} sent an invalid answer ({_reason(exc)})", transient=False
            ) from exc
        media_type = response_headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return FetchResult(str(url), status, response_headers, media_type, content)


def _read_body(
    response: httpcore.Response,
    headers: httpx.Headers,
    max_bytes: int,
    deadline: float,
    timeout: float,
    url: httpx.URL,
) -> bytes:
    too_big = FetchError(f"{url} is larger than the {max_bytes:,} byte limit", transient=False)
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes and not headers.get("content-encoding"):
        raise too_big
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in {"gzip", "x-gzip"}:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding in {"identity", ""}:
        decoder = None
    else:
        raise FetchError(
            f"{url.host} sent an unsupported content encoding ({encoding})", transient=False
        )
    body = bytearray()
    for chunk in response.iter_stream():
        if decoder is not None:
            try:
                # max_length bounds what one chunk may inflate to: a zip bomb stops at the cap.
                chunk = decoder.decompress(chunk, max_bytes - len(body) + 1)
            except zlib.error as exc:
                raise FetchError(
                    f"{url.host} sent a corrupt compressed body", transient=True
                ) from exc
        body += chunk
        if len(body) > max_bytes:
            raise too_big
        if time.monotonic() > deadline:
            raise FetchError(f"{url.host} did not finish within {timeout:g} s", transient=True)
    if decoder is not None:
        body += decoder.flush()
        if len(body) > max_bytes:
            raise too_big
    return bytes(body)


def _remaining(deadline: float, timeout: float, url: httpx.URL) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"{url.host} did not finish within {timeout:g} s", transient=True)
    return remaining


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if "refused" in text.lower():
        return "connection refused"
    return text[:200] or type(exc).__name__


def _status_error(url: httpx.URL, status: int) -> FetchError:
    phrase = httpx.codes.get_reason_phrase(status) or "Error"
    transient = status >= 500 or status in {408, 425, 429}
    return FetchError(f"{url.host} answered {status} {phrase} for {url}", transient=transient)
