"""The tests' one way to wait for a condition that sends no event (a file, a CLI's output, a
browser's page): poll it until it holds, within a generous deadline. Waits on messages use the
DDS client's `wait_until` (woken by every message); sleeps remain only where time itself is the
behaviour under test, each with a comment saying so."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(predicate: Callable[[], T], timeout: float, what: str, poll: float = 0.05) -> T:
    """The first truthy value of `predicate()`; TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        pause.wait(poll)
