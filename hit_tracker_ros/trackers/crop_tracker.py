"""The tracking loop shared by the STARK-lineage families (HiT, CompressTracker, ...): a template
crop from the first frame, a search crop around the previous box per frame, the network through
any NetworkRunner, the predicted box mapped back and clipped (the authors' 10 px margin).
Families differ only in how they read a box and a score from the network outputs (`decode`)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import replace

import numpy as np

from ..core.crop_window import stark_window
from ..core.timing import StageTimer
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Completion
from .crop import clip_box, map_box_back
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
        self._template = None  # (1, 3, S, S): a host array, or a device tensor (GPU crops)
        self._prev_box: list[float] = []

    def set_state(self, box: list[float] | np.ndarray) -> None:
        """Re-centre the next search on `box` (keeps the template), e.g. for teacher forcing."""
        self._prev_box = [float(v) for v in box]

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._template = self.template_crop(frame, box)
        self._prev_box = [float(v) for v in box]

    def template_crop(self, frame: np.ndarray, box) -> object:
        """The normalized template crop around `box` (a host array, or a device tensor)."""
        c = self.config
        return self.crops.template(
            frame, stark_window(frame.shape, box, c.template_factor, c.template_size)[0]
        )

    def _read(self, frame_size: tuple[int, int], around: list[float], resize_factor: float, outputs) -> tuple:
        """(box clipped with the authors' margin, score) from the outputs of a search around `around`."""
        c = self.config
        pred, score = self.decode(outputs)
        mapped = map_box_back(pred * c.search_size / resize_factor, around, c.search_size, resize_factor)
        return clip_box(mapped, frame_size[1], frame_size[0], margin=c.clip_margin), score

    def _search(self, frame: np.ndarray, around: list[float], timer: StageTimer) -> tuple[dict, float]:
        c = self.config
        with timer.stage("preprocess"):
            window, resize_factor = stark_window(frame.shape, around, c.search_factor, c.search_size)
            return self.feeds(self.crops.search(frame, window)), resize_factor

    def _plan(self, frame: np.ndarray, timer: StageTimer) -> tuple[dict, Completion]:
        around = list(self._prev_box)
        feeds, resize_factor = self._search(frame, around, timer)
        size = (frame.shape[1], frame.shape[0])

        def complete(outputs) -> tuple[np.ndarray, float]:
            with timer.stage("postprocess"):
                self._prev_box, score = self._read(size, around, resize_factor, outputs)
                self.after_step(frame, score)
            return np.array(self._prev_box, dtype=np.float64), score

        return feeds, complete

    def _window(self, frame: np.ndarray, box: np.ndarray, timer: StageTimer) -> tuple[dict, Completion]:
        around = [float(v) for v in box]
        feeds, resize_factor = self._search(frame, around, timer)
        size = (frame.shape[1], frame.shape[0])

        def complete(outputs) -> tuple[np.ndarray, float]:
            found, score = self._read(size, around, resize_factor, outputs)
            return np.array(found, dtype=np.float64), score

        return feeds, complete

    def search_side(self, box: np.ndarray) -> float:
        """The search crop's side in the image: search_factor x sqrt(w h) (sample_target)."""
        return float(self.config.search_factor * np.sqrt(max(box[2], 1.0) * max(box[3], 1.0)))

    def feeds(self, search) -> dict:
        """Network inputs for one frame."""
        return {"search": search, "template": self._template}

    def after_step(self, frame: np.ndarray, score: float) -> None:
        """Per-frame bookkeeping after the box is known (e.g. online template updates)."""

    @abstractmethod
    def decode(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        """(cx, cy, w, h) in [0, 1] of the search crop (float32, as the authors compute it), score."""
