"""The ways a target is handed to the node, as ROS messages -> boxes: a detector's Detection2D or
Detection2DArray, and a click (geometry_msgs/PointStamped, as rqt_image_view publishes it)."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PointStamped
from vision_msgs.msg import Detection2D, Detection2DArray

from ..core.boxes import InvalidBoxError
from ..core.handoff import Candidate
from .conversions import bbox_to_xywh


def detection_label(det: Detection2D) -> str:
    return det.results[0].hypothesis.class_id if det.results else ""


def candidates(msg: Detection2DArray) -> tuple[list[Candidate], list[str]]:
    """The usable detections of an array, and why the others were skipped."""
    usable, skipped = [], []
    for i, det in enumerate(msg.detections):
        try:
            box = bbox_to_xywh(det.bbox)
        except InvalidBoxError as exc:
            skipped.append(f"detection {i}: {exc}")
            continue
        scores = [r.hypothesis.score for r in det.results if np.isfinite(r.hypothesis.score)]
        labels = tuple(r.hypothesis.class_id for r in det.results)
        usable.append(Candidate(box=box, score=float(max(scores, default=0.0)), labels=labels))
    return usable, skipped


def point_box(msg: PointStamped, side: float, image_size: tuple[int, int]) -> np.ndarray:
    """A square of `side` px centred on a click; InvalidBoxError for a click outside the image."""
    x, y = float(msg.point.x), float(msg.point.y)
    width, height = image_size
    if not (np.isfinite(x) and np.isfinite(y) and 0 <= x < width and 0 <= y < height):
        raise InvalidBoxError(f"click ({x:g}, {y:g}) lies outside the {width}x{height} image")
    return np.array([x - side / 2.0, y - side / 2.0, side, side], dtype=np.float64)
