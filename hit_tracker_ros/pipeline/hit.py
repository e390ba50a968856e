"""HiT tracking pipeline (the authors' lib/test/tracker/HiT.py): template from the first frame
only, search crop around the previous box, corner-head box mapped back and clipped (10 px margin).

HiT has no score head. Our confidence signal comes from the corner heat-maps and leaves the box
untouched. For each corner we softmax its logits and take the probability mass in the 3x3 cells
around the peak. The score is the geometric mean of the two masses. It is close to 1 when both
corners are sharply localized, and about 9/256 = 0.035 for a flat (uninformative) map.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.timing import StageTimer
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Tracker
from ..models.specs import HIT_INPUTS, HIT_OUTPUTS, HIT_VARIANTS, HiTConfig
from .crop import clip_box, map_box_back, normalize, sample_target
from .family import Family

PEAK_WINDOW = 1  # cells on each side of the peak counted as "the peak" (3 x 3)


def peak_mass(logits: np.ndarray) -> float:
    """Softmax probability within PEAK_WINDOW cells of the argmax of a (H, W) logit map."""
    flat = logits.reshape(-1).astype(np.float64)
    prob = np.exp(flat - flat.max())
    prob = (prob / prob.sum()).reshape(logits.shape[-2:])
    row, col = np.unravel_index(int(np.argmax(prob)), prob.shape)
    r0, c0 = max(row - PEAK_WINDOW, 0), max(col - PEAK_WINDOW, 0)
    return float(prob[r0 : row + PEAK_WINDOW + 1, c0 : col + PEAK_WINDOW + 1].sum())


def corner_confidence(score_map_tl: np.ndarray, score_map_br: np.ndarray) -> float:
    """Geometric mean of the two corners' peak masses, in [0, 1]."""
    return math.sqrt(peak_mass(score_map_tl[0, 0]) * peak_mass(score_map_br[0, 0]))


class HiTTracker(Tracker):
    """HiT-Base/Small/Tiny over any NetworkRunner (PyTorch, ONNX Runtime, ...)."""

    def __init__(self, variant: str, runner, score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> None:
        super().__init__(score_threshold)
        self.config: HiTConfig = HIT_VARIANTS[variant]
        self.model = variant
        self.runner = runner
        self.backend = runner.backend
        self._template: np.ndarray | None = None
        self._prev_box: list[float] = []
        self.last_outputs: dict[str, np.ndarray] = {}

    def set_state(self, box: list[float] | np.ndarray) -> None:
        """Re-centre the next search on `box` (keeps the template), e.g. for teacher forcing."""
        self._prev_box = [float(v) for v in box]

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        c = self.config
        crop, _ = sample_target(frame, box, c.template_factor, c.template_size)
        self._template = normalize(crop)
        self._prev_box = [float(v) for v in box]

    def _track(self, frame: np.ndarray, timer: StageTimer) -> tuple[np.ndarray, float]:
        c = self.config
        height, width = frame.shape[:2]
        with timer.stage("preprocess"):
            crop, resize_factor = sample_target(frame, self._prev_box, c.search_factor, c.search_size)
            search = normalize(crop)
        with timer.stage("inference"):
            out = self.runner.run({"search": search, "template": self._template})
        with timer.stage("postprocess"):
            self.last_outputs = out
            pred = out["pred_boxes"].reshape(-1, 4).mean(axis=0) * c.search_size / resize_factor
            mapped = map_box_back(pred, self._prev_box, c.search_size, resize_factor)
            self._prev_box = clip_box(mapped, height, width, margin=c.clip_margin)
            score = corner_confidence(out["score_map_tl"], out["score_map_br"])
        return np.array(self._prev_box, dtype=np.float64), score


def _build_network(variant: str):
    from ..models.hit import build_hit

    return build_hit(variant)


HIT = Family(
    name="HiT",
    variants=HIT_VARIANTS,
    inputs=HIT_INPUTS,
    outputs=HIT_OUTPUTS,
    build_network=_build_network,
    prepare=lambda net: net.prepare_for_inference(),
    make_tracker=HiTTracker,
    checkpoint_help=(
        "HiT checkpoints are published by the authors (github.com/kangben258/HiT, 'Model Zoo', Google "
        "Drive): download e.g. HiT_Base.pth.tar into models/ and pass checkpoint:=models/HiT_Base.pth.tar"
    ),
    descriptions={
        v: f"{c.name} (LeViT + Bridge Module + corner head), ICCV 2023" for v, c in HIT_VARIANTS.items()
    },
)
