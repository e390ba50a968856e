"""PyTorch on CUDA through CUDA graphs: at batch 1 these networks are launch-bound (hundreds of
small kernels, each launched from Python), so eager HiT-Base runs as fast as HiT-Tiny. A graph
replays the whole kernel sequence with one launch.

Graphs need static shapes and no host-side branches. So:
* one graph set per set of input shapes, captured at first use and kept (E.T.Track's 256 and 288 px
  searches get one each; at most MAX_GRAPH_SETS, the oldest dropped), re-captured when shapes change;
* a network that caches its template (MixFormerV2's per-block keys/values, E.T.Track's template
  features) says so through the TemplateCached protocol: its template half is a graph of its own,
  replayed only when the template input changed (compared on the host), and its features stay in
  static device memory that the search graph reads; a network without it (HiT, CompressTracker)
  is one graph over all inputs;
* at capture, the first replay is compared with an eager run of the same inputs, and the backend
  is verified against the FP32 CPU reference like every accelerated one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

MAX_GRAPH_SETS = 8
WARMUP_RUNS = 3  # on a side stream before capture (cuDNN/cuBLAS choose their kernels)
# graph replay vs eager on the capture inputs: the same kernels, so only nondeterministic
# reductions may differ
EAGER_TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2}

Outputs = tuple[torch.Tensor, ...]


@runtime_checkable
class TemplateCached(Protocol):
    """A network whose template half runs only when the template changes (its forward() is that
    check plus encode_templates() and track())."""

    template_inputs: tuple[str, ...]  # input names, in forward() order, that make the template

    def encode_templates(self, *templates: torch.Tensor) -> Outputs: ...

    def track(self, features: Outputs, *search: torch.Tensor) -> Outputs: ...


class CudaGraphs:
    """Capture and replay through torch.cuda (one memory pool shared by all graphs of a runner)."""

    def __init__(self) -> None:
        self._pool = None
        self._graphs: list = []  # kept alive: a graph's outputs live in its pool

    def capture(self, fn: Callable[[], Outputs]) -> tuple[Callable[[], None], Outputs, Outputs]:
        """(replay, static outputs, eager outputs of the last warm-up run)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                eager = tuple(t.clone() for t in fn())
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            outputs = fn()
        self._pool = graph.pool()
        self._graphs.append(graph)
        return graph.replay, tuple(outputs), eager


class EagerGraphs:
    """The same interface without CUDA: "replay" runs the function again on the same static
    tensors. It lets CPU-only machines test everything around the graphs (shape sets, template
    changes, the split networks); the graphs themselves need a GPU."""

    def capture(self, fn: Callable[[], Outputs]) -> tuple[Callable[[], None], Outputs, Outputs]:
        eager = tuple(t.clone() for t in fn())
        outputs = list(fn())

        def replay() -> None:
            for static, new in zip(outputs, fn(), strict=True):
                static.copy_(new)

        return replay, tuple(outputs), eager


@dataclass
class _GraphSet:
    """The static inputs, graphs and outputs for one set of input shapes."""

    inputs: dict[str, torch.Tensor]
    track: Callable[[], None]
    outputs: Outputs
    encode: Callable[[], None] | None = None
    template: list[np.ndarray] = field(default_factory=list)  # host copy of the encoded template


class CudaGraphRunner:
    """Runs a torch network by replaying CUDA graphs (see the module docstring)."""

    def __init__(
        self,
        net: torch.nn.Module,
        input_names: tuple[str, ...],
        output_names: tuple[str, ...],
        device: str = "cuda",
        fp16: bool = False,
        graphs: CudaGraphs | EagerGraphs | None = None,
    ) -> None:
        if graphs is None:
            if not (device.startswith("cuda") and torch.cuda.is_available()):
                raise RuntimeError("CUDA graphs need a CUDA device")
            graphs = CudaGraphs()
        self.graphs = graphs
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.net = net.to(self.device, self.dtype).eval()
        self.input_names, self.output_names = input_names, output_names
        split = isinstance(net, TemplateCached)
        self.template_names = tuple(net.template_inputs) if split else ()
        self.search_names = tuple(n for n in input_names if n not in self.template_names)
        self._sets: OrderedDict[tuple, _GraphSet] = OrderedDict()
        self.max_batch = 1 << 16
        self.captures = 0  # graph sets captured (tests, diagnostics)
        self.template_encodes = 0  # template-graph replays
        self.backend = "torch-cuda-graph" + ("-fp16" if fp16 else "")

    def _copy(self, static: dict[str, torch.Tensor], inputs: dict[str, np.ndarray], names) -> None:
        for name in names:
            static[name].copy_(torch.from_numpy(np.ascontiguousarray(inputs[name])))

    def _capture(self, inputs: dict[str, np.ndarray]) -> _GraphSet:
        static = {
            n: torch.empty(inputs[n].shape, dtype=self.dtype, device=self.device) for n in self.input_names
        }
        self._copy(static, inputs, self.input_names)
        encode = None
        if self.template_names:
            templates = [static[n] for n in self.template_names]
            encode, features, _ = self.graphs.capture(lambda: tuple(self.net.encode_templates(*templates)))
            encode()  # a captured graph has not run: fill the features before the search half uses them
            search = [static[n] for n in self.search_names]
            track, outputs, eager = self.graphs.capture(lambda: tuple(self.net.track(features, *search)))
        else:
            args = [static[n] for n in self.input_names]
            track, outputs, eager = self.graphs.capture(lambda: tuple(self.net(*args)))
        track()
        self._check_against_eager(outputs, eager)
        self.captures += 1
        template = [np.array(inputs[n], copy=True) for n in self.template_names]
        return _GraphSet(static, track, outputs, encode, template)

    def _check_against_eager(self, outputs: Outputs, eager: Outputs) -> None:
        tolerance = EAGER_TOLERANCE[self.dtype]
        for name, graph_out, eager_out in zip(self.output_names, outputs, eager, strict=True):
            scale = max(float(eager_out.abs().max()), 1.0)
            diff = float((graph_out.float() - eager_out.float()).abs().max())
            if not diff <= tolerance * scale:
                raise RuntimeError(f"CUDA graph output {name} differs from eager by {diff:.3g}")

    def _template_changed(self, graph_set: _GraphSet, inputs: dict[str, np.ndarray]) -> bool:
        pairs = zip(self.template_names, graph_set.template, strict=True)
        return not all(np.array_equal(inputs[name], old) for name, old in pairs)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A batch of n > 1 is padded to the next power of two (repeating its last row), so that
        varying numbers of targets and windows share a few graph sets."""
        n = next(iter(inputs.values())).shape[0]
        padded = 1 << (n - 1).bit_length()
        if padded == n:
            return self._run(inputs)
        fill = {k: np.concatenate([v, np.repeat(v[-1:], padded - n, axis=0)]) for k, v in inputs.items()}
        return {k: v[:n] for k, v in self._run(fill).items()}

    @torch.no_grad()
    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        key = tuple(tuple(inputs[n].shape) for n in self.input_names)
        graph_set = self._sets.get(key)
        if graph_set is None:
            graph_set = self._sets[key] = self._capture(inputs)
            while len(self._sets) > MAX_GRAPH_SETS:
                self._sets.popitem(last=False)
        else:
            self._sets.move_to_end(key)
            if graph_set.encode is not None and self._template_changed(graph_set, inputs):
                self._copy(graph_set.inputs, inputs, self.template_names)
                graph_set.encode()
                graph_set.template = [np.array(inputs[n], copy=True) for n in self.template_names]
                self.template_encodes += 1
            self._copy(graph_set.inputs, inputs, self.search_names if graph_set.encode else self.input_names)
            graph_set.track()
        return {n: o.float().cpu().numpy() for n, o in zip(self.output_names, graph_set.outputs, strict=True)}
