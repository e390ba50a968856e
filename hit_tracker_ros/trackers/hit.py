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

from ..core.tracker import DEFAULT_SCORE_THRESHOLD
from ..models.specs import HIT_INPUTS, HIT_OUTPUTS, HIT_VARIANTS
from .crop_tracker import CropTracker
from .family import Family, lazy
from .network import register_family
from .options import CropOptions

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


def decode_corner_head(outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """Mean of the queries' boxes (one query); confidence from the corner heat-maps (HiT and
    AsymTrack: the same head)."""
    pred = outputs["pred_boxes"].reshape(-1, 4).mean(axis=0)
    return pred, corner_confidence(outputs["score_map_tl"], outputs["score_map_br"])


class HiTTracker(CropTracker):
    """HiT-Base/Small/Tiny over any NetworkRunner (PyTorch, ONNX Runtime, TensorRT); any family
    with HiT's pipeline and corner head names its own `variants` (AsymTrack)."""

    variants = HIT_VARIANTS

    def __init__(
        self, variant: str, runner, score_threshold: float = DEFAULT_SCORE_THRESHOLD, options=CropOptions()
    ) -> None:
        super().__init__(variant, self.variants[variant], runner, score_threshold, options)

    def decode(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        return decode_corner_head(outputs)


HIT = Family(
    name="HiT",
    variants=HIT_VARIANTS,
    inputs=HIT_INPUTS,
    outputs=HIT_OUTPUTS,
    build_network=lazy("hit_tracker_ros.models.hit", "build_hit"),
    prepare=lambda net: net.prepare_for_inference(),
    make_tracker=HiTTracker,
    options=CropOptions,
    checkpoint_help=(
        "HiT checkpoints are published by the authors (github.com/kangben258/HiT, 'Model Zoo', Google "
        "Drive): download e.g. HiT_Base.pth.tar into models/ and pass checkpoint:=models/HiT_Base.pth.tar"
    ),
    descriptions={
        v: f"{c.name} (LeViT + Bridge Module + corner head), ICCV 2023" for v, c in HIT_VARIANTS.items()
    },
)

register_family(HIT)
