"""Result and state types shared by every tracker."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class TrackState(enum.IntEnum):
    """Tracking state; values equal the TrackerStatus.msg constants."""

    IDLE = 0
    TRACKING = 1
    LOST = 2


@dataclass(frozen=True)
class TrackResult:
    """Output of `Tracker.track` for one frame.

    box: [x, y, w, h] in frame pixels (float64); score: confidence in [0, 1];
    timings_ms: per-stage wall times of this call (preprocess, inference, postprocess).
    """

    box: np.ndarray
    score: float
    state: TrackState
    timings_ms: dict[str, float] = field(default_factory=dict)
