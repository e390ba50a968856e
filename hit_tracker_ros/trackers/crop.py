"""Crops and box mapping of the tracker families: `sample_target` for the STARK lineage (HiT,
MixFormerV2, CompressTracker), `siamfc_subwindow` for the Siamese lineage (E.T.Track).

Each function reproduces the authors' arithmetic exactly, quirks included (named below), because
a checkpoint only reproduces the paper's results with the preprocessing it was trained with.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def sample_target(
    frame: np.ndarray, box: np.ndarray | list[float], factor: float, output_size: int
) -> tuple[np.ndarray, float]:
    """Square crop of side ceil(sqrt(w*h) * factor) centred on `box`, zero-padded, resized
    (bilinear) to output_size. Returns (crop, resize_factor = output_size / side).

    Quirks kept from the authors' `sample_target`:
    * the top-left corner is Python `round` of the float corner (halves round to even);
    * the right/bottom padding is `x2 - W + 1`: one pixel more than needed, so a crop that
      reaches the right (bottom) border replaces the last image column (row) by padding.
    """
    x, y, w, h = (float(v) for v in box)
    side = math.ceil(math.sqrt(w * h) * factor)
    if side < 1:
        raise ValueError(f"box {[x, y, w, h]} is too small to crop")
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    x2, y2 = x1 + side, y1 + side
    height, width = frame.shape[:2]
    x1_pad, y1_pad = max(0, -x1), max(0, -y1)
    x2_pad = max(x2 - width + 1, 0)  # quirk: +1
    y2_pad = max(y2 - height + 1, 0)  # quirk: +1
    crop = frame[y1 + y1_pad : y2 - y2_pad, x1 + x1_pad : x2 - x2_pad, :]
    padded = cv2.copyMakeBorder(crop, y1_pad, y2_pad, x1_pad, x2_pad, cv2.BORDER_CONSTANT)
    return cv2.resize(padded, (output_size, output_size)), output_size / side


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
    """Square crop of side `original_size` centred on `center`, padded with `pad_value`, resized
    (bilinear) to model_size when the sizes differ. uint8 RGB (model_size, model_size, 3).

    Quirks kept from the authors' `get_subwindow_tracking`:
    * the left/top corner is Python `round(center - (side + 1) / 2)` (halves to even);
    * the padding is the frame's channel mean cast into a uint8 image, i.e. truncated.
    """
    side = int(original_size)
    if side < 1:
        raise ValueError(f"crop side {original_size} is too small")
    half = (original_size + 1) / 2
    x1 = round(float(center[0]) - half)
    y1 = round(float(center[1]) - half)
    x2, y2 = x1 + side, y1 + side  # exclusive
    height, width = frame.shape[:2]
    if x1 >= 0 and y1 >= 0 and x2 <= width and y2 <= height:
        patch = frame[y1:y2, x1:x2]
    else:
        patch = np.empty((side, side, 3), dtype=np.uint8)
        patch[:] = np.asarray(pad_value, dtype=np.float64).astype(np.uint8)
        ix1, iy1, ix2, iy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if ix2 > ix1 and iy2 > iy1:
            patch[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] = frame[iy1:iy2, ix1:ix2]
    if side != model_size:
        patch = cv2.resize(patch, (model_size, model_size))
    return np.ascontiguousarray(patch)
