"""The tracking loop shared by the STARK-lineage families (HiT, CompressTracker, ...): a template
crop from the first frame, a search crop around the previous box per frame, the network through
any NetworkRunner, the predicted box mapped back and clipped (the authors' 10 px margin).
Families differ only in how they read a box and a score from the network outputs (`decode`)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import replace

import numpy as np

from ..core.timing import StageTimer
from ..core.tracker import DEFAULT_SCORE_THRESHOLD
from .crop import clip_box, map_box_back, normalize, sample_target
from .network_tracker import NetworkTracker
from .options import CropOptions


class CropTracker(NetworkTracker):
    def __init__(
        self,
        variant: str,
        config,
        runner,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        options: CropOptions = CropOptions(),
    ) -> None:
        """options.search_factor: override of the family's search-crop factor (None: default)."""
        if options.search_factor:
            config = replace(config, search_factor=float(options.search_factor))
        super().__init__(variant, config, runner, score_threshold)
        self._template: np.ndarray | None = None
        self._prev_box: list[float] = []

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
        out = self.infer(self.feeds(search), timer)
        with timer.stage("postprocess"):
            pred, score = self.decode(out)
            mapped = map_box_back(
                pred * c.search_size / resize_factor, self._prev_box, c.search_size, resize_factor
            )
            self._prev_box = clip_box(mapped, height, width, margin=c.clip_margin)
            self.after_step(frame, score)
        return np.array(self._prev_box, dtype=np.float64), score

    def feeds(self, search: np.ndarray) -> dict[str, np.ndarray]:
        """Network inputs for one frame."""
        return {"search": search, "template": self._template}

    def after_step(self, frame: np.ndarray, score: float) -> None:
        """Per-frame bookkeeping after the box is known (e.g. online template updates)."""

    @abstractmethod
    def decode(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        """(cx, cy, w, h) in [0, 1] of the search crop (float32, as the authors compute it), score."""
