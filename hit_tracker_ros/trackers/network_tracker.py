"""The skeleton every network tracker shares: a NetworkRunner (any backend), the variant's
configuration, the timed (batched) inference call and the outputs it last produced.

A family implements `_initialize`, `_plan` (the search crop around the track's state and what
turns the outputs into a box and a score, updating the state) and `_window` (the same for a
window around any box, leaving the state alone: re-acquisition), plus `set_state`."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from ..backends.batching import run_batched
from ..core.timing import StageTimer
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Completion, Tracker
from .crop import HostCrops


class NetworkTracker(Tracker):
    """`run_batch` runs the network, timed as the `inference` stage, and keeps the outputs of a
    single call in `last_outputs` (tests and tools read them)."""

    def __init__(
        self, variant: str, config, runner, score_threshold: float = DEFAULT_SCORE_THRESHOLD
    ) -> None:
        super().__init__(score_threshold)
        self.model = variant
        self.config = config
        self.runner = runner
        self.backend = runner.backend
        self.last_outputs: dict[str, np.ndarray] = {}
        # where crops are made: on the CPU (the authors' arithmetic), or on the backend's GPU
        # (backends.device_crops, enabled by build_network_tracker after a check)
        self.crops = HostCrops()

    @property
    def preprocess(self) -> str:
        """Where crops are made: "cpu", or the device of the GPU crops."""
        return "cpu" if self.crops.device is None else str(self.crops.device)

    def run_batch(self, feeds: list[dict[str, np.ndarray]], timer: StageTimer) -> list[dict[str, np.ndarray]]:
        with timer.stage("inference"):
            outputs = run_batched(self.runner, feeds)
        if len(outputs) == 1:
            self.last_outputs = outputs[0]
        return outputs

    def infer(self, feeds: dict[str, np.ndarray], timer: StageTimer) -> dict[str, np.ndarray]:
        """One batch-1 call (tools and tests)."""
        return self.run_batch([feeds], timer)[0]

    def _plan_window(self, frame: np.ndarray, box: np.ndarray, timer: StageTimer) -> tuple[dict, Completion]:
        return self._window(frame, box, timer)

    def _relocate(self, frame: np.ndarray, box: np.ndarray) -> None:
        self.set_state(box)

    @abstractmethod
    def set_state(self, box: list[float] | np.ndarray) -> None:
        """Centre the next search on `box` = [x, y, w, h] (the target model is kept)."""

    @abstractmethod
    def _window(self, frame: np.ndarray, box: np.ndarray, timer: StageTimer) -> tuple[dict, Completion]:
        """Feeds for a search around `box`, and what reads a box and score from their outputs
        without changing the track."""
