"""Crops and box mapping of the tracker families on the CPU: `sample_target` for the STARK lineage
(HiT, MixFormerV2, CompressTracker), `siamfc_subwindow` for the Siamese lineage (E.T.Track), both
from the windows of core.crop_window.

Each function reproduces the authors' arithmetic exactly, quirks included (named below and in
core.crop_window), because a checkpoint only reproduces the paper's results with the preprocessing
it was trained with.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.crop_window import CropWindow, host_crop, siamfc_window, stark_window

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def sample_target(
    frame: np.ndarray, box: np.ndarray | list[float], factor: float, output_size: int
) -> tuple[np.ndarray, float]:
    """The STARK-lineage crop (core.crop_window.stark_window, quirks named there): (uint8 crop,
    resize_factor = output_size / side)."""
    window, resize_factor = stark_window(frame.shape, box, factor, output_size)
    return host_crop(frame, window), resize_factor


def normalize(crop: np.ndarray) -> np.ndarray:
    """uint8 RGB crop (H, W, 3) -> float32 (1, 3, H, W), ImageNet mean/std after /255."""
    x = crop.astype(np.float32).transpose(2, 0, 1)[None] / np.float32(255.0)
    return (x - IMAGENET_MEAN[None, :, None, None]) / IMAGENET_STD[None, :, None, None]


def map_box_back(
    pred_cxcywh: np.ndarray, previous: list[float], search_size: int, resize_factor: float
) -> list[float]:
    """A box predicted in search-crop pixels (cx, cy, w, h) -> [x, y, w, h] in the frame, the
    crop being centred on the previous box."""
    cx_prev = previous[0] + 0.5 * previous[2]
    cy_prev = previous[1] + 0.5 * previous[3]
    cx, cy, w, h = (float(v) for v in pred_cxcywh)
    half_side = 0.5 * search_size / resize_factor
    cx_real = cx + (cx_prev - half_side)
    cy_real = cy + (cy_prev - half_side)
    return [cx_real - 0.5 * w, cy_real - 0.5 * h, w, h]


def clip_box(box: list[float], height: int, width: int, margin: float = 0) -> list[float]:
    """The authors' clip_box: keep the box inside the frame and at least `margin` px wide/high."""
    x1, y1, w, h = box
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0, x1), width - margin)
    x2 = min(max(margin, x2), width)
    y1 = min(max(0, y1), height - margin)
    y2 = min(max(margin, y2), height)
    return [x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)]


def python2_round(value: float) -> float:
    """Python 2 rounding (halves away from zero), as the SiamFC-lineage trackers compute crop sides."""
    if round(value + 1) - round(value) != 1:  # a half: Python 3 rounds it to even
        return value + math.copysign(0.5, value)
    return round(value)


def siamfc_subwindow(
    frame: np.ndarray,
    center: tuple[float, float],
    model_size: int,
    original_size: float,
    pad_value: np.ndarray,
) -> np.ndarray:
    """The Siamese-lineage crop (core.crop_window.siamfc_window, quirks named there): uint8 RGB
    (model_size, model_size, 3)."""
    return host_crop(frame, siamfc_window(frame.shape, center, model_size, original_size, pad_value))


class HostCrops:
    """Network inputs cropped on the CPU: exactly the authors' arithmetic (the default; the GPU
    form is backends.device_crops.DeviceCrops)."""

    device = None

    def search(self, frame: np.ndarray, window: CropWindow) -> np.ndarray:
        """(1, 3, S, S) float32, normalized."""
        return normalize(host_crop(frame, window))

    template = search
