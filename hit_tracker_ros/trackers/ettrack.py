"""E.T.Track tracking pipeline (the authors' `TransconverTracker`, a LightTrack/SiamFC-style
tracker) with the constants of its hard-coded `Config`.

Per frame: a search crop 256 px (288 px for targets under 0.4 % of the frame) around the previous
centre, covering the context-padded target scaled to a 127 px template. Every cell of the 16 x 16
(18 x 18) map predicts (l, t, r, b) distances. Its score is sigmoid(cls), times a penalty on
scale/ratio change, blended with a cosine window. The best cell moves the centre. The size follows
it with a learning rate of penalty * score * 0.616. Quirks kept because the checkpoints were tuned
with them:
* the size is smoothed twice (`res = lr*pred + (1-lr)*old`, then `old*(1-lr) + lr*res`);
* the window is numpy's `hanning` (zero at both ends), unlike the STARK-lineage Hann window;
* the template side is Python-3-rounded, the search side Python-2-rounded;
* the reported box has x, y clamped to >= 0 while w, h are kept (`cxy_wh_2_rect`).
The score that drives LOST is sigmoid(cls) at the chosen cell (what the authors return). One
deviation: where degenerate predictions (0/0 in the ratio penalty) make the new state NaN, the
authors' code would carry the NaN on; we keep the previous state and report score 0 (LOST).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.crop_window import siamfc_window
from ..core.timing import StageTimer
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Completion
from ..core.windows import hanning_siamfc, sigmoid
from ..models.specs import ETTRACK_INPUTS, ETTRACK_OUTPUTS, ETTRACK_VARIANTS, ETTrackConfig
from .crop import HostCrops, python2_round
from .family import Family, lazy
from .network import register_family
from .network_tracker import NetworkTracker
from .options import NoOptions


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def _padded_size(w, h):
    """sqrt((w + p)(h + p)) with p = (w + h) / 2: the size measure of the scale penalty."""
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


class ETTrackTracker(NetworkTracker):
    """E.T.Track over any NetworkRunner (inputs template, search; outputs cls, reg)."""

    config: ETTrackConfig

    def __init__(
        self, variant: str, runner, score_threshold: float = DEFAULT_SCORE_THRESHOLD, options=NoOptions()
    ) -> None:
        super().__init__(variant, ETTRACK_VARIANTS[variant], runner, score_threshold)
        self.instance_size = self.config.search_size
        self.window = hanning_siamfc(self.instance_size // self.config.stride)
        self.last_cls_score: np.ndarray | None = None
        self._template = None  # a host array, or a device tensor (GPU crops)
        self._avg_chans = np.zeros(3)
        self._pos = np.zeros(2)
        self._size = np.zeros(2)

    def set_state(self, box: list[float] | np.ndarray) -> None:
        """Re-centre the next search on `box` = [x, y, w, h] (keeps the template)."""
        x, y, w, h = (float(v) for v in box)
        self._pos = np.array([x + w / 2, y + h / 2])
        self._size = np.array([w, h])

    def _context_side(self, size: np.ndarray | None = None) -> float:
        w, h = self._size if size is None else size
        context = self.config.context_amount * (w + h)
        return math.sqrt((w + context) * (h + context))

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        c = self.config
        self.set_state(box)
        height, width = frame.shape[:2]
        small = (self._size[0] * self._size[1]) / float(height * width) < c.small_target_area
        self.instance_size = c.big_search_size if small else c.search_size
        score_size = int(round(self.instance_size / c.stride))
        self.window = hanning_siamfc(score_size)
        offsets = (np.arange(score_size) - np.floor(float(score_size // 2))) * c.stride
        self._grid_x, self._grid_y = np.meshgrid(
            offsets + self.instance_size // 2, offsets + self.instance_size // 2
        )
        self._avg_chans = np.mean(frame, axis=(0, 1))
        window = siamfc_window(
            frame.shape, self._pos, c.template_size, round(self._context_side()), self._avg_chans
        )
        self._template = self.crops.template(frame, window)

    def search_crop(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The normalized search crop around the current state on the CPU, and its scale (crop px
        / frame px)."""
        return self._crop_around(frame, self._pos, self._size, HostCrops())

    def _crop_around(self, frame: np.ndarray, pos: np.ndarray, size: np.ndarray, crops=None) -> tuple:
        c = self.config
        s_z = self._context_side(size)
        scale_z = c.template_size / s_z
        s_x = s_z + 2 * ((self.instance_size - c.template_size) / 2) / scale_z
        window = siamfc_window(frame.shape, pos, self.instance_size, python2_round(s_x), self._avg_chans)
        return (crops or self.crops).search(frame, window), scale_z

    def search_side(self, box: np.ndarray) -> float:
        """The search crop's side in the image (s_x of the authors' tracker)."""
        c = self.config
        s_z = self._context_side(np.array([box[2], box[3]], dtype=np.float64))
        return float(s_z + 2 * ((self.instance_size - c.template_size) / 2) * s_z / c.template_size)

    def _plan(self, frame: np.ndarray, timer: StageTimer) -> tuple[dict, Completion]:
        pos, size = self._pos.copy(), self._size.copy()
        with timer.stage("preprocess"):
            search, scale_z = self._crop_around(frame, pos, size)

        def complete(outputs) -> tuple[np.ndarray, float]:
            with timer.stage("postprocess"):
                self.last_cls_score = sigmoid(outputs["cls"][0, 0])  # the track's map, not a window's
                self._pos, self._size, box, score = self._read(
                    frame, self.last_cls_score, outputs, pos, size, scale_z
                )
            return box, score

        return {"template": self._template, "search": search}, complete

    def _window(self, frame: np.ndarray, box: np.ndarray, timer: StageTimer) -> tuple[dict, Completion]:
        x, y, w, h = (float(v) for v in box)
        pos, size = np.array([x + w / 2, y + h / 2]), np.array([w, h])
        search, scale_z = self._crop_around(frame, pos, size)

        def complete(outputs) -> tuple[np.ndarray, float]:
            return self._read(frame, sigmoid(outputs["cls"][0, 0]), outputs, pos, size, scale_z)[2:]

        return {"template": self._template, "search": search}, complete

    def _read(
        self, frame, cls_score, outputs, pos, size, scale_z
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(new centre, new size, reported box, score) from a search around (pos, size), given the
        sigmoid of its classification map."""
        c = self.config
        height, width = frame.shape[:2]
        new_pos, new_size, score = self._update(cls_score, outputs["reg"][0], pos, size, scale_z)
        new_pos = np.array([max(0, min(width, new_pos[0])), max(0, min(height, new_pos[1]))])
        new_size = np.array(
            [max(c.min_size, min(width, new_size[0])), max(c.min_size, min(height, new_size[1]))]
        )
        w, h = new_size
        box = np.array([max(0.0, new_pos[0] - w / 2), max(0.0, new_pos[1] - h / 2), w, h])
        return new_pos, new_size, box, score

    def _update(
        self, cls_score: np.ndarray, reg: np.ndarray, pos: np.ndarray, size: np.ndarray, scale_z: float
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The authors' `update` (cls_score: the sigmoid of the classification map): pick the cell,
        move the centre, smooth the size; (centre, size, the chosen cell's score). A non-finite
        result (degenerate predictions) keeps the state."""
        c = self.config
        target = size * scale_z
        x1, y1 = self._grid_x - reg[0], self._grid_y - reg[1]
        x2, y2 = self._grid_x + reg[2], self._grid_y + reg[3]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            s_c = _change(_padded_size(x2 - x1, y2 - y1) / _padded_size(target[0], target[1]))
            r_c = _change((target[0] / target[1]) / ((x2 - x1) / (y2 - y1)))
            penalty = np.exp(-(r_c * s_c - 1) * c.penalty_k)
            pscore = penalty * cls_score * (1 - c.window_influence) + self.window * c.window_influence
            r, k = np.unravel_index(np.argmax(pscore), pscore.shape)
            centre = (
                np.array([(x1[r, k] + x2[r, k]) / 2, (y1[r, k] + y2[r, k]) / 2]) - self.instance_size // 2
            )
            pred = np.array([x2[r, k] - x1[r, k], y2[r, k] - y1[r, k]]) / scale_z
            old = target / scale_z
            lr = penalty[r, k] * cls_score[r, k] * c.size_lr
            smoothed = pred * lr + (1 - lr) * old
            new_pos = pos + centre / scale_z
            new_size = old * (1 - lr) + lr * smoothed  # quirk: the size is smoothed twice
        if not (np.isfinite(new_pos).all() and np.isfinite(new_size).all()):
            return pos, size, 0.0
        return new_pos, new_size, float(cls_score[r, k])


def _verification_feeds(variant: str) -> list[dict]:
    """Template/search crops of the synthetic scene made by the real pipeline."""
    from ..core.synthetic import SyntheticScene

    scene = SyntheticScene()
    tracker = ETTrackTracker(variant, runner=_NoRunner())
    tracker._initialize(scene.frame(0), np.asarray(scene.truth(0), dtype=np.float64))
    feeds = []
    for i in (1, 20, 40):
        tracker.set_state(scene.truth(i - 1))
        feeds.append({"template": tracker._template, "search": tracker.search_crop(scene.frame(i))[0]})
    return feeds


class _NoRunner:
    backend = "none"


def score_weighted_boxes(outputs: dict) -> np.ndarray:
    """(N, 4) corners (fractions of the search crop) for backend verification: every cell's box,
    averaged with weights sigmoid(cls). Continuous in the outputs, unlike the argmax cell, which
    flips between near-equal cells on a nearly flat map."""
    cls, reg = outputs["cls"].astype(np.float64), outputs["reg"].astype(np.float64)
    n, _, rows_n, cols_n = cls.shape
    stride = ETTRACK_VARIANTS["ettrack"].stride
    offsets = (np.arange(cols_n) - cols_n // 2) * stride + cols_n * stride // 2
    cx, cy = np.meshgrid(offsets, offsets)
    corners = np.stack([cx - reg[:, 0], cy - reg[:, 1], cx + reg[:, 2], cy + reg[:, 3]], axis=1)
    weights = sigmoid(cls).astype(np.float64)  # (N, 1, H, W)
    mean = (corners * weights).sum(axis=(2, 3)) / weights.sum(axis=(2, 3))
    return mean / (cols_n * stride)


ETTRACK = Family(
    name="E.T.Track",
    variants=ETTRACK_VARIANTS,
    inputs=ETTRACK_INPUTS,
    outputs=ETTRACK_OUTPUTS,
    build_network=lazy("hit_tracker_ros.models.ettrack", "build_ettrack"),
    make_tracker=ETTrackTracker,
    options_note=(
        "E.T.Track's search area follows the authors' fixed geometry (127 px template, 256/288 px "
        "search) and it has no online update"
    ),
    torch_runtime=lazy("hit_tracker_ros.models.ettrack", "CachedTemplateFeatures"),
    checkpoint_help=(
        "E.T.Track checkpoints are published by the authors (github.com/pblatter/ettrack, Google Drive): "
        "download e.g. checkpoint_e35.pth into models/ and pass its path as checkpoint"
    ),
    descriptions={
        "ettrack": "E.T.Track: LightTrack-Mobile backbone, Exemplar Transformer heads (CPU-friendly)"
    },
    verification_feeds=_verification_feeds,
    boxes_of=score_weighted_boxes,
    search_sizes=ETTRACK_VARIANTS["ettrack"].search_sizes,
    static_weight_form=lambda net: net.set_exemplar_mode("exemplar_sum"),
)

register_family(ETTRACK)
