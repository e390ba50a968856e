"""Inference backends: run a network given named numpy inputs, return named numpy outputs."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class NetworkRunner(Protocol):
    """What a tracking pipeline needs from a backend."""

    backend: str

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named float32 inputs -> named float32 outputs."""
        ...
