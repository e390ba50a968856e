"""Sliding-window rate and latency statistics (for diagnostics and benchmarks)."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np


class RateMeter:
    """Events per second over the last `window_s` seconds."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and self._times[0] < now - self.window_s:
                self._times.popleft()
            return len(self._times) / self.window_s


class SampleWindow:
    """The last `size` samples of a quantity, summarized as median / p90 / mean."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(float(value))

    def summary(self) -> dict[str, float]:
        """{'median', 'p90', 'mean', 'count'}; NaN statistics when empty."""
        with self._lock:
            values = np.array(self._values, dtype=np.float64)
        if values.size == 0:
            return {"median": float("nan"), "p90": float("nan"), "mean": float("nan"), "count": 0}
        return {
            "median": float(np.median(values)),
            "p90": float(np.percentile(values, 90)),
            "mean": float(values.mean()),
            "count": int(values.size),
        }
