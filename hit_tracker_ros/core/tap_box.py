"""A box fitted to the object under a tapped point (the operator page's tap, `~/init_point`, a
MAVLink TRACK_POINT without a radius), so a track does not start on a fixed square that is four
times a small person or a quarter of a car.

Why GrabCut on a local window: it needs nothing but the frame (no weights, every tracker family
and CSRT alike), it separates an object from its surroundings by colour and edges, and on a
window of at most `WORK_SIDE` px it runs in a few milliseconds. The tracker's own score over
candidate boxes was the other choice; on one frame every candidate matches itself, so it cannot
tell the object's extent.

The window around the point starts at 3x the fallback square and doubles while the object
reaches the window's edge, within the time budget (`BUDGET_MS`); the point's pixel is certain
foreground, a small disc around it probable foreground, the window's border certain background.
The box is the bounding box of the foreground region that holds the point; a region no larger
than the seed disc is a detail of something larger and also asks for a larger window. Nothing fits (no
region, a sliver, an object larger than the largest window, the budget spent): the fallback
square, and `BoxFit.how` says why.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from .boxes import point_box

WORK_SIDE = 128  # GrabCut runs on the window scaled to at most this side (its cost grows with area)
ITERATIONS = 2
# The time budget: a larger window is tried only when the time spent plus the last window's time
# fits in it (every window costs about the same, being scaled to WORK_SIDE). Measured on a 2-core
# EPYC: 25-33 ms for objects up to 120 px, about 40 ms for 160 px (docs/benchmarks.md, "Tap to box").
BUDGET_MS = 60.0
MIN_SIDE = 4.0  # a fitted box narrower than this (camera px) is a sliver, not an object
MAX_WINDOWS = 3


@dataclass(frozen=True)
class BoxFit:
    box: np.ndarray  # [x, y, w, h] in pixels of the image
    fitted: bool  # False: the fallback square
    how: str  # why this box (for logs and replies)
    ms: float  # time spent


def fit_box(
    rgb: np.ndarray, x: float, y: float, fallback_side: float, budget_ms: float = BUDGET_MS
) -> BoxFit:
    """The box of the object under (x, y) in `rgb` (H x W x 3 uint8), or the fallback square of
    `fallback_side` px; InvalidBoxError for a point outside the image."""
    started = time.perf_counter()
    height, width = rgb.shape[:2]
    square = point_box(x, y, fallback_side, (width, height))  # also validates the point
    side = 3.0 * fallback_side
    why = "no object separates from its surroundings"
    for _ in range(MAX_WINDOWS):
        window_started = time.perf_counter()
        box, touches = _segment(rgb, x, y, side)
        now = time.perf_counter()
        spent, last = (now - started) * 1000.0, (now - window_started) * 1000.0
        if box is not None and not touches:
            return BoxFit(box, True, f"fitted to the object under the point ({spent:.0f} ms)", spent)
        if box is None:
            break
        why = "the object is larger than the largest window"
        if side >= max(width, height):
            break
        if spent + last > budget_ms:
            why = f"the object reaches beyond the window and the {budget_ms:.0f} ms budget is spent"
            break
        side *= 2.0
    spent = (time.perf_counter() - started) * 1000.0
    return BoxFit(square, False, f"a {fallback_side:.0f} px square: {why}", spent)


def _segment(rgb: np.ndarray, x: float, y: float, side: float) -> tuple[np.ndarray | None, bool]:
    """GrabCut on the window of `side` px around (x, y): the foreground box holding the point (None
    when there is none, or a sliver) and whether it reaches the window's edge."""
    height, width = rgb.shape[:2]
    x0, y0 = max(int(round(x - side / 2)), 0), max(int(round(y - side / 2)), 0)
    x1, y1 = min(int(round(x + side / 2)), width), min(int(round(y + side / 2)), height)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None, False
    scale = min(1.0, WORK_SIDE / max(x1 - x0, y1 - y0))
    window = rgb[y0:y1, x0:x1]
    if scale < 1.0:
        size = (max(int(round((x1 - x0) * scale)), 8), max(int(round((y1 - y0) * scale)), 8))
        window = cv2.resize(window, size, interpolation=cv2.INTER_AREA)
    h, w = window.shape[:2]
    px = min(int((x - x0) * w / (x1 - x0)), w - 1)
    py = min(int((y - y0) * h / (y1 - y0)), h - 1)
    mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    radius = max(2, int(round(min(h, w) / 16)))
    cv2.circle(mask, (px, py), radius, cv2.GC_PR_FGD, -1)
    edge = {"x": (x0 > 0, x1 < width), "y": (y0 > 0, y1 < height)}  # the image's own edge is no border
    band = 1
    if edge["y"][0]:
        mask[:band] = cv2.GC_BGD
    if edge["y"][1]:
        mask[-band:] = cv2.GC_BGD
    if edge["x"][0]:
        mask[:, :band] = cv2.GC_BGD
    if edge["x"][1]:
        mask[:, -band:] = cv2.GC_BGD
    mask[max(py - 1, 0) : py + 2, max(px - 1, 0) : px + 2] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(window[..., ::-1])
    cv2.grabCut(bgr, mask, None, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    foreground = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    label = labels[py, px]
    if count < 2 or label == 0:
        return None, False
    left, top, bw, bh, _ = stats[label]
    # a region within the seed disc is a detail of something larger (a stripe on a car): like an
    # object that reaches the edge, it asks for a larger window
    touches = (
        (bw < 2 * radius and bh < 2 * radius)
        or (left <= band and edge["x"][0])
        or (top <= band and edge["y"][0])
        or (left + bw >= w - band and edge["x"][1])
        or (top + bh >= h - band and edge["y"][1])
    )
    fx, fy = (x1 - x0) / w, (y1 - y0) / h
    box = np.array([x0 + left * fx, y0 + top * fy, bw * fx, bh * fy], dtype=np.float64)
    if box[2] < MIN_SIDE or box[3] < MIN_SIDE or not all(math.isfinite(v) for v in box):
        return None, False
    return box, bool(touches)
