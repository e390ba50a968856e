"""A detector's Detection2D or Detection2DArray as hand-off candidates (a click's square box is
core.boxes.point_box)."""

from __future__ import annotations

import numpy as np
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
