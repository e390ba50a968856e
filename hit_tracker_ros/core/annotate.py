"""Annotated frames: the node's ~/debug_image, the replay video and the demo's video and strip."""

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


TRUTH_COLOR = (60, 140, 255)


def annotate(
    rgb: np.ndarray,
    state: TrackState,
    box: np.ndarray | None,
    caption: str,
    truth: np.ndarray | None = None,
) -> np.ndarray:
    """Copy of `rgb` with the truth (thin blue, when known), the box in the state's colour
    (green: tracking, red: lost) and a caption."""
    out = rgb.copy()
    if truth is not None:
        x, y, w, h = (int(round(v)) for v in truth)
        cv2.rectangle(out, (x, y), (x + w, y + h), TRUTH_COLOR, 1)
    color = STATE_COLORS[state]
    if box is not None:
        x, y, w, h = (int(round(v)) for v in box)
        cv2.rectangle(out, (x, y), (x + w, y + h), color, 2)
    cv2.putText(out, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return out


def draw_track(rgb: np.ndarray, outcome: StepOutcome) -> np.ndarray:
    """A step's outcome drawn on its frame, captioned with the state and score."""
    caption = outcome.state.name if outcome.box is None else f"{outcome.state.name} {outcome.score:.2f}"
    return annotate(rgb, outcome.state, outcome.box, caption)
