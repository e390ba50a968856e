"""The bridge's queue of commands that need the tracker, with the rules ground stations rely on:
a command takes effect promptly or is refused (one that waited longer than `max_age_s` behind
others is refused when its turn comes), a newer track or stop command from a sender replaces
its older queued one, and a retransmission (the same command from the same sender again, with
`confirmation` > 0) never runs twice: while the first is queued or running it is answered
IN_PROGRESS, and shortly after, with the first one's result.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .camera_protocol import Command

MAX_AGE_S = 1.0  # a command queued longer than this is refused when its turn comes
MAX_QUEUED = 64
REMEMBER_S = 5.0  # results kept for answering a retransmission whose first ACK was lost


@dataclass
class Queued:
    command: Command
    action: Any  # TrackRequest | StopRequest
    queued_at: float


def _key(command: Command) -> tuple[tuple[int, int], int, tuple[float, ...]]:
    return command.source, command.command, command.params


class CommandQueue:
    """Thread-safe between the reader (put) and the command thread (take, done)."""

    def __init__(self, max_age_s: float = MAX_AGE_S, clock=time.monotonic) -> None:
        self.max_age_s, self._clock = max_age_s, clock
        self._queue: deque[Queued] = deque()
        self._running: Queued | None = None
        self._results: dict[tuple, tuple[float, int, str]] = {}  # key -> (when, result, reason)
        self._cond = threading.Condition()

    def retransmission(self, command: Command) -> tuple[str, int, str] | None:
        """For a retransmitted command: ("in_progress", ...) while the first runs or waits,
        ("result", result, reason) when it finished lately; None for a command to run."""
        if command.confirmation == 0:
            return None
        key = _key(command)
        with self._cond:
            pending = [self._running] if self._running else []
            if any(_key(q.command) == key for q in [*pending, *self._queue]):
                return "in_progress", 0, ""
            remembered = self._results.get(key)
            if remembered and self._clock() - remembered[0] <= REMEMBER_S:
                return "result", remembered[1], remembered[2]
        return None

    def put(self, command: Command, action: Any) -> list[Queued]:
        """Queue a command; returns the queued commands it replaces (the same sender's older track
        or stop commands), to be refused. OverflowError when the queue is full."""
        with self._cond:
            replaced = [q for q in self._queue if q.command.source == command.source]
            if len(self._queue) - len(replaced) >= MAX_QUEUED:
                raise OverflowError("camera busy: too many commands")
            self._queue = deque(q for q in self._queue if q.command.source != command.source)
            self._queue.append(Queued(command, action, self._clock()))
            self._cond.notify_all()
        return replaced

    def take(self, timeout: float) -> tuple[Queued, bool] | None:
        """The next command and whether it is still fresh (False: refuse it, it waited too long)."""
        with self._cond:
            if not self._queue and not self._cond.wait_for(lambda: bool(self._queue), timeout):
                return None
            item = self._queue.popleft()
            self._running = item
            return item, self._clock() - item.queued_at <= self.max_age_s

    def done(self, item: Queued, result: int, reason: str) -> None:
        """Remember the result of the command taken last (for its retransmissions)."""
        now = self._clock()
        with self._cond:
            self._running = None
            self._results[_key(item.command)] = (now, result, reason)
            self._results = {k: v for k, v in self._results.items() if now - v[0] <= REMEMBER_S}

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)
