"""A stand-in for the parts of `torch.cuda` that CUDA-graph capture uses, on the CPU, so the real
CudaGraphs / CudaGraphRunner code runs on machines without a GPU and the rules of the real API are
enforced:

* capture records the aten ops the captured function runs (a TorchDispatchMode) and does not
  leave their results behind: every tensor made during capture is filled with NaN afterwards,
  because a real captured graph has not run until its first replay (torch.cuda.graph docs);
* a host synchronization inside capture (`.item()`, a host copy) fails, as CUDA refuses it
  ("operation not permitted when stream is capturing");
* replay re-runs the recorded ops on the same tensors;
* memory pools (torch's "Graph memory management" notes): graphs that share a pool are only
  safe when they replay in capture order, because a later capture may place its live tensors in
  an earlier graph's freed scratch memory. The stand-in takes the worst case: replaying a graph
  overwrites (NaN) every tensor that a later capture in the same pool made. A graph captured with
  pool=None gets a private pool;
* it records each capture's `capture_error_mode` and which pool it used.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

HOST_SYNCS = {torch.ops.aten._local_scalar_dense.default}


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in HOST_SYNCS:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.ops.append((func, args, kwargs, out))
        return out


def _same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.stride() == b.stride() and a.shape == b.shape


def _allocated_during(ops: list) -> list[torch.Tensor]:
    """Tensors whose memory the captured ops allocated (not views of weights or static inputs)."""
    produced: dict[int, torch.Tensor] = {}
    external: set[int] = set()
    for _, args, kwargs, out in ops:
        for arg in tree_flatten((args, kwargs))[0]:
            if isinstance(arg, torch.Tensor) and id(arg) not in produced:
                external.add(arg.untyped_storage().data_ptr())
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                produced.setdefault(id(t), t)
    return [t for t in produced.values() if t.untyped_storage().data_ptr() not in external]


def _spoil(tensor: torch.Tensor) -> None:
    if tensor.is_floating_point():
        tensor.fill_(float("nan"))
    elif tensor.dtype != torch.bool:
        tensor.fill_(-7)


class FakeGraph:
    """torch.cuda.CUDAGraph on the CPU (see the module docstring)."""

    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda
        self.ops: list = []
        self.made: list[torch.Tensor] = []
        self._pool = None
        self.order = 0
        cuda.graphs_made.append(weakref.ref(self))

    def pool(self):
        return self._pool

    def replay(self) -> None:
        self.cuda.replays.append(self.order)
        for func, args, kwargs, out in self.ops:
            new = func(*args, **kwargs)
            for old, fresh in zip(tree_flatten(out)[0], tree_flatten(new)[0], strict=True):
                if isinstance(old, torch.Tensor) and not _same_memory(old, fresh):
                    old.copy_(fresh)
        for later in self.cuda.pool_members(self._pool):
            if later.order > self.order:
                for tensor in later.made:  # a later capture's live memory in our scratch
                    _spoil(tensor)


class FakeStream:
    _handles = itertools.count(0x7F00)

    def __init__(self) -> None:
        self.cuda_stream = next(self._handles)  # an integer handle, as torch gives

    def wait_stream(self, other: FakeStream) -> None:
        pass

    def synchronize(self) -> None:
        pass


class FakeCuda:
    """The `cuda` argument of CudaGraphRunner / CudaGraphs (see the module docstring)."""

    def __init__(self) -> None:
        self.capture_modes: list[str] = []
        self.capture_pools: list = []
        self.replays: list[int] = []
        self.graphs_made: list[weakref.ref] = []
        self._members: dict[int, list[weakref.ref]] = {}
        self._order = itertools.count(1)
        self._current = FakeStream()
        self.CUDAGraph = lambda: FakeGraph(self)
        self.Stream = FakeStream

    def graph_pool_handle(self):
        return object()

    def current_stream(self) -> FakeStream:
        return self._current

    @contextlib.contextmanager
    def stream(self, stream: FakeStream):
        yield

    def pool_members(self, pool) -> list[FakeGraph]:
        refs = self._members.get(id(pool), [])
        return [g for g in (r() for r in refs) if g is not None]

    def live_graphs(self) -> int:
        return sum(r() is not None for r in self.graphs_made)

    @contextlib.contextmanager
    def graph(self, cuda_graph: FakeGraph, pool=None, stream=None, capture_error_mode: str = "global"):
        pool = pool if pool is not None else object()  # None: a private pool
        self.capture_modes.append(capture_error_mode)
        self.capture_pools.append(pool)
        cuda_graph._pool = pool
        cuda_graph.order = next(self._order)
        recorder = _Recorder()
        with recorder:
            yield
        cuda_graph.ops = recorder.ops
        cuda_graph.made = _allocated_during(recorder.ops)
        for tensor in cuda_graph.made:  # captured, not run: no results until the first replay
            _spoil(tensor)
        self._members.setdefault(id(pool), []).append(weakref.ref(cuda_graph))
