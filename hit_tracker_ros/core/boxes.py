"""Box geometry: validation, clipping, conversions and IoU. Boxes are [x, y, w, h] in pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_BOX_SIDE_PX = 2.0


@dataclass(frozen=True)
class BoxLimits:
    """The initial boxes a tracker can track: every box that passes these produces a track.

    min_side: pixels of each side inside the image; max_aspect_ratio: long side / short side
    (OpenCV's CSRT fails in its first update on boxes about 35-40x longer than wide)."""

    min_side: float = MIN_BOX_SIDE_PX
    max_aspect_ratio: float = math.inf

    def describe(self) -> str:
        text = f"sides >= {self.min_side:g} px"
        if math.isfinite(self.max_aspect_ratio):
            text += f", long side <= {self.max_aspect_ratio:g} x short side"
        return text


class InvalidBoxError(ValueError):
    """A box that cannot start or describe a track (NaN, non-positive size, outside the image)."""


def as_box(box: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return `box` as a float64 array of 4 values, rejecting NaN/inf and wrong lengths."""
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.size != 4:
        raise InvalidBoxError(f"a box needs 4 values [x, y, w, h], got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise InvalidBoxError(f"box has NaN or infinite values: {arr.tolist()}")
    return arr


def validate_box(
    box: Sequence[float] | np.ndarray,
    image_size: tuple[int, int],
    limits: BoxLimits = BoxLimits(),
) -> np.ndarray:
    """Check an initial box against an image of `image_size` = (width, height).

    The box must be finite with positive width and height and overlap the image; the part
    outside the image is cut off, and what remains must satisfy `limits`. Returns the clipped
    box; raises InvalidBoxError otherwise.
    """
    arr = as_box(box)
    x, y, w, h = arr
    if w <= 0 or h <= 0:
        raise InvalidBoxError(f"box width and height must be positive, got w={w:g}, h={h:g}")
    clipped = clip_to_image(arr, image_size)
    cw, ch = clipped[2], clipped[3]
    if cw < limits.min_side or ch < limits.min_side:
        width, height = image_size
        where = (
            "is too small"
            if np.allclose(clipped, arr)
            else f"lies outside the {width}x{height} image (less than {limits.min_side:g} px inside)"
        )
        raise InvalidBoxError(
            f"box [{x:g}, {y:g}, {w:g}, {h:g}] {where}: this tracker needs {limits.describe()}"
        )
    if max(cw, ch) > limits.max_aspect_ratio * min(cw, ch):
        needs = limits.describe()
        raise InvalidBoxError(
            f"box of {cw:.1f}x{ch:.1f} px (inside the image) is too thin: this tracker needs {needs}"
        )
    return clipped


def centre_size_to_xywh(cx: float, cy: float, w: float, h: float, theta: float = 0.0) -> np.ndarray:
    """A box given by centre, size and rotation (vision_msgs' BoundingBox2D) as [x, y, w, h];
    InvalidBoxError for a rotated box or NaN: the trackers follow axis-aligned boxes."""
    if not math.isfinite(theta) or abs(theta) > 1e-9:
        raise InvalidBoxError(f"rotated boxes are not supported (center.theta = {theta:g}, must be 0)")
    return as_box(cxcywh_to_xywh(np.array([cx, cy, w, h], dtype=np.float64)))


def point_box(x: float, y: float, side: float, image_size: tuple[int, int]) -> np.ndarray:
    """A square of `side` px centred on a point (a click, a tap, a MAVLink track point);
    InvalidBoxError for a point outside the image."""
    width, height = image_size
    if not (math.isfinite(x) and math.isfinite(y) and 0 <= x < width and 0 <= y < height):
        raise InvalidBoxError(f"point ({x:g}, {y:g}) lies outside the {width}x{height} image")
    return np.array([x - side / 2.0, y - side / 2.0, side, side], dtype=np.float64)


def clip_to_image(box: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Intersect [x, y, w, h] with the image rectangle; width/height become 0 when disjoint."""
    width, height = image_size
    x1 = min(max(box[0], 0.0), width)
    y1 = min(max(box[1], 0.0), height)
    x2 = min(max(box[0] + box[2], 0.0), width)
    y2 = min(max(box[1] + box[3], 0.0), height)
    return np.array([x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)], dtype=np.float64)


def xywh_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """[x, y, w, h] -> [cx, cy, w, h]."""
    x, y, w, h = box
    return np.array([x + w / 2.0, y + h / 2.0, w, h], dtype=np.float64)


def cxcywh_to_xywh(box: np.ndarray) -> np.ndarray:
    """[cx, cy, w, h] -> [x, y, w, h]."""
    cx, cy, w, h = box
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float64)


def centre(box: np.ndarray) -> tuple[float, float]:
    """(cx, cy) of [x, y, w, h]."""
    return float(box[0] + box[2] / 2.0), float(box[1] + box[3] / 2.0)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) [x, y, w, h] -> (N, 4) [x1, y1, x2, y2] (half-open: x2 = x + w)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) [cx, cy, w, h] -> (N, 4) [x1, y1, x2, y2]."""
    b = np.asarray(boxes).reshape(-1, 4)
    return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)


def iou_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (N, 4) corner boxes. Corners are sorted first, so flipped boxes still
    compare; two identical empty boxes have IoU 1, any other empty pair 0."""
    a = np.concatenate([np.minimum(a[:, :2], a[:, 2:]), np.maximum(a[:, :2], a[:, 2:])], axis=1)
    b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None)
    inter = wh.prod(axis=1)
    union = (a[:, 2:] - a[:, :2]).prod(axis=1) + (b[:, 2:] - b[:, :2]).prod(axis=1) - inter
    same = np.all(np.abs(a - b) < 1e-6, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, same.astype(float))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two [x, y, w, h] boxes (0 when either is empty)."""
    if a[2] * a[3] <= 0 or b[2] * b[3] <= 0:
        return 0.0
    return float(iou_rows(xywh_to_xyxy(a), xywh_to_xyxy(b))[0])


def normalized_fields(box: np.ndarray | None, width: int, height: int) -> dict[str, float]:
    """MAVLink CAMERA_TRACKING_IMAGE_STATUS-style fields of TrackerStatus: corners and centre
    normalized to [0, 1], centre error to [-1, 1] (+x right, +y down). All 0 without a box."""
    keys = (
        "rec_top_x",
        "rec_top_y",
        "rec_bottom_x",
        "rec_bottom_y",
        "point_x",
        "point_y",
        "error_x",
        "error_y",
    )
    if box is None or width <= 0 or height <= 0:
        return dict.fromkeys(keys, 0.0)
    x, y, w, h = (float(v) for v in box)
    point_x, point_y = (x + w / 2) / width, (y + h / 2) / height
    values = (
        x / width,
        y / height,
        (x + w) / width,
        (y + h) / height,
        point_x,
        point_y,
        float(np.clip(2 * point_x - 1, -1, 1)),
        float(np.clip(2 * point_y - 1, -1, 1)),
    )
    return dict(zip(keys, values, strict=True))
