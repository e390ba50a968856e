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
from ..core.types import TrackState
from .options import NoOptions, split_options

TEMPLATE_SIDE = 32
TEMPLATE_UPDATE_RATE = 0.05
# The appearance template learns only from confident, tracking frames: learning from a patch that
# barely passes the LOST threshold let it drift onto the background CSRT had slipped to, until
# the background scored as the target (seen when a target jumps away: LOST for one frame, then
# TRACKING the empty background with a rising score).
TEMPLATE_UPDATE_MIN_SCORE = 0.5
# re-acquisition: a window sees this many target sizes around its centre, searched at these scales
WINDOW_FACTOR = 4.0
WINDOW_SCALES = (0.8, 1.0, 1.25)


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
        self._start_csrt(frame, box)
        self._template = _normalized_patch(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), box)

    def _start_csrt(self, frame: np.ndarray, box: np.ndarray) -> None:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        # OpenCV 4.5 (Ubuntu 22.04) exposes the factory as TrackerCSRT_create; 4.7+ also as .create
        create = getattr(cv2, "TrackerCSRT_create", None) or cv2.TrackerCSRT.create
        self._cv_tracker = create()
        self._cv_tracker.init(bgr, _int_rect(box))

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
            lost = self.state == TrackState.LOST
            needed = max(
                self.score_threshold, self.recover_threshold if lost else 0.0, TEMPLATE_UPDATE_MIN_SCORE
            )
            if score >= needed:
                blended = (1 - TEMPLATE_UPDATE_RATE) * self._template + TEMPLATE_UPDATE_RATE * patch
                self._template = _standardize(blended)
        return box, score

    def reset(self) -> None:
        super().reset()
        self._cv_tracker = None
        self._template = None

    def spawn(self) -> CsrtTracker:
        clone = CsrtTracker(self.score_threshold)
        clone.recover_threshold = self.recover_threshold
        return clone

    def search_side(self, box: np.ndarray) -> float:
        return WINDOW_FACTOR * float(np.sqrt(max(box[2], 1.0) * max(box[3], 1.0)))

    def _plan_window(self, frame: np.ndarray, box: np.ndarray, timer: StageTimer) -> tuple[None, object]:
        """Multi-scale normalized template matching of the appearance template in the window
        (no network: the work happens here, the completion just returns it)."""
        with timer.stage("postprocess"):
            found = _match(
                cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), self._template, box, self.search_side(box)
            )
        return None, lambda _: found

    def _relocate(self, frame: np.ndarray, box: np.ndarray) -> None:
        """CSRT restarts on the re-acquired box; the appearance template is kept."""
        self._start_csrt(frame, box)


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


def _match(
    gray: np.ndarray, template: np.ndarray | None, box: np.ndarray, side: float
) -> tuple[np.ndarray, float]:
    """Best (box, normalized correlation) of `template` in the square window of `side` around
    `box`'s centre, the target at each of WINDOW_SCALES times `box`'s size."""
    height, width = gray.shape
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x1, y1 = max(int(cx - side / 2), 0), max(int(cy - side / 2), 0)
    x2, y2 = min(int(cx + side / 2), width), min(int(cy + side / 2), height)
    best = (np.asarray(box, dtype=np.float64), 0.0)
    if template is None or x2 - x1 < 2 or y2 - y1 < 2:
        return best
    region = gray[y1:y2, x1:x2].astype(np.float32)
    for scale in WINDOW_SCALES:
        w, h = box[2] * scale, box[3] * scale
        fx, fy = TEMPLATE_SIDE / w, TEMPLATE_SIDE / h  # the target becomes the template's size
        size = (round((x2 - x1) * fx), round((y2 - y1) * fy))
        if size[0] < TEMPLATE_SIDE or size[1] < TEMPLATE_SIDE:
            continue
        scores = cv2.matchTemplate(
            cv2.resize(region, size, interpolation=cv2.INTER_AREA), template, cv2.TM_CCOEFF_NORMED
        )
        _, peak, _, (px, py) = cv2.minMaxLoc(scores)
        if peak > best[1]:
            best = (np.array([x1 + px / fx, y1 + py / fy, w, h], dtype=np.float64), float(peak))
    return best


def _standardize(patch: np.ndarray) -> np.ndarray:
    return (patch - patch.mean()) / (patch.std() + 1e-6)


def _build(
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    **options,
) -> CsrtTracker:
    """CSRT runs on the CPU through OpenCV: the backend options (device, engine cache, TensorRT
    precision, ...) are accepted, as for every model, and do not apply here. OpenCV's thread
    count is the process's (core.cpu.configure_opencv, which the node calls)."""
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
