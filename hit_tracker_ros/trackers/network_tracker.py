"""The skeleton every network tracker shares: a NetworkRunner (any backend), the variant's
configuration, the timed inference call and the outputs it last produced."""

from __future__ import annotations

import numpy as np

from ..core.timing import StageTimer
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Tracker


class NetworkTracker(Tracker):
    """Families implement `_initialize` and `_track`; `infer` runs the network, timed as the
    `inference` stage, and keeps its outputs in `last_outputs` (tests and tools read them)."""

    def __init__(
        self, variant: str, config, runner, score_threshold: float = DEFAULT_SCORE_THRESHOLD
    ) -> None:
        super().__init__(score_threshold)
        self.model = variant
        self.config = config
        self.runner = runner
        self.backend = runner.backend
        self.last_outputs: dict[str, np.ndarray] = {}

    def infer(self, feeds: dict[str, np.ndarray], timer: StageTimer) -> dict[str, np.ndarray]:
        with timer.stage("inference"):
            outputs = self.runner.run(feeds)
        self.last_outputs = outputs
        return outputs
