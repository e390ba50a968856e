"""What protects the robot from the page: the token every state-changing request must carry when
one is set, and a rate limit on init requests per client."""

from __future__ import annotations

import hmac
import time


def token_ok(expected: str, given: str | None) -> bool:
    """No token configured: everything is allowed (the server binds to localhost by default)."""
    if not expected:
        return True
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


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
