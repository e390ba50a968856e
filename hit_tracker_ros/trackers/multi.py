"""Several targets in one tracker, one network call per frame (Python API, no ROS):

    tracker = build_multi_tracker("hit_tiny", checkpoint="models/HiT_Tiny.pth.tar", max_targets=4)
    car = tracker.add(frame, [x, y, w, h], label="car")
    results = tracker.track(next_frame)          # {track_id: TrackResult}
    tracker.remove(car)

Each target keeps its own template (and, for MixFormerV2, its own online template and update
counter; CSRT: its own OpenCV tracker). Every frame the search crops of all targets, and the
re-acquisition windows of LOST ones, go through the network as one batch (one call per search
size for E.T.Track, whose targets may use 256 or 288 px searches).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.reacquire import ReacquireSettings
from ..core.registry import build_tracker
from ..core.targets import TargetSet
from ..core.tracker import DEFAULT_SCORE_THRESHOLD
from ..core.types import TrackResult, TrackState

REACQUIRE_OPTIONS = ("reacquire_after", "reacquire_windows_per_frame", "reacquire_threshold")


class MultiTracker:
    """Targets by track id; see the module docstring."""

    def __init__(self, targets: TargetSet) -> None:
        self.targets = targets

    @property
    def model(self) -> str:
        return self.targets.tracker.model

    @property
    def backend(self) -> str:
        return self.targets.tracker.backend

    def add(self, frame: np.ndarray, box, label: str = "") -> str:
        """Start tracking the target in `box` = [x, y, w, h]; returns its track id. LookupError
        when max_targets are tracked already."""
        track_id, _ = self.targets.start(frame, np.asarray(box, dtype=np.float64), label)
        return track_id

    def remove(self, track_id: str) -> None:
        self.targets.remove(track_id)

    def ids(self) -> list[str]:
        return self.targets.ids()

    def track(self, frame: np.ndarray) -> dict[str, TrackResult]:
        """Every target's result on `frame`; a target that ended (max_lost_frames, a tracker
        failure) is reported once with state IDLE and then dropped."""
        results = {}
        for track_id, outcome in self.targets.step(frame).items():
            box = outcome.box if outcome.box is not None else np.zeros(4)
            results[track_id] = TrackResult(box, outcome.score, outcome.state, outcome.timings_ms)
            if outcome.state == TrackState.IDLE:
                results[track_id] = TrackResult(box, 0.0, TrackState.IDLE, outcome.timings_ms)
        return results


def build_multi_tracker(
    model: str,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    max_targets: int = 8,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    max_lost_frames: int = 0,
    **params,
) -> MultiTracker:
    """A tracker for up to `max_targets` targets of `model`, sharing one network (loaded once).

    params: the model's tracker options and the backend options (as build_tracker), and the
    re-acquisition settings reacquire_after (LOST frames before searching the whole image; 0:
    never), reacquire_windows_per_frame and reacquire_threshold."""
    settings = ReacquireSettings(
        after_frames=int(params.pop("reacquire_after", 0)),
        windows_per_frame=int(params.pop("reacquire_windows_per_frame", ReacquireSettings.windows_per_frame)),
        threshold=float(params.pop("reacquire_threshold", ReacquireSettings.threshold)),
    )
    params["max_batch"] = max(int(params.get("max_batch", 1)), batch_needed(max_targets, settings))
    tracker = build_tracker(model, checkpoint, backend, score_threshold, **params)
    return MultiTracker(TargetSet(tracker, max_targets, max_lost_frames, settings))


def batch_needed(max_targets: int, reacquire: ReacquireSettings) -> int:
    """The batch one frame can need: every target's search, plus the windows of LOST ones."""
    windows = reacquire.windows_per_frame if reacquire.enabled else 0
    return max_targets * (1 + windows)
