"""Re-acquisition of a lost target: every family searches only a window around the last box
(2-5x the target size), so a target that reappears elsewhere is never found by tracking alone.
After `after_frames` LOST frames the session also scores a grid of search windows at the target's
last size, covering the image, at most `windows_per_frame` per frame (cycling over the grid, so the
cost per frame is bounded), and moves the track to the best window once its score reaches
`threshold`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReacquireSettings:
    after_frames: int = 0  # LOST frames before the search starts; 0: never search
    windows_per_frame: int = 4
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.after_frames < 0:
            raise ValueError(f"reacquire_after must be >= 0, got {self.after_frames}")
        if self.windows_per_frame < 1:
            raise ValueError(f"reacquire_windows_per_frame must be >= 1, got {self.windows_per_frame}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"reacquire_threshold must lie in [0, 1], got {self.threshold}")

    @property
    def enabled(self) -> bool:
        return self.after_frames > 0


def window_grid(image_size: tuple[int, int], box: np.ndarray, window_side: float) -> list[np.ndarray]:
    """Boxes of `box`'s size centred on a grid whose windows (each seeing `window_side` pixels)
    cover the image, neighbours half a window apart (so a target anywhere lies within a quarter
    window of some window's centre), row by row from the top left."""
    width, height = image_size
    w, h = float(box[2]), float(box[3])
    step = max(window_side / 2.0, 1.0)
    centres_x = _centres(width, step)
    centres_y = _centres(height, step)
    return [np.array([cx - w / 2, cy - h / 2, w, h]) for cy in centres_y for cx in centres_x]


def _centres(length: int, step: float) -> list[float]:
    """Evenly spread centres along [0, length], at most `step` apart, the first and last a half
    step in from the borders."""
    count = max(math.ceil(length / step), 1)
    spacing = length / count
    return [spacing * (i + 0.5) for i in range(count)]


class WindowCycle:
    """The grid of one search, handed out a few windows per frame, wrapping around."""

    def __init__(self, windows: list[np.ndarray]) -> None:
        self.windows = windows
        self._next = 0

    def take(self, n: int) -> list[np.ndarray]:
        n = min(n, len(self.windows))
        chosen = [self.windows[(self._next + i) % len(self.windows)] for i in range(n)]
        self._next = (self._next + n) % len(self.windows)
        return chosen
