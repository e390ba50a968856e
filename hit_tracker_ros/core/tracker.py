"""The tracker interface every model family implements."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .boxes import BoxLimits, clip_to_image, validate_box
from .timing import StageTimer
from .types import TrackResult, TrackState

DEFAULT_SCORE_THRESHOLD = 0.25

# network outputs (None: the step needed none) -> ([x, y, w, h], score)
Completion = Callable[[dict | None], tuple[np.ndarray, float]]


@dataclass
class Step:
    """A planned step: the feeds of the one network call it needs (batch 1; None: none), and how
    the outputs become a box and a score."""

    feeds: dict[str, np.ndarray] | None
    complete: Completion
    timer: StageTimer
    image_size: tuple[int, int]


def completed(step: Step, outputs: dict[str, np.ndarray] | None) -> tuple[np.ndarray, float]:
    """A step's box clipped to its image and its score in [0, 1] (NaN: 0), for a track's step and a
    re-acquisition window alike."""
    box, score = step.complete(outputs)
    score = float(np.clip(score, 0.0, 1.0)) if np.isfinite(score) else 0.0
    return clip_to_image(np.asarray(box, dtype=np.float64), step.image_size), score


class FrameSizeError(ValueError):
    """A frame whose size differs from the frame the tracker was initialized on."""


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Require an H x W x 3 uint8 RGB frame; returns it C-contiguous."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError("frames must be numpy uint8 arrays (H x W x 3, RGB)")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frames must be H x W x 3 RGB, got shape {frame.shape}")
    return np.ascontiguousarray(frame)


class Tracker(ABC):
    """Single-target tracker: `initialize(frame, box)`, then `track(frame)` per frame.

    Subclasses implement `_initialize` and `_track`; this class validates inputs, keeps the
    state and applies the LOST rule with hysteresis: a score below `score_threshold` enters LOST,
    and a LOST track returns to TRACKING only at `recover_threshold` or above (never below
    `score_threshold`), so a score hovering at the threshold does not flicker the state.
    """

    model: str = ""
    backend: str = ""
    # Initial boxes this tracker can follow; the node validates init requests against them.
    box_limits: BoxLimits = BoxLimits()

    def __init__(self, score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must lie in [0, 1], got {score_threshold}")
        self.score_threshold = float(score_threshold)
        self.recover_threshold = float(score_threshold)
        # How the backend was chosen (for diagnostics): selection report, verification, engine.
        self.backend_info: dict[str, str] = {}
        self._state = TrackState.IDLE
        self._image_size: tuple[int, int] | None = None

    @property
    def state(self) -> TrackState:
        """IDLE before `initialize` (or after `reset`), else TRACKING or LOST."""
        return self._state

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the frames of the current track."""
        return self._image_size

    def initialize(self, frame: np.ndarray, box: Sequence[float] | np.ndarray) -> np.ndarray:
        """Start tracking the target in `box` = [x, y, w, h]; returns the (clipped) box used."""
        frame = check_frame(frame)
        size = (frame.shape[1], frame.shape[0])
        start_box = validate_box(box, size, self.box_limits)
        self._initialize(frame, start_box)
        self._image_size = size
        self._state = TrackState.TRACKING
        return start_box

    def plan(self, frame: np.ndarray) -> Step:
        """The first half of `track`: validate the frame and prepare what the network needs. A
        caller that batches several trackers runs the feeds of many plans in one call."""
        if self._state == TrackState.IDLE:
            raise RuntimeError("track() called before initialize()")
        frame = check_frame(frame)
        size = (frame.shape[1], frame.shape[0])
        if size != self._image_size:
            raise FrameSizeError(
                f"frame size {size[0]}x{size[1]} differs from the track's "
                f"{self._image_size[0]}x{self._image_size[1]}"
            )
        timer = StageTimer()
        feeds, complete = self._plan(frame, timer)
        return Step(feeds, complete, timer, size)

    def finish(self, step: Step, outputs: dict[str, np.ndarray] | None = None) -> TrackResult:
        """The second half: the box from the network outputs (None when the plan had no feeds),
        clipped, and the state from the score (with hysteresis)."""
        box, score = completed(step, outputs)
        needed = self.score_threshold
        if self._state == TrackState.LOST:
            needed = max(self.recover_threshold, self.score_threshold)
        self._state = TrackState.TRACKING if score >= needed else TrackState.LOST
        return TrackResult(box=box, score=score, state=self._state, timings_ms=step.timer.times_ms)

    def track(self, frame: np.ndarray) -> TrackResult:
        """Locate the target in the next frame."""
        step = self.plan(frame)
        outputs = self.run_batch([step.feeds], step.timer)[0] if step.feeds is not None else None
        return self.finish(step, outputs)

    def run_batch(self, feeds: list[dict[str, np.ndarray]], timer: StageTimer) -> list[dict[str, np.ndarray]]:
        """Network outputs for each of `feeds` (network trackers; batched where the backend can)."""
        raise NotImplementedError(f"{self.model} has no network to run")

    def plan_window(self, frame: np.ndarray, box: np.ndarray) -> Step:
        """Score a search window centred on `box` (the target's size) for re-acquisition, without
        touching the track: `finish_window` gives the box found there and its score."""
        timer = StageTimer()
        feeds, complete = self._plan_window(check_frame(frame), np.asarray(box, dtype=np.float64), timer)
        return Step(feeds, complete, timer, (frame.shape[1], frame.shape[0]))

    @staticmethod
    def finish_window(step: Step, outputs: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, float]:
        return completed(step, outputs)

    def search_side(self, box: np.ndarray) -> float:
        """Side in pixels of the image region one search window around `box` sees."""
        return 4.0 * float(np.sqrt(max(box[2], 1.0) * max(box[3], 1.0)))

    def relocate(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Move the running track to `box` (re-acquisition), keeping the target model; TRACKING."""
        self._relocate(check_frame(frame), np.asarray(box, dtype=np.float64))
        self._state = TrackState.TRACKING

    def spawn(self) -> Tracker:
        """Another tracker of the same model and settings, sharing what can be shared (a network
        tracker's loaded network and backend), for one more target."""
        clone = copy.copy(self)
        clone.backend_info = dict(self.backend_info)
        clone.reset()
        return clone

    def reset(self) -> None:
        """Forget the target (state IDLE)."""
        self._state = TrackState.IDLE
        self._image_size = None

    @abstractmethod
    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Build the target model from `frame` (RGB) and the validated box."""

    def _plan(self, frame: np.ndarray, timer: StageTimer) -> tuple[dict | None, Completion]:
        """(feeds of one network call or None, what turns its outputs into ([x, y, w, h], score)).
        Trackers without a network to batch implement `_track` instead."""
        box, score = self._track(frame, timer)
        return None, lambda _: (box, score)

    def _track(self, frame: np.ndarray, timer: StageTimer) -> tuple[np.ndarray, float]:
        """Return ([x, y, w, h], score in [0, 1]); time stages with `timer.stage(name)`."""
        raise NotImplementedError

    def _plan_window(
        self, frame: np.ndarray, box: np.ndarray, timer: StageTimer
    ) -> tuple[dict | None, Completion]:
        raise NotImplementedError(f"{self.model} cannot re-acquire")

    def _relocate(self, frame: np.ndarray, box: np.ndarray) -> None:
        raise NotImplementedError(f"{self.model} cannot re-acquire")
