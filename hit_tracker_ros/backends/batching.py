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
    """runner.run on every feed (batch 1 each), in as few calls as shapes and max_batch allow.
    Feeds may hold device inputs (GPU preprocessing: lazy crops, device tensors); those are
    resolved and stacked on the device, each frame uploaded once per call."""
    outputs: list[Feeds | None] = [None] * len(feeds)
    groups: dict[tuple, list[int]] = {}
    for i, feed in enumerate(feeds):
        key = tuple((name, tuple(feed[name].shape)) for name in sorted(feed))
        groups.setdefault(key, []).append(i)
    limit = max_batch_of(runner)
    uploaded: dict = {}  # frames on the device, shared by every chunk of this call
    for members in groups.values():
        for start in range(0, len(members), limit):
            chunk = members[start : start + limit]
            names = feeds[chunk[0]].keys()
            batched = runner.run({n: _stack([feeds[i][n] for i in chunk], uploaded) for n in names})
            if len(chunk) == 1:
                outputs[chunk[0]] = batched
                continue
            for row, i in enumerate(chunk):
                outputs[i] = {name: value[row : row + 1] for name, value in batched.items()}
    return outputs  # type: ignore[return-value]


def _stack(values: list, uploaded: dict):
    """One input of a batched call: host arrays concatenated (a single one passed as it is);
    device inputs stacked on the device (torch imported only then)."""
    if all(isinstance(v, np.ndarray) for v in values):
        return values[0] if len(values) == 1 else np.concatenate(values)
    from .device_crops import stack_inputs

    return stack_inputs(values, uploaded)
