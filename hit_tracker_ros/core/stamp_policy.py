"""Which incoming frames to process, judged by their header stamps alone.

Outputs are published in stamp order, so a frame stamped at or before the last accepted one is
late and dropped. A single wrong stamp must cost no more than its own frame, and a real clock
reset (a camera or a bag player starting over) must still be recognised. A frame off the
timeline (ahead of the last accepted one by more than 1.5 typical frame periods, or more than
`reset_window` behind it) is therefore *held*, and the next frame decides:

* it continues the held frame's timeline: time really jumped (or frames were lost in transport);
  both are processed, in order, and a jump backwards is reported as a clock reset;
* it continues the old timeline: the held frame was a single outlier, only it is dropped;
* it lies beyond a held frame that was ahead: frames were lost or the rate changed; the held
  frame is processed and this one is judged on its own (a late frame leaves the held one waiting);
* anything else: the held frame was the outlier, and this one is judged on its own.

What a held frame costs is one frame period of delay. The typical period is the median of the
last 15 stamp differences, so the policy adapts to the camera's rate; before 3 frames it assumes
2.5 Hz (a lenient 0.6 s tolerance).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

RESET_WINDOW_NS = 1_000_000_000
FORWARD_PERIODS = 1.5  # ahead by more than this many typical frame periods: held
DEFAULT_PERIOD_NS = 400_000_000  # until 3 frames show the rate: 2.5 Hz, a lenient 0.6 s tolerance
PERIOD_WINDOW = 15


@dataclass
class StampDecision(Generic[T]):
    """What to do with the frames seen so far: process `accept` in order, count `late` and
    `outliers` as dropped, stop running tracks when `clock_reset`."""

    accept: list[tuple[int, T]] = field(default_factory=list)
    late: int = 0
    outliers: int = 0
    held: bool = False
    clock_reset: bool = False
    jumped_forward: bool = False


class StampPolicy(Generic[T]):
    """Classifies frames by stamp (nanoseconds) as they arrive; cheap enough for a callback."""

    def __init__(self, reset_window_ns: int = RESET_WINDOW_NS) -> None:
        self.reset_window_ns = reset_window_ns
        self._last: int | None = None
        self._held: tuple[int, T] | None = None
        self._held_slack = 0  # late frames seen since the held one
        self._slack = 0  # outliers dropped since the last accepted frame (they took slots)
        self._periods: deque[int] = deque(maxlen=PERIOD_WINDOW)

    def reset(self) -> None:
        """Forget the timeline (e.g. when processing restarts)."""
        self._last, self._held = None, None
        self._slack = self._held_slack = 0
        self._periods.clear()

    @property
    def last_stamp_ns(self) -> int | None:
        """Stamp of the newest accepted frame."""
        return self._last

    def typical_period_ns(self) -> int:
        """Median stamp difference of recent consecutive accepted frames."""
        return int(statistics.median(self._periods)) if len(self._periods) >= 3 else DEFAULT_PERIOD_NS

    def push(self, stamp_ns: int, item: T) -> StampDecision[T]:
        decision: StampDecision[T] = StampDecision()
        if self._last is None:
            self._accept(stamp_ns, item, decision)
        elif self._held is None:
            self._judge(stamp_ns, item, decision)
        else:
            self._judge_with_held(stamp_ns, item, decision)
        return decision

    def _judge(self, stamp_ns: int, item: T, decision: StampDecision[T]) -> None:
        if self._continues(self._last, stamp_ns, self._slack):
            self._accept(stamp_ns, item, decision)
        elif self._last - self.reset_window_ns <= stamp_ns <= self._last:
            decision.late += 1
        else:
            self._held, self._held_slack = (stamp_ns, item), 0
            decision.held = True

    def _judge_with_held(self, stamp_ns: int, item: T, decision: StampDecision[T]) -> None:
        held_stamp, held_item = self._held
        held_ahead = held_stamp > self._last
        if self._continues(held_stamp, stamp_ns, self._held_slack):  # the timeline moved
            self._held = None
            decision.clock_reset = not held_ahead
            decision.jumped_forward = held_ahead
            if decision.clock_reset:
                self._periods.clear()
            self._accept(held_stamp, held_item, decision, new_timeline=True)
            self._accept(stamp_ns, item, decision)
        elif self._continues(self._last, stamp_ns, self._slack + 1):  # the held one took a slot
            self._held = None
            decision.outliers += 1
            self._accept(stamp_ns, item, decision)
        elif held_ahead and stamp_ns <= self._last:  # a late frame says nothing about the held one
            decision.late += 1
            self._held_slack += 1
        elif held_ahead and stamp_ns > held_stamp:  # followed by a later frame: a gap or a new rate
            self._held = None
            decision.jumped_forward = True
            self._accept(held_stamp, held_item, decision)  # its gap teaches the policy a new rate
            self._judge(stamp_ns, item, decision)
        else:  # the held frame was the outlier; judge this one on its own
            self._held = None
            decision.outliers += 1
            self._slack += 1
            self._judge(stamp_ns, item, decision)

    def _continues(self, after_ns: int, stamp_ns: int, slack: int) -> bool:
        """`stamp_ns` follows `after_ns` at the typical rate, `slack` frames having been dropped."""
        period = self.typical_period_ns()
        return after_ns < stamp_ns <= after_ns + int(FORWARD_PERIODS * period) + slack * period

    def _accept(self, stamp_ns: int, item: T, decision: StampDecision[T], new_timeline: bool = False) -> None:
        if self._last is not None and not new_timeline:
            self._periods.append(stamp_ns - self._last)
        self._last, self._slack = stamp_ns, 0
        decision.accept.append((stamp_ns, item))
