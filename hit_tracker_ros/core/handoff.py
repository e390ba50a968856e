"""Which detection of a detector's frame becomes the tracked target (the node's `handoff_policy`).

* `best_score`: the highest hypothesis score;
* `nearest_center`: the detection closest to the image centre (the operator aims the camera);
* `nearest_previous`: the one closest to the last tracked box (re-acquiring the same target;
  `best_score` when there was none);
* `label:<class_id>`: only detections of that class, then the highest score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .boxes import centre

POLICIES = ("best_score", "nearest_center", "nearest_previous", "label:<class_id>")


@dataclass(frozen=True)
class Candidate:
    """One detection: box [x, y, w, h] in pixels, its best score and the class ids it carries."""

    box: np.ndarray
    score: float
    labels: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.labels[0] if self.labels else ""


@dataclass(frozen=True)
class HandoffPolicy:
    kind: str
    label: str = ""

    @classmethod
    def parse(cls, text: str) -> HandoffPolicy:
        if text.startswith("label:") and len(text) > len("label:"):
            return cls("label", text[len("label:") :])
        if text in POLICIES[:3]:
            return cls(text)
        raise ValueError(f"handoff_policy must be one of {', '.join(POLICIES)}; got '{text}'")


def choose(
    candidates: Sequence[Candidate],
    policy: HandoffPolicy,
    image_size: tuple[int, int],
    previous_box: np.ndarray | None = None,
    label: str | None = None,
) -> Candidate | None:
    """The candidate the policy picks, or None when none qualifies. `label` (re-acquisition)
    keeps only detections of the track's class first."""
    pool = [c for c in candidates if label is None or label in c.labels]
    if policy.kind == "label":
        pool = [c for c in pool if policy.label in c.labels]
    if not pool:
        return None
    if policy.kind == "nearest_center":
        image_centre = np.array(image_size, dtype=np.float64) / 2.0
        return min(pool, key=lambda c: _distance(c.box, image_centre))
    if policy.kind == "nearest_previous" and previous_box is not None:
        target = np.array(centre(previous_box))
        return min(pool, key=lambda c: _distance(c.box, target))
    return max(pool, key=lambda c: c.score)


def _distance(box: np.ndarray, point: np.ndarray) -> float:
    return float(np.hypot(*(np.array(centre(box)) - point)))
