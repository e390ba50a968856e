"""CompressTracker tracking pipeline (the authors' OSTrack-style tracker): the centre-ness map is
multiplied by a Hann window, the argmax cell gives the box from the size and offset maps. The
score that drives LOST is the peak of the raw (un-windowed) centre-ness map, in (0, 1)."""

from __future__ import annotations

import logging

import numpy as np

from ..core.tracker import DEFAULT_SCORE_THRESHOLD
from ..core.windows import hann_stark
from ..models.specs import CENTER_INPUTS, CENTER_OUTPUTS, COMPRESSTRACKER_VARIANTS
from .crop_tracker import CropTracker
from .family import Family, lazy
from .network import register_family
from .options import CropOptions

LOG = logging.getLogger("hit_tracker_ros.checkpoints")
TEACHER_PREFIXES = ("backbone.blocks.", "teacher.", "backbone.teacher")


def center_decode(score: np.ndarray, size: np.ndarray, offset: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(cx, cy, w, h) in [0, 1] at the argmax of window * score (float32, as cal_bbox)."""
    n = score.shape[-1]
    idx = int(np.argmax((window * score[0, 0]).reshape(-1)))
    y, x = divmod(idx, n)
    cx = (np.float32(x) + offset[0, 0, y, x]) / np.float32(n)
    cy = (np.float32(y) + offset[0, 1, y, x]) / np.float32(n)
    return np.array([cx, cy, size[0, 0, y, x], size[0, 1, y, x]], dtype=np.float32)


class CompressTrackerTracker(CropTracker):
    """CompressTracker-2/3/4/6/8 over any NetworkRunner."""

    def __init__(
        self, variant: str, runner, score_threshold: float = DEFAULT_SCORE_THRESHOLD, options=CropOptions()
    ) -> None:
        super().__init__(variant, COMPRESSTRACKER_VARIANTS[variant], runner, score_threshold, options)
        self.window = hann_stark(self.config.feat_sz)

    def decode(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        score = outputs["score_map"]
        pred = center_decode(score, outputs["size_map"], outputs["offset_map"], self.window)
        return pred, float(score.max())


def drop_teacher_keys(state_dict: dict) -> dict:
    """Released checkpoints may carry the teacher's blocks; the student does not use them."""
    teacher = [k for k in state_dict if k.startswith(TEACHER_PREFIXES)]
    if teacher:
        LOG.warning("dropping %d teacher keys from the checkpoint (e.g. %s)", len(teacher), teacher[0])
    return {k: v for k, v in state_dict.items() if k not in set(teacher)}


COMPRESSTRACKER = Family(
    name="CompressTracker",
    variants=COMPRESSTRACKER_VARIANTS,
    inputs=CENTER_INPUTS,
    outputs=CENTER_OUTPUTS,
    build_network=lazy("hit_tracker_ros.models.ostrack", "build_compresstracker"),
    make_tracker=CompressTrackerTracker,
    options=CropOptions,
    checkpoint_help=(
        "CompressTracker checkpoints are published by the authors (github.com/LingyiHongfd/CompressTracker, "
        "Google Drive): download e.g. CompressTracker_4.pth.tar into models/ and pass its path as checkpoint"
    ),
    descriptions={
        v: f"{c.name}: OSTrack-style ViT-B/16 student with {c.depth} blocks, centre head"
        for v, c in COMPRESSTRACKER_VARIANTS.items()
    },
    adapt_state_dict=drop_teacher_keys,
)

register_family(COMPRESSTRACKER)
