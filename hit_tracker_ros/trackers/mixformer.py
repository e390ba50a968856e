"""MixFormerV2 tracking pipeline (the authors' MixFormerOnline with online_size 1).

The score head's sigmoid is the confidence (it also drives LOST). The online template follows the
authors' rule. Between updates, the crop of the best frame whose score exceeded 0.5 is kept. Every
`update_interval` frames it becomes the online template, or the initial template when no frame
qualified, and the search for the best frame starts over. The default interval is 5 (the
authors' setting for the golden run; their per-dataset yaml values range 5 to 200).
"""

from __future__ import annotations

import numpy as np

from ..core.tracker import DEFAULT_SCORE_THRESHOLD
from ..core.windows import sigmoid
from ..models.specs import MIXFORMER_INPUTS, MIXFORMER_OUTPUTS, MIXFORMERV2_VARIANTS
from .crop_tracker import CropTracker
from .family import Family, lazy
from .network import register_family
from .options import MixFormerV2Options

MAX_SCORE_DECAY = 1.0  # the authors' default


class MixFormerV2Tracker(CropTracker):
    def __init__(
        self,
        variant: str,
        runner,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        options: MixFormerV2Options = MixFormerV2Options(),
    ) -> None:
        super().__init__(variant, MIXFORMERV2_VARIANTS[variant], runner, score_threshold, options)
        self.update_interval = int(options.update_interval or self.config.update_interval)
        if self.update_interval < 1:
            raise ValueError("update_interval must be >= 1")
        self._online = None  # host arrays, or device tensors (GPU crops)
        self._best = None
        self._best_score = -1.0
        self._frame_id = 0
        self.updates: list[int] = []  # frames at which the online template was swapped

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        super()._initialize(frame, box)
        self._online = self._best = self._template
        self._best_score = -1.0
        self._frame_id = 0
        self.updates = []

    def feeds(self, search) -> dict:
        return {"template": self._template, "online_template": self._online, "search": search}

    def decode(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        pred = outputs["pred_boxes"].reshape(-1, 4).mean(axis=0)
        logit = np.float32(outputs["pred_scores"].reshape(-1)[0])
        return pred, float(sigmoid(logit))

    def after_step(self, frame: np.ndarray, score: float) -> None:
        c = self.config
        self._frame_id += 1
        self._best_score *= MAX_SCORE_DECAY
        if score > c.score_gate and score > self._best_score:
            self._best = self.template_crop(frame, self._prev_box)
            self._best_score = score
        if self._frame_id % self.update_interval == 0:
            self._online = self._best
            self.updates.append(self._frame_id)
            self._best_score = -1.0
            self._best = self._template


MIXFORMERV2 = Family(
    name="MixFormerV2",
    variants=MIXFORMERV2_VARIANTS,
    inputs=MIXFORMER_INPUTS,
    outputs=MIXFORMER_OUTPUTS,
    build_network=lazy("hit_tracker_ros.models.mixformer", "build_mixformerv2"),
    make_tracker=MixFormerV2Tracker,
    options=MixFormerV2Options,
    torch_runtime=lazy("hit_tracker_ros.models.mixformer", "CachedTemplates"),
    checkpoint_help=(
        "MixFormerV2 checkpoints are published by the authors (github.com/MCG-NJU/MixFormerV2, 'Model Zoo'): "
        "download e.g. mixformerv2_small.pth.tar into models/ and pass its path as checkpoint"
    ),
    descriptions={
        v: f"{c.name}: ViT-B/16, {c.depth} blocks, MLP ratio {c.mlp_ratio}, distribution + score heads"
        for v, c in MIXFORMERV2_VARIANTS.items()
    },
)

register_family(MIXFORMERV2)
