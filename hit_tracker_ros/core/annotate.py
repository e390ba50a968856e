"""Annotated frames: the node's ~/debug_image and the replay video."""

from __future__ import annotations

import cv2
import numpy as np

from .session import StepOutcome
from .types import TrackState

STATE_COLORS = {
    TrackState.TRACKING: (40, 220, 40),
    TrackState.LOST: (240, 60, 40),
    TrackState.IDLE: (200, 200, 200),
}


def draw_track(rgb: np.ndarray, outcome: StepOutcome) -> np.ndarray:
    """Copy of `rgb` with the box (green: tracking, red: lost) and a state/score caption."""
    out = rgb.copy()
    color = STATE_COLORS[outcome.state]
    if outcome.box is not None:
        x, y, w, h = (int(round(v)) for v in outcome.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), color, 2)
    caption = outcome.state.name if outcome.box is None else f"{outcome.state.name} {outcome.score:.2f}"
    cv2.putText(out, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return out
