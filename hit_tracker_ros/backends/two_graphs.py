"""A network exported as two graphs (AsymTrack): template -> cache, and search + cache -> outputs.

The tracker feeds the template with every search, as for every family; this runner runs the
template graph only for a template it has not seen, so the ONNX runtimes (ONNX Runtime, OpenVINO,
TensorRT) compute a target's template half once per initialize(), as the torch runtime does. Each
batch row is looked up on its own (several targets share a batch, or with a batch limit of 1 run
one after another), keyed by content: a re-initialization on another target can never be
served an old target's cache.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .batching import max_batch_of
from .select import Built

MAX_TEMPLATES = 32  # cached templates (targets) per runner; the least recently used goes first


class TwoGraphRunner:
    """run({"search", "template"}) like a one-graph runner; see the module docstring."""

    def __init__(self, template_runner, search_runner, cache: tuple[str, ...]) -> None:
        self.template_runner, self.search_runner, self.cache = template_runner, search_runner, cache
        self.backend = search_runner.backend
        self.max_batch = min(max_batch_of(template_runner), max_batch_of(search_runner))
        self.input_device = getattr(search_runner, "input_device", None)
        self._templates: OrderedDict[bytes, dict[str, np.ndarray]] = OrderedDict()
        self.template_runs = 0  # template-graph calls (tests, benchmarks)

    def __getattr__(self, name: str):
        """What diagnostics read from a runner (providers, compiled-model cache): the search graph's."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.search_runner, name)

    def run(self, inputs: dict) -> dict[str, np.ndarray]:
        template = _host(inputs["template"])
        keys = [row.tobytes() for row in template]
        missing = [i for i, key in enumerate(keys) if key not in self._templates]
        if missing:
            cache = self.template_runner.run({"template": template[missing]})
            self.template_runs += 1
            for row, i in enumerate(missing):
                self._templates[keys[i]] = {name: cache[name][row : row + 1] for name in self.cache}
        rows = []
        for key in keys:
            self._templates.move_to_end(key)
            rows.append(self._templates[key])
        while len(self._templates) > MAX_TEMPLATES:
            self._templates.popitem(last=False)
        feeds = {name: value for name, value in inputs.items() if name != "template"}
        for name in self.cache:
            feeds[name] = rows[0][name] if len(rows) == 1 else np.concatenate([r[name] for r in rows])
        return self.search_runner.run(feeds)


def _host(value) -> np.ndarray:
    """Templates as host arrays (a device tensor from GPU preprocessing is copied once)."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    return value.detach().float().cpu().numpy()


def two_graph_runner(template: object, search: object, cache: tuple[str, ...]) -> Built:
    """Combine what two candidates built (runners, or Built with a TensorRT engine: the search
    graph's is the one recorded)."""
    t = template if isinstance(template, Built) else Built(template)
    s = search if isinstance(search, Built) else Built(search)
    return Built(TwoGraphRunner(t.runner, s.runner, cache), s.engine)
