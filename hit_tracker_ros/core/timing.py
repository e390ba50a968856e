"""Per-stage wall-clock timing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates wall time per named stage (milliseconds)."""

    def __init__(self) -> None:
        self.times_ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block and add it to stage `name`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - start) * 1e3
            self.times_ms[name] = self.times_ms.get(name, 0.0) + elapsed
