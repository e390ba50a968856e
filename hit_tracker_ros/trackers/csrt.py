"""OpenCV CSRT: the weight-free default tracker (needs opencv-contrib).

CSRT reports only success/failure, so the score is our own: the normalized cross-correlation
between the grey patch under the tracked box and an appearance template (taken at initialization,
updated slowly while tracking), clipped to [0, 1]; 0 when CSRT reports a failure.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..core.boxes import BoxLimits
from ..core.registry import ModelSpec, register_model
from ..core.timing import StageTimer
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Tracker
from .options import NoOptions, split_options

TEMPLATE_SIDE = 32
TEMPLATE_UPDATE_RATE = 0.05


class CsrtTracker(Tracker):
    """Discriminative correlation filter with channel and spatial reliability (Lukezic 2017)."""

    model = "csrt"
    backend = "opencv"
    # OpenCV 5.0's CSRT raises in its first update on boxes 35-40x longer than wide (measured on
    # 320x240 to 1280x720 frames); 20 keeps a margin for other OpenCV releases.
    box_limits = BoxLimits(max_aspect_ratio=20.0)

    def __init__(self, score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> None:
        super().__init__(score_threshold)
        if not hasattr(cv2, "TrackerCSRT"):
            raise RuntimeError("OpenCV without the contrib trackers: install opencv-contrib-python-headless")
        self._cv_tracker: cv2.Tracker | None = None
        self._template: np.ndarray | None = None

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        # OpenCV 4.5 (Ubuntu 22.04) exposes the factory as TrackerCSRT_create; 4.7+ also as .create
        create = getattr(cv2, "TrackerCSRT_create", None) or cv2.TrackerCSRT.create
        self._cv_tracker = create()
        self._cv_tracker.init(bgr, _int_rect(box))
        self._template = _normalized_patch(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), box)

    def _track(self, frame: np.ndarray, timer: StageTimer) -> tuple[np.ndarray, float]:
        with timer.stage("preprocess"):
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        with timer.stage("inference"):
            ok, rect = self._cv_tracker.update(bgr)
        with timer.stage("postprocess"):
            box = np.asarray(rect, dtype=np.float64)
            patch = _normalized_patch(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), box)
            if not ok or patch is None or self._template is None:
                return box, 0.0
            score = max(float(np.mean(patch * self._template)), 0.0)
            if score >= self.score_threshold:
                blended = (1 - TEMPLATE_UPDATE_RATE) * self._template + TEMPLATE_UPDATE_RATE * patch
                self._template = _standardize(blended)
        return box, score

    def reset(self) -> None:
        super().reset()
        self._cv_tracker = None
        self._template = None


def _int_rect(box: np.ndarray) -> tuple[int, int, int, int]:
    x, y, w, h = (int(round(v)) for v in box)
    return x, y, max(w, 1), max(h, 1)


def _normalized_patch(gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Grey patch under `box` (clipped to the image), resized and standardized; None if empty."""
    height, width = gray.shape
    x1, y1 = max(int(round(box[0])), 0), max(int(round(box[1])), 0)
    x2 = min(int(round(box[0] + box[2])), width)
    y2 = min(int(round(box[1] + box[3])), height)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    patch = cv2.resize(gray[y1:y2, x1:x2], (TEMPLATE_SIDE, TEMPLATE_SIDE), interpolation=cv2.INTER_AREA)
    return _standardize(patch.astype(np.float32))


def _standardize(patch: np.ndarray) -> np.ndarray:
    return (patch - patch.mean()) / (patch.std() + 1e-6)


def _build(
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    **options,
) -> CsrtTracker:
    """CSRT runs on the CPU through OpenCV: the backend options (device, engine cache, TensorRT
    precision, ...) are accepted, as for every model, and do not apply."""
    split_options("csrt", options, NoOptions)
    return CsrtTracker(score_threshold)


register_model(
    ModelSpec(
        "csrt",
        _build,
        description="OpenCV CSRT correlation-filter tracker (no weights; CPU)",
        backends=("opencv",),
        needs_checkpoint=False,
    )
)
