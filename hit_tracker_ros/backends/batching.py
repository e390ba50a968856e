"""Several batch-1 network calls as few batched ones: the feeds of several targets and of
re-acquisition windows go through the network together.

Feeds are grouped by input shapes (E.T.Track's 256 and 288 px searches cannot share a batch), each
group is stacked along the batch axis and run in chunks of at most the runner's `max_batch` (an
ONNX file with a fixed batch of 1, a TensorRT profile), and the outputs are split back into
batch-1 rows, in the order of the feeds.
"""

from __future__ import annotations

import numpy as np

Feeds = dict[str, np.ndarray]


def max_batch_of(runner) -> int:
    """The largest batch `runner` accepts (runners without the attribute: 1)."""
    return max(int(getattr(runner, "max_batch", 1)), 1)


def run_batched(runner, feeds: list[Feeds]) -> list[Feeds]:
    """runner.run on every feed (batch 1 each), in as few calls as shapes and max_batch allow."""
    outputs: list[Feeds | None] = [None] * len(feeds)
    groups: dict[tuple, list[int]] = {}
    for i, feed in enumerate(feeds):
        key = tuple((name, feed[name].shape) for name in sorted(feed))
        groups.setdefault(key, []).append(i)
    limit = max_batch_of(runner)
    for members in groups.values():
        for start in range(0, len(members), limit):
            chunk = members[start : start + limit]
            if len(chunk) == 1:
                outputs[chunk[0]] = runner.run(feeds[chunk[0]])
                continue
            names = feeds[chunk[0]].keys()
            batched = runner.run({n: np.concatenate([feeds[i][n] for i in chunk]) for n in names})
            for row, i in enumerate(chunk):
                outputs[i] = {name: value[row : row + 1] for name, value in batched.items()}
    return outputs  # type: ignore[return-value]
