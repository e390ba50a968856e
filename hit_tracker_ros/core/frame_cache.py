"""Ring buffer of recent frames keyed by their stamp (nanoseconds)."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from .stamps import format_stamp

T = TypeVar("T")

NO_IMAGE_YET = "no image received yet"


class FrameCache(Generic[T]):
    """Keeps the last `capacity` items in arrival order, looked up by stamp."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("frame cache capacity must be at least 1")
        self._items: deque[tuple[int, T]] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def add(self, stamp_ns: int, item: T) -> None:
        self._items.append((stamp_ns, item))

    def newest(self) -> tuple[int, T]:
        """The most recent item; LookupError if empty."""
        if not self._items:
            raise LookupError(NO_IMAGE_YET)
        return self._items[-1]

    def find(self, stamp_ns: int, tolerance_ns: int = 0) -> tuple[int, T]:
        """The item whose stamp is nearest `stamp_ns` within `tolerance_ns`; LookupError
        with the reason (empty, older than the cache, not found) otherwise."""
        if not self._items:
            raise LookupError(NO_IMAGE_YET)
        oldest = self._items[0][0]
        if stamp_ns < oldest - tolerance_ns:
            raise LookupError(
                f"stamp {format_stamp(stamp_ns)} is older than the frame cache "
                f"({len(self._items)} frames, oldest {format_stamp(oldest)})"
            )
        stamp, item = min(self._items, key=lambda entry: abs(entry[0] - stamp_ns))
        if abs(stamp - stamp_ns) > tolerance_ns:
            raise LookupError(
                f"no cached frame with stamp {format_stamp(stamp_ns)} (nearest {format_stamp(stamp)}, "
                f"newest {format_stamp(self._items[-1][0])})"
            )
        return stamp, item

    def between(self, after_ns: int, until_ns: int) -> list[tuple[int, T]]:
        """Items with after_ns < stamp <= until_ns, in arrival order."""
        return [(s, item) for s, item in self._items if after_ns < s <= until_ns]
