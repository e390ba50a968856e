"""Where a tracker's crop reads the frame: the square window, the part of the frame it may read and
its padding colour, computed once for the CPU crop (OpenCV, the authors' bit-exact arithmetic) and
the GPU crop (one batched gather on the device).

Two lineages, each with the authors' quirks kept (a checkpoint reproduces its paper only with the
preprocessing it was trained with):
* `stark_window` (HiT, MixFormerV2, CompressTracker: the authors' `sample_target`): the top-left
  corner is Python `round` of the float corner (halves to even); padding is black; the right/bottom
  padding is `x2 - W + 1`, one pixel more than needed, so a window that reaches the right (bottom)
  border reads the last image column (row) as padding.
* `siamfc_window` (E.T.Track: `get_subwindow_tracking`): the corner is `round(center - (side + 1)
  / 2)`; padding is the frame's channel mean cast to uint8, i.e. truncated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropWindow:
    """A square of `side` frame pixels with top-left corner (x1, y1), resampled (bilinear) to
    out_size. Frame columns [x_lo, x_hi) and rows [y_lo, y_hi) are read; every other pixel of the
    square is `pad` (uint8 RGB)."""

    x1: int
    y1: int
    side: int
    x_lo: int
    x_hi: int
    y_lo: int
    y_hi: int
    pad: tuple[int, int, int]
    out_size: int

    @property
    def inside(self) -> bool:
        """Whether the window reads only frame pixels (no padding)."""
        return (self.x_lo, self.y_lo, self.x_hi, self.y_hi) == (
            self.x1,
            self.y1,
            self.x1 + self.side,
            self.y1 + self.side,
        )


def stark_window(
    frame_shape: tuple[int, ...], box, factor: float, output_size: int
) -> tuple[CropWindow, float]:
    """The window of `sample_target`: side ceil(sqrt(w*h) * factor) centred on `box` = [x, y, w, h];
    (window, resize factor = output_size / side)."""
    x, y, w, h = (float(v) for v in box)
    side = math.ceil(math.sqrt(w * h) * factor)
    if side < 1:
        raise ValueError(f"box {[x, y, w, h]} is too small to crop")
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    height, width = frame_shape[:2]
    x2, y2 = x1 + side, y1 + side
    # quirk: the right/bottom padding is x2 - W + 1, so the last frame column/row is never read
    window = CropWindow(
        x1, y1, side, max(x1, 0), min(x2, width - 1), max(y1, 0), min(y2, height - 1), (0, 0, 0), output_size
    )
    return window, output_size / side


def siamfc_window(
    frame_shape: tuple[int, ...],
    center: tuple[float, float],
    model_size: int,
    original_size: float,
    pad_value,
) -> CropWindow:
    """The window of `get_subwindow_tracking`: side int(original_size) centred on `center`, padded
    with `pad_value` truncated to uint8."""
    side = int(original_size)
    if side < 1:
        raise ValueError(f"crop side {original_size} is too small")
    half = (original_size + 1) / 2
    x1 = round(float(center[0]) - half)
    y1 = round(float(center[1]) - half)
    height, width = frame_shape[:2]
    pad = tuple(int(v) for v in np.asarray(pad_value, dtype=np.float64).astype(np.uint8))
    return CropWindow(
        x1, y1, side, max(x1, 0), min(x1 + side, width), max(y1, 0), min(y1 + side, height), pad, model_size
    )


def host_crop(frame: np.ndarray, window: CropWindow) -> np.ndarray:
    """uint8 RGB (out_size, out_size, 3): the window's pixels (padding outside the readable part),
    resized with OpenCV's bilinear resize when the side differs from out_size. Bit-exact with the
    authors' crops."""
    side = window.side
    if window.inside:
        patch = frame[window.y1 : window.y1 + side, window.x1 : window.x1 + side]
    else:
        patch = np.empty((side, side, 3), dtype=np.uint8)
        patch[:] = window.pad
        if window.x_hi > window.x_lo and window.y_hi > window.y_lo:
            top, left = window.y_lo - window.y1, window.x_lo - window.x1
            rows, cols = window.y_hi - window.y_lo, window.x_hi - window.x_lo
            patch[top : top + rows, left : left + cols] = frame[
                window.y_lo : window.y_hi, window.x_lo : window.x_hi
            ]
    if side != window.out_size:
        patch = cv2.resize(patch, (window.out_size, window.out_size))
    return np.ascontiguousarray(patch)
