"""Login throttling by client address, and how that address is found.

Failed logins are counted per address in a sliding window; past the limit the address waits. The
address is the TCP peer's, unless that peer is a proxy named in ``trusted_proxies``: only then is
X-Forwarded-For read (from the right, skipping trusted proxies), so a client cannot pick its own
address by sending the header itself.

The counts live in the web process (one Services object per app); a restart forgets them.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence


def _networks(entries: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return nets


def _in(address: str, nets) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the peer, or what a trusted proxy says it forwarded for."""
    peer = peer or "unknown"
    nets = _networks(trusted_proxies)
    if not forwarded_for or not _in(peer, nets):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, nets):
            return hop
    return hops[0] if hops else peer


class LoginThrottle:
    def __init__(self, max_failures: int = 10, window_seconds: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, key: str) -> float:
        """Seconds this address must wait before trying again (0 when it may try now)."""
        with self._lock:
            now = self.clock()
            failures = self._recent(key, now)
            if len(failures) < self.max_failures:
                return 0.0
            return max(failures[0] + self.window - now, 1.0)

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key, self.clock()).append(self.clock())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
