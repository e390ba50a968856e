"""What protects the robot from the page: the token every state-changing request must carry when
one is set, the origin check that keeps other sites' pages from reading the video or sending
requests, and a rate limit on init requests per client."""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlsplit


def token_ok(expected: str, given: str | None) -> bool:
    """No token configured: everything is allowed (the server binds to localhost by default)."""
    if not expected:
        return True
    if given is None or not given.isascii():  # tokens are ASCII; other header bytes never match
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def origin_ok(origin: str | None, host: str | None, allowed: tuple[str, ...] = ()) -> bool:
    """Whether a request may come from `origin` (the browser's Origin header): the page's own
    origin (same host and port as the request), or one of `allowed` (a reverse proxy's public
    origin). Without an Origin header the client is not a browser page (curl, a script): no other
    site's page can be reading through it, and the token still guards changes."""
    if origin is None:
        return True
    if origin in allowed:
        return True
    try:
        parsed = urlsplit(origin)
        netloc = parsed.netloc
    except ValueError:  # e.g. "http://[::1"
        return False
    return parsed.scheme in ("http", "https") and bool(host) and netloc.lower() == host.lower()


class RateLimit:
    """A token bucket per client: `rate` requests per second, bursts of `burst`."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str) -> bool:
        now = self._clock()
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > 1024:  # forget idle clients
            self._buckets = dict(list(self._buckets.items())[-512:])
        return allowed
