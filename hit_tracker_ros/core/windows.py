"""Score-map windows, each in the form the family that uses it was trained with.

The two differ at the ends: the STARK/OSTrack form never reaches zero, numpy's `hanning` (the
SiamFC lineage) is zero at both ends. Using the other one moves the argmax near the borders.
"""

from __future__ import annotations

import math

import numpy as np


def hann_stark(n: int) -> np.ndarray:
    """0.5 * (1 - cos(2 pi k / (n + 1))), k = 1..n, float32, outer product (n, n): CompressTracker
    (OSTrack's centred window, `hann2d`)."""
    k = np.arange(1, n + 1, dtype=np.float32)
    w = np.float32(0.5) * (np.float32(1) - np.cos(np.float32(2 * math.pi / (n + 1)) * k))
    return w[:, None] * w[None, :]


def hanning_siamfc(n: int) -> np.ndarray:
    """np.outer(np.hanning(n), np.hanning(n)), float64 (zero at the ends): E.T.Track (SiamFC)."""
    return np.outer(np.hanning(n), np.hanning(n))


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function in float32, as the authors' trackers compute scores (MixFormerV2's score
    head, E.T.Track's cls map)."""
    x = np.asarray(x, dtype=np.float32)
    return np.float32(1) / (np.float32(1) + np.exp(-x))
