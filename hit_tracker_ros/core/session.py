"""A tracking session: one tracker plus the track's identity, counters and state changes.

The node and the offline tools drive the same session: `start` on a frame with a box, `step` on
every following frame, `stop` to return to IDLE.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from .tracker import FrameSizeError, Tracker
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


def new_track_id() -> str:
    """A random 12-hex-digit track identifier."""
    return uuid.uuid4().hex[:12]


class TrackingSession:
    """Runs a `Tracker` for one target at a time.

    max_lost_frames: a track LOST for that many consecutive frames ends (IDLE, with the reason);
    0 keeps LOST tracks forever."""

    def __init__(self, tracker: Tracker, max_lost_frames: int = 0) -> None:
        self.tracker = tracker
        self.max_lost_frames = max_lost_frames
        self.track_id = ""
        self.label = ""
        self.frames_tracked = 0
        self.frames_lost = 0
        self.message = "waiting for a target"
        self._last_state = TrackState.IDLE

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
        self.frames_lost = 0
        self.message = "initialized"
        self._last_state = TrackState.TRACKING
        return used

    def reacquire(self, frame: np.ndarray, box: np.ndarray, reason: str) -> np.ndarray:
        """Re-initialize the running track on `box` (same track id and label), e.g. when a
        detector finds the lost target again."""
        used = self.tracker.initialize(frame, box)
        self.frames_lost = 0
        self.message = reason
        self._last_state = TrackState.TRACKING
        return used

    def stop(self, reason: str = "stopped") -> None:
        """Return to IDLE."""
        self.tracker.reset()
        self.track_id = ""
        self.label = ""
        self.message = reason
        self._last_state = TrackState.IDLE

    def step(self, frame: np.ndarray) -> StepOutcome:
        """Track one frame (IDLE sessions just report IDLE)."""
        if self.tracker.state == TrackState.IDLE:
            return self._outcome(None, 0.0, {})
        try:
            result = self.tracker.track(frame)
        except FrameSizeError as exc:
            self.stop(f"stopped: {exc}")
            return self._outcome(None, 0.0, {})
        except Exception as exc:  # noqa: BLE001 - a tracker failure ends the track, not the caller
            self.stop(f"stopped: the tracker failed on this frame ({exc!r})")
            return self._outcome(None, 0.0, {}, error=self.message)
        self.frames_tracked += 1
        self.frames_lost = self.frames_lost + 1 if result.state == TrackState.LOST else 0
        if self.max_lost_frames and self.frames_lost >= self.max_lost_frames:
            self.stop(f"stopped: lost for {self.frames_lost} frames (max_lost_frames)")
            return self._outcome(None, 0.0, result.timings_ms)
        if result.state != self._last_state:
            self.message = "score below threshold" if result.state == TrackState.LOST else "target reacquired"
            self._last_state = result.state
        return self._outcome(result.box, result.score, result.timings_ms)

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
