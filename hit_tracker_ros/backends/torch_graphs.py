"""PyTorch on CUDA through CUDA graphs: at batch 1 these networks are launch-bound (hundreds of
small kernels, each launched from Python), so eager HiT-Base runs as fast as HiT-Tiny. A graph
replays the whole kernel sequence with one launch.

Graphs need static shapes and no host-side branches. So:
* one graph set per set of input shapes; the shapes tracking will use (batches of 1, 2, 4, ... up
  to max_batch, each search size) are captured when the backend is built, because a capture
  synchronizes the device, empties the allocator's cache and takes warm-up runs: in the middle of
  tracking it would stall a frame. A shape seen later is captured at first use;
* every graph set has its own memory pool. PyTorch only guarantees that graphs sharing a pool do
  not overwrite each other's live memory when they replay in capture order; here one set's static
  outputs (a template's features) stay live while other sets replay, so a shared pool could place
  them in another graph's scratch memory. Within a set the template graph is captured before the
  search graph and replays before it, which is that order;
* capture uses the thread-local capture mode, so CUDA calls from other threads of the process (a
  ROS executor, a second tracker) do not fail while a graph is captured;
* a network that caches its template (MixFormerV2's per-block keys/values, E.T.Track's template
  features) says so through the TemplateCached protocol: its template half is a graph of its own,
  replayed only when the template input changed, and its features stay in static device memory
  that the search graph reads; a network without it (HiT, CompressTracker) is one graph;
* at capture, the first replay is compared with an eager run of the same inputs, and the backend
  is verified against the FP32 CPU reference like every accelerated one;
* inputs may be host arrays or device tensors (GPU preprocessing): both are copied into the
  graph's static inputs, device to device for the latter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .torch_runner import as_tensor

MAX_GRAPH_SETS = 8  # besides the sets captured at build time
WARMUP_RUNS = 3  # on a side stream before capture (cuDNN/cuBLAS choose their kernels)
CAPTURE_MODE = "thread_local"
# graph replay vs eager on the capture inputs: the same kernels, so only nondeterministic
# reductions may differ
EAGER_TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2}

Outputs = tuple[torch.Tensor, ...]
Feeds = dict[str, "np.ndarray | torch.Tensor"]


@runtime_checkable
class TemplateCached(Protocol):
    """A network whose template half runs only when the template changes (its forward() is that
    check plus encode_templates() and track())."""

    template_inputs: tuple[str, ...]  # input names, in forward() order, that make the template

    def encode_templates(self, *templates: torch.Tensor) -> Outputs: ...

    def track(self, features: Outputs, *search: torch.Tensor) -> Outputs: ...


@dataclass
class Captured:
    """A captured graph: replay() runs it; outputs are its static output tensors."""

    replay: Callable[[], None]
    outputs: Outputs
    eager: Outputs  # the last warm-up run's outputs (the check against eager)
    graph: object  # the CUDAGraph, kept alive as long as its set


class CudaGraphs:
    """Capture through a `torch.cuda`-like module (tests give a CPU stand-in that models the
    allocator's pools; see test/fake_cuda.py)."""

    def __init__(self, cuda=None) -> None:
        self.cuda = cuda or torch.cuda

    def new_pool(self):
        return self.cuda.graph_pool_handle()

    def capture(self, fn: Callable[[], Outputs], pool) -> Captured:
        side = self.cuda.Stream()
        side.wait_stream(self.cuda.current_stream())
        with self.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                eager = tuple(t.clone() for t in fn())
        self.cuda.current_stream().wait_stream(side)
        graph = self.cuda.CUDAGraph()
        with self.cuda.graph(graph, pool=pool, capture_error_mode=CAPTURE_MODE):
            outputs = tuple(fn())
        return Captured(graph.replay, outputs, eager, graph)


@dataclass
class _GraphSet:
    """The static inputs, graphs and outputs for one set of input shapes, in one memory pool."""

    inputs: dict[str, torch.Tensor]
    track: Captured
    encode: Captured | None = None
    template: list[np.ndarray] = field(default_factory=list)  # host copy of a host template


def pad_batch(inputs: Feeds, n: int, padded: int) -> Feeds:
    """Rows n..padded-1 repeat the last row (host arrays or device tensors)."""
    out: Feeds = {}
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor):
            out[name] = torch.cat([value, value[-1:].expand(padded - n, *value.shape[1:])])
        else:
            out[name] = np.concatenate([value, np.repeat(value[-1:], padded - n, axis=0)])
    return out


class CudaGraphRunner:
    """Runs a torch network by replaying CUDA graphs (see the module docstring). `expected`:
    inputs of every shape set to capture now (build_runner gives the batches and search sizes
    tracking will use)."""

    def __init__(
        self,
        net: torch.nn.Module,
        input_names: tuple[str, ...],
        output_names: tuple[str, ...],
        device: str = "cuda",
        fp16: bool = False,
        cuda=None,
        expected: Sequence[Feeds] = (),
    ) -> None:
        if cuda is None:
            if not (device.startswith("cuda") and torch.cuda.is_available()):
                raise RuntimeError("CUDA graphs need a CUDA device")
        self.graphs = CudaGraphs(cuda)
        self.device = torch.device(device)
        self.input_device = self.device
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
        self.capacity = len(expected) or 1
        for feeds in expected:
            self._run(feeds)
        self.capacity = MAX_GRAPH_SETS + len(self._sets)
        self.captured_at_build = self.captures

    def _copy(self, static: dict[str, torch.Tensor], inputs: Feeds, names) -> None:
        for name in names:
            static[name].copy_(as_tensor(inputs[name]))

    @torch.no_grad()
    def _capture(self, inputs: Feeds) -> _GraphSet:
        static = {
            n: torch.empty(tuple(inputs[n].shape), dtype=self.dtype, device=self.device)
            for n in self.input_names
        }
        self._copy(static, inputs, self.input_names)
        pool = self.graphs.new_pool()  # one pool per set: see the module docstring
        encode = None
        if self.template_names:
            templates = [static[n] for n in self.template_names]
            encode = self.graphs.capture(lambda: tuple(self.net.encode_templates(*templates)), pool)
            encode.replay()  # a captured graph has not run: fill the features the search half reads
            search = [static[n] for n in self.search_names]
            features = encode.outputs
            track = self.graphs.capture(lambda: tuple(self.net.track(features, *search)), pool)
        else:
            args = [static[n] for n in self.input_names]
            track = self.graphs.capture(lambda: tuple(self.net(*args)), pool)
        track.replay()
        self._check_against_eager(track.outputs, track.eager)
        self.captures += 1
        return _GraphSet(static, track, encode, self._host_template(inputs))

    def _host_template(self, inputs: Feeds) -> list[np.ndarray]:
        if any(isinstance(inputs[n], torch.Tensor) for n in self.template_names):
            return []  # compared on the device against the static input instead
        return [np.array(inputs[n], copy=True) for n in self.template_names]

    def _check_against_eager(self, outputs: Outputs, eager: Outputs) -> None:
        tolerance = EAGER_TOLERANCE[self.dtype]
        for name, graph_out, eager_out in zip(self.output_names, outputs, eager, strict=True):
            scale = max(float(eager_out.abs().max()), 1.0)
            diff = float((graph_out.float() - eager_out.float()).abs().max())
            if not diff <= tolerance * scale:
                raise RuntimeError(f"CUDA graph output {name} differs from eager by {diff:.3g}")

    def _template_changed(self, graph_set: _GraphSet, inputs: Feeds) -> bool:
        if graph_set.template:
            pairs = zip(self.template_names, graph_set.template, strict=True)
            if all(isinstance(inputs[n], np.ndarray) for n in self.template_names):
                return not all(np.array_equal(inputs[name], old) for name, old in pairs)
        for name in self.template_names:
            static = graph_set.inputs[name]
            if not torch.equal(static, as_tensor(inputs[name]).to(static)):
                return True
        return False

    def run(self, inputs: Feeds) -> dict[str, np.ndarray]:
        """A batch of n > 1 is padded to the next power of two (repeating its last row), so that
        varying numbers of targets and windows share a few graph sets."""
        n = next(iter(inputs.values())).shape[0]
        padded = 1 << (n - 1).bit_length()
        if padded == n:
            return self._run(inputs)
        return {k: v[:n] for k, v in self._run(pad_batch(inputs, n, padded)).items()}

    @torch.no_grad()
    def _run(self, inputs: Feeds) -> dict[str, np.ndarray]:
        key = tuple(tuple(inputs[n].shape) for n in self.input_names)
        graph_set = self._sets.get(key)
        if graph_set is None:
            graph_set = self._sets[key] = self._capture(inputs)
            while len(self._sets) > self.capacity:
                self._sets.popitem(last=False)  # its graphs and pool go with it
        else:
            self._sets.move_to_end(key)
            if graph_set.encode is not None and self._template_changed(graph_set, inputs):
                self._copy(graph_set.inputs, inputs, self.template_names)
                graph_set.encode.replay()
                graph_set.template = self._host_template(inputs)
                self.template_encodes += 1
            names = self.search_names if graph_set.encode else self.input_names
            self._copy(graph_set.inputs, inputs, names)
            graph_set.track.replay()
        outputs = graph_set.track.outputs
        return {n: o.float().cpu().numpy() for n, o in zip(self.output_names, outputs, strict=True)}
