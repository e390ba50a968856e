"""A small progress line for long offline runs: count, rate, ETA (stderr, a few times a second)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(
        self, total: int, label: str = "frames", enabled: bool = True, period_s: float = 0.25
    ) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.tty = sys.stderr.isatty()
        self.period_s = period_s if self.tty else 5.0  # logs get a line every few seconds
        self._start = time.monotonic()
        self._last_print = 0.0
        self._done = 0

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if self.enabled and (now - self._last_print >= self.period_s or done == self.total):
            self._last_print = now
            sys.stderr.write(("\r" if self.tty else "") + self.line(now) + ("" if self.tty else "\n"))
            sys.stderr.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._start
        rate = self._done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self._done) / rate if rate > 0 else float("nan")
        pct = 100.0 * self._done / self.total if self.total else 100.0
        eta_text = time.strftime("%M:%S", time.gmtime(eta)) if eta == eta else "--:--"
        return f"{self.label} {self._done}/{self.total} ({pct:3.0f}%) {rate:6.1f}/s ETA {eta_text}"

    def close(self) -> None:
        if self.enabled and (self.tty or self._done != self.total):
            sys.stderr.write(("\r" if self.tty else "") + self.line() + "\n")
            sys.stderr.flush()
