"""A tracking session: one tracker plus the track's identity, counters and state changes.

The node and the offline tools drive the same session: `start` on a frame with a box, `step` on
every following frame, `stop` to return to IDLE.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .reacquire import ReacquireSettings, WindowCycle, window_grid
from .timing import StageTimer
from .tracker import FrameSizeError, Step, Tracker
from .types import TrackState


@dataclass(frozen=True)
class StepOutcome:
    """What a session reports for one frame."""

    state: TrackState
    box: np.ndarray | None  # [x, y, w, h] pixels; None while IDLE
    score: float
    track_id: str
    label: str
    frames_tracked: int
    frames_lost: int
    message: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str = ""  # set when the tracker failed on this frame (the track ended)


def idle_outcome(message: str) -> StepOutcome:
    """The outcome of a frame with no target at all."""
    return StepOutcome(TrackState.IDLE, None, 0.0, "", "", 0, 0, message)


def new_track_id() -> str:
    """A random 12-hex-digit track identifier."""
    return uuid.uuid4().hex[:12]


@dataclass
class SessionStep:
    """A session's work for one frame: the feeds of the network calls it needs (the track's own,
    then its re-acquisition windows), and what turns their outputs into the frame's outcome."""

    feeds: list[dict[str, np.ndarray]]
    complete: Callable[[list[dict[str, np.ndarray]]], StepOutcome]
    timer: StageTimer = field(default_factory=StageTimer)  # the frame's stage times (inference too)


@dataclass
class ReacquireStats:
    """What re-acquisition cost and found (for diagnostics)."""

    windows_scored: int = 0
    frames_searched: int = 0
    reacquired: int = 0
    last_best_score: float = math.nan


class TrackingSession:
    """Runs a `Tracker` for one target at a time.

    max_lost_frames: a track LOST for that many consecutive frames ends (IDLE, with the reason);
    0 keeps LOST tracks forever. reacquire: when and how a LOST track searches the whole image."""

    def __init__(
        self,
        tracker: Tracker,
        max_lost_frames: int = 0,
        reacquire: ReacquireSettings | None = None,
        reacquire_stats: ReacquireStats | None = None,
    ) -> None:
        """reacquire_stats: where to count (sessions of one node share theirs)."""
        self.tracker = tracker
        self.max_lost_frames = max_lost_frames
        self.reacquire_settings = reacquire or ReacquireSettings()
        self.reacquire_stats = reacquire_stats or ReacquireStats()
        self.track_id = ""
        self.label = ""
        self.frames_tracked = 0
        self.frames_lost = 0
        self.message = "waiting for a target"
        self._last_state = TrackState.IDLE
        self._last_box: np.ndarray | None = None
        self._windows: WindowCycle | None = None

    @property
    def state(self) -> TrackState:
        return self.tracker.state

    def start(
        self, frame: np.ndarray, box: np.ndarray, label: str = "", track_id: str | None = None
    ) -> np.ndarray:
        """Initialize on `frame`; returns the box used (clipped to the image). Raises
        InvalidBoxError / ValueError on bad input, leaving the previous track untouched."""
        used = self.tracker.initialize(frame, box)
        self.track_id = track_id or new_track_id()
        self.label = label
        self.frames_tracked = 0
        self._tracking_again(used, "initialized")
        return used

    def reacquire(self, frame: np.ndarray, box: np.ndarray, reason: str) -> np.ndarray:
        """Re-initialize the running track on `box` (same track id and label), e.g. when a
        detector finds the lost target again."""
        used = self.tracker.initialize(frame, box)
        self._tracking_again(used, reason)
        return used

    def _tracking_again(self, box: np.ndarray, message: str) -> None:
        self.frames_lost = 0
        self.message = message
        self._last_state = TrackState.TRACKING
        self._last_box = np.asarray(box, dtype=np.float64)
        self._windows = None

    def stop(self, reason: str = "stopped") -> None:
        """Return to IDLE."""
        self.tracker.reset()
        self.track_id = ""
        self.label = ""
        self.message = reason
        self._last_state = TrackState.IDLE
        self._windows = None

    def step(self, frame: np.ndarray) -> StepOutcome:
        """Track one frame (IDLE sessions just report IDLE)."""
        work = self.plan(frame)
        if not work.feeds:
            return work.complete([])
        try:
            outputs = self.tracker.run_batch(work.feeds, work.timer)
        except Exception as exc:  # noqa: BLE001 - a backend failure ends the track, not the caller
            return self.fail(exc)
        return work.complete(outputs)

    def plan(self, frame: np.ndarray) -> SessionStep:
        """The frame's network work (to run alone, or batched with other sessions' by a caller)."""
        if self.tracker.state == TrackState.IDLE:
            return SessionStep([], lambda _: self._outcome(None, 0.0, {}))
        try:
            step = self.tracker.plan(frame)
            windows = self._plan_windows(frame)
        except FrameSizeError as exc:
            self.stop(f"stopped: {exc}")
            return SessionStep([], lambda _: self._outcome(None, 0.0, {}))
        except Exception as exc:  # noqa: BLE001 - a tracker failure ends the track, not the caller
            outcome = self.fail(exc)
            return SessionStep([], lambda _: outcome)
        planned = [step] + windows
        feeds = [p.feeds for p in planned if p.feeds is not None]

        def complete(outputs: list[dict[str, np.ndarray]]) -> StepOutcome:
            rows = iter(outputs)
            try:
                result = self.tracker.finish(step, next(rows) if step.feeds is not None else None)
                found = [
                    self.tracker.finish_window(w, next(rows) if w.feeds is not None else None)
                    for w in windows
                ]
            except Exception as exc:  # noqa: BLE001
                return self.fail(exc)
            return self._conclude(frame, result, found)

        return SessionStep(feeds, complete, step.timer)

    def fail(self, exc: Exception) -> StepOutcome:
        """End the track because the tracker (or its backend) failed on this frame."""
        self.stop(f"stopped: the tracker failed on this frame ({exc!r})")
        return self._outcome(None, 0.0, {}, error=self.message)

    def _plan_windows(self, frame: np.ndarray) -> list[Step]:
        """Re-acquisition windows for this frame, when the track has been LOST long enough."""
        settings = self.reacquire_settings
        if not (
            settings.enabled and self.frames_lost >= settings.after_frames and self._last_box is not None
        ):
            return []
        if self._windows is None:
            side = self.tracker.search_side(self._last_box)
            self._windows = WindowCycle(window_grid(self.tracker.image_size, self._last_box, side))
        return [
            self.tracker.plan_window(frame, box) for box in self._windows.take(settings.windows_per_frame)
        ]

    def _conclude(self, frame: np.ndarray, result, found: list[tuple[np.ndarray, float]]) -> StepOutcome:
        self.frames_tracked += 1
        self.frames_lost = self.frames_lost + 1 if result.state == TrackState.LOST else 0
        box, score, timings = result.box, result.score, result.timings_ms
        if found:
            stats = self.reacquire_stats
            stats.windows_scored += len(found)
            stats.frames_searched += 1
            best_box, best_score = max(found, key=lambda item: item[1])
            stats.last_best_score = best_score
            if result.state == TrackState.LOST and best_score >= self.reacquire_settings.threshold:
                self.tracker.relocate(frame, best_box)
                stats.reacquired += 1
                self._tracking_again(best_box, "re-acquired")
                return self._outcome(best_box, best_score, timings)
        if self.max_lost_frames and self.frames_lost >= self.max_lost_frames:
            self.stop(f"stopped: lost for {self.frames_lost} frames (max_lost_frames)")
            return self._outcome(None, 0.0, timings)
        if result.state == TrackState.TRACKING:
            self._last_box = box
            self._windows = None
        if result.state != self._last_state:
            self.message = "score below threshold" if result.state == TrackState.LOST else "target reacquired"
            self._last_state = result.state
        return self._outcome(box, score, timings)

    def _outcome(
        self, box: np.ndarray | None, score: float, timings: dict[str, float], error: str = ""
    ) -> StepOutcome:
        return StepOutcome(
            state=self.tracker.state,
            box=box,
            score=score,
            track_id=self.track_id,
            label=self.label,
            frames_tracked=self.frames_tracked,
            frames_lost=self.frames_lost,
            message=self.message,
            timings_ms=timings,
            error=error,
        )
