"""The one entry point of backend selection: `build_runner(network, backend, options)`.

It owns everything between a checkpoint and a verified runner: the ONNX export cached next to the
checkpoint (re-made when the checkpoint changes), TensorRT engine keys, profiles and the engine
cache, the fallback chain and the verification of every accelerated candidate, whether it was
chosen by `auto` or asked for by name.

Chains, fastest first:
* auto: TensorRT (FP16, then FP32) -> ONNX Runtime TensorRT EP (FP16, then FP32) -> PyTorch CUDA
  graphs -> ONNX Runtime CUDA EP -> PyTorch CUDA -> the fastest, by measurement, of OpenVINO's
  GPU and NPU, OpenVINO CPU (native precision, then f32), ONNX Runtime CPU and PyTorch CPU;
* tensorrt: TensorRT at `trt_precision`;
* onnxruntime: its TensorRT EP -> CUDA EP -> CPU (what onnxruntime-gpu offers, verified);
* openvino: OpenVINO on the CPU at its native precision (bf16 with AMX or AVX-512 BF16; verified), then f32;
* torch: on `options.device` (on a GPU: graphs, then eager; verified);
* a candidate's name: that candidate alone.
FP16 (TensorRT, TensorRT EP) is used only where it passed verification; FP32 follows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.cpu import cpu_policy
from ..core.files import exclusive
from .engine_cache import sha256_file
from .options import BackendOptions
from .profiles import Profile, dla_profile
from .select import BoxDecoder, Built, Candidate, Selection, select_backend


@dataclass(frozen=True)
class NetworkSpec:
    """What backend selection needs to know about one network (a tracker family's variant).

    export(out, static_weights) writes the ONNX file and returns the max |ONNX - PyTorch| per
    output; torch_network() gives the loaded network in its runtime form (with the family's caches).
    """

    name: str
    checkpoint: Path
    input_shapes: dict[str, tuple[int, ...]]
    outputs: tuple[str, ...]
    export: Callable[[Path, bool], dict[str, float]]
    torch_network: Callable[[], Any]
    verification_inputs: Callable[[], list[dict]]
    boxes_of: BoxDecoder
    tensorrt_profile: dict[str, tuple[list[int], list[int], list[int]]] = field(default_factory=dict)
    has_static_weight_form: bool = False
    search_sizes: tuple[int, ...] = ()  # search sides the tracker switches between (E.T.Track)
    # A network exported as two graphs (template, search; AsymTrack): what the ONNX-based
    # candidates build and run (backends.two_graphs); the torch candidates run it whole.
    graphs: tuple[NetworkSpec, NetworkSpec] | None = None

    @property
    def is_onnx(self) -> bool:
        return self.checkpoint.suffix == ".onnx"


def onnx_path(checkpoint: Path, name: str, static_weights: bool = False) -> Path:
    """Where the export of `checkpoint` lives: beside it, named by variant (and form)."""
    return checkpoint.with_name(f"{checkpoint.name}.{name}{'.static' if static_weights else ''}.onnx")


# What an export of ours contains: bump with any change, so exports made by older code are redone.
# 2: a dynamic batch axis (several targets, re-acquisition windows).
EXPORT_RECIPE = 2


def write_export_meta(out: Path, name: str, checkpoint: Path, static_weights: bool, diffs: dict) -> None:
    meta = {
        "variant": name,
        "export_recipe": EXPORT_RECIPE,
        "checkpoint_sha256": sha256_file(checkpoint),
        "static_weights": static_weights,
        "max_abs_diff_vs_torch": diffs,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")


def onnx_for(network: NetworkSpec, static_weights: bool = False) -> Path:
    """The ONNX file to run: the checkpoint itself when it is one, else its export, made (and
    verified) on first use and re-made when the checkpoint changed. static_weights: the form for
    TensorRT (the default form when the family has no other). Processes that need the same export
    at once (evaluation workers on one node) make it once: the others wait on its lock."""
    if network.is_onnx:
        return network.checkpoint
    static_weights = static_weights and network.has_static_weight_form
    out = onnx_path(network.checkpoint, network.name, static_weights)
    with exclusive(out.with_name(f".{out.name}.lock")):
        if not _export_current(out, network):
            diffs = network.export(out, static_weights)
            write_export_meta(out, network.name, network.checkpoint, static_weights, diffs)
    return out


def _export_current(out: Path, network: NetworkSpec) -> bool:
    """Whether `out` is an export of this checkpoint and variant by the current recipe."""
    meta_path = out.with_suffix(".json")
    if not (out.exists() and meta_path.exists()):
        return False
    meta = json.loads(meta_path.read_text())
    return (
        meta.get("checkpoint_sha256") == sha256_file(network.checkpoint)
        and meta.get("variant") == network.name
        and meta.get("export_recipe") == EXPORT_RECIPE
    )


def _ort_provider(name: str) -> Callable[[], str | None]:
    def unavailable() -> str | None:
        import onnxruntime as ort

        return None if name in ort.get_available_providers() else f"{name} not in this onnxruntime"

    return unavailable


def _torch_unavailable(network: NetworkSpec, device: str, graphs: bool = True) -> Callable[[], str | None]:
    def unavailable() -> str | None:
        if not graphs:
            return "cuda_graphs is off"
        if network.is_onnx:
            return "needs the PyTorch checkpoint"
        try:
            import torch
        except ImportError:
            return "torch is not installed"
        if device.startswith("cuda") and not torch.cuda.is_available():
            return "no CUDA device"
        return None

    return unavailable


def torch_runner(network: NetworkSpec, device: str = "cpu", fp16: bool = False, threads: int = 0):
    from .torch_runner import TorchRunner

    net = network.torch_network()
    return TorchRunner(net, tuple(network.input_shapes), network.outputs, device, fp16, threads)


def graph_capture_feeds(network: NetworkSpec, max_batch: int) -> list[dict[str, np.ndarray]]:
    """Inputs of every shape set tracking will use, captured when the runner is built: batches 1,
    2, 4, ... up to the first power of two >= max_batch (the runner pads batches to powers of two),
    for each search size of the family."""
    base = network.verification_inputs()[0]
    rng = np.random.default_rng(0)
    batches = [1]
    while batches[-1] < max_batch:
        batches.append(batches[-1] * 2)
    feeds = []
    for side in network.search_sizes or (None,):
        search = base["search"]
        if side is not None and search.shape[-1] != side:
            search = rng.standard_normal((1, 3, side, side)).astype(np.float32)
        one = {**base, "search": search}
        feeds += [{name: np.repeat(value, batch, axis=0) for name, value in one.items()} for batch in batches]
    return feeds


def graph_runner(network: NetworkSpec, device: str, fp16: bool, max_batch: int = 1):
    from .torch_graphs import CudaGraphRunner

    return CudaGraphRunner(
        network.torch_network(),
        tuple(network.input_shapes),
        network.outputs,
        device,
        fp16,
        expected=graph_capture_feeds(network, max_batch),
    )


def _tensorrt(network: NetworkSpec, options: BackendOptions, precision: str) -> Built:
    from .engine_cache import EngineCache
    from .tensorrt_runner import build_engine, engine_key, load_engine

    path = onnx_for(network, static_weights=True)
    dla_core = options.trt_dla_core if precision == "fp16" else -1
    builder = {"workspace_mb": options.trt_workspace_mb, "dla_core": dla_core}
    profile = engine_profile(network, options.max_batch, dla_core >= 0)
    shapes = {name: [list(p) for p in shapes] for name, shapes in profile.items()}
    key = engine_key(path, precision, shapes, builder)
    runner, entry = EngineCache(options.engine_cache_dir).get_or_build(
        path.name,
        key,
        lambda: build_engine(path, precision, options.trt_workspace_mb, dla_core, profile),
        lambda data: load_engine(data, precision, dla_core),
    )
    return Built(runner, entry)


def _openvino(network: NetworkSpec, options: BackendOptions, device: str, precision: str):
    from .openvino_runner import OpenVinoRunner

    path = onnx_for(network, options.max_batch > 1)  # the batching form (E.T.Track), as ONNX Runtime
    policy = cpu_policy(options.cpu_threads, options.cpu_spin)
    return OpenVinoRunner(path, device, precision, policy.threads, options.engine_cache_dir, policy.spin)


def _ort_tensorrt(network: NetworkSpec, options: BackendOptions, precision: str):
    from .onnx_runner import OnnxRunner, tensorrt_ep_options

    path = onnx_for(network, static_weights=True)
    dla_core = options.trt_dla_core if precision == "fp16" else -1
    profile = engine_profile(network, options.max_batch, dla_core >= 0)
    ep_options = tensorrt_ep_options(options.engine_cache_dir, path, precision == "fp16", dla_core, profile)
    providers = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    # a batch beyond the profile would make the EP build another engine inside the tracking loop
    return OnnxRunner(path, providers, ep_options, max_batch=max(high[0] for _, _, high in profile.values()))


def engine_profile(network: NetworkSpec, max_batch: int, dla: bool = False) -> Profile:
    """TensorRT optimization profile (min, opt, max shape) of every input: batch 1 to
    `max_batch` (optimized for 1: one target), and the family's own dynamic axes (E.T.Track's
    search sizes); on the DLA static batch 1, or ValueError (profiles.dla_profile)."""
    profile: Profile = {}
    for name, shape in network.input_shapes.items():
        low, opt, high = network.tensorrt_profile.get(name, (list(shape),) * 3)
        profile[name] = ([1, *low[1:]], [1, *opt[1:]], [max(max_batch, 1), *high[1:]])
    return dla_profile(profile, network.name) if dla else profile


def tensorrt_precisions(options: BackendOptions) -> tuple[str, ...]:
    """The TensorRT precisions to try, in order: FP16 is used only where it passes verification,
    else FP32 (not with a DLA core, which runs FP16 only)."""
    if options.trt_precision == "fp32":
        return ("fp32",)
    return ("fp16",) if options.trt_dla_core >= 0 else ("fp16", "fp32")


def candidates(network: NetworkSpec, options: BackendOptions) -> dict[str, Candidate]:
    """Every backend for this network, by name, fastest first."""
    from .onnx_runner import OnnxRunner
    from .openvino_runner import openvino_unavailable
    from .tensorrt_runner import tensorrt_unavailable

    gpu = options.device if options.device.startswith("cuda") else "cuda"
    cpu = cpu_policy(options.cpu_threads, options.cpu_spin)

    def onnx_based(make: Callable[[NetworkSpec], object]) -> Callable[[], object]:
        """A candidate built from ONNX: from the one graph, or from each of two graphs."""
        if network.graphs is None:
            return lambda: make(network)
        from .two_graphs import two_graph_runner

        template, search = network.graphs
        return lambda: two_graph_runner(make(template), make(search), template.outputs)

    out: dict[str, Candidate] = {}
    for precision in tensorrt_precisions(options):
        out[f"tensorrt-{precision}"] = Candidate(
            f"tensorrt-{precision}",
            tensorrt_unavailable,
            onnx_based(lambda net, p=precision: _tensorrt(net, options, p)),
        )
    for precision in tensorrt_precisions(options):
        out[f"onnxruntime-tensorrt-{precision}"] = Candidate(
            f"onnxruntime-tensorrt-{precision}",
            _ort_provider("TensorrtExecutionProvider"),
            onnx_based(lambda net, p=precision: _ort_tensorrt(net, options, p)),
        )
    out["torch-cuda-graph"] = Candidate(
        "torch-cuda-graph",
        _torch_unavailable(network, gpu, graphs=options.cuda_graphs),
        lambda: graph_runner(network, gpu, options.fp16, options.max_batch),
    )
    batch_form = options.max_batch > 1  # E.T.Track: the form that batches (onnx_for)
    out["onnxruntime-cuda"] = Candidate(
        "onnxruntime-cuda",
        _ort_provider("CUDAExecutionProvider"),
        onnx_based(
            lambda net: OnnxRunner(
                onnx_for(net, batch_form), ("CUDAExecutionProvider", "CPUExecutionProvider")
            )
        ),
    )
    out["torch-cuda"] = Candidate(
        "torch-cuda", _torch_unavailable(network, gpu), lambda: torch_runner(network, gpu, options.fp16)
    )
    for device in ("GPU", "NPU"):  # Intel GPUs and NPUs, at their native precision
        out[f"openvino-{device.lower()}"] = Candidate(
            f"openvino-{device.lower()}",
            lambda d=device: openvino_unavailable(d),
            onnx_based(lambda net, d=device: _openvino(net, options, d, "")),
        )
    out["openvino"] = Candidate(  # the CPU's native precision (bf16 with AMX or AVX-512 BF16): verified
        "openvino", openvino_unavailable, onnx_based(lambda net: _openvino(net, options, "CPU", ""))
    )
    out["openvino-f32"] = Candidate(
        "openvino-f32", openvino_unavailable, onnx_based(lambda net: _openvino(net, options, "CPU", "f32"))
    )
    out["onnxruntime"] = Candidate(
        "onnxruntime",
        _ort_provider("CPUExecutionProvider"),
        onnx_based(
            lambda net: OnnxRunner(
                onnx_for(net, batch_form), ("CPUExecutionProvider",), threads=cpu.threads, spin=cpu.spin
            )
        ),
        verify=False,
    )
    out["torch"] = Candidate(
        "torch",
        _torch_unavailable(network, "cpu"),
        lambda: torch_runner(network, "cpu", threads=cpu.threads),
        verify=False,
    )
    return out


# auto times these and takes the fastest (select.py): the CPU runtimes and OpenVINO's devices
RACED = ("openvino-gpu", "openvino-npu", "openvino", "openvino-f32", "onnxruntime", "torch")


def chain(network: NetworkSpec, backend: str, options: BackendOptions) -> list[Candidate]:
    """The candidates a backend name stands for (see the module docstring); a candidate's own
    name (e.g. torch-cuda-graph, onnxruntime-cuda) stands for itself."""
    by_name = candidates(network, options)
    if backend == "auto":
        return [replace(c, race=c.name in RACED) for c in by_name.values()]
    if backend == "openvino":
        return [by_name["openvino"], by_name["openvino-f32"]]
    if backend == "tensorrt":
        return [by_name[f"tensorrt-{options.trt_precision}"]]
    if backend == "onnxruntime":
        return [by_name[n] for n in by_name if n.startswith("onnxruntime")]
    if backend == "torch":
        if network.is_onnx:
            raise ValueError("backend 'torch' needs the PyTorch checkpoint, not an .onnx file")
        if not options.device.startswith("cuda"):
            return [by_name["torch"]]
        return [by_name[n] for n in ("torch-cuda-graph", "torch-cuda")]
    if backend in by_name:
        return [by_name[backend]]
    raise ValueError(
        f"unknown backend '{backend}' for {network.name}; use auto, tensorrt, onnxruntime, openvino or "
        f"torch (or one of {', '.join(by_name)})"
    )


def reference_runner(network: NetworkSpec):
    """The FP32 CPU reference every accelerated candidate is verified against."""
    if network.is_onnx:
        from .onnx_runner import OnnxRunner

        return OnnxRunner(network.checkpoint, ("CPUExecutionProvider",))
    return torch_runner(network, "cpu")


def build_runner(network: NetworkSpec, backend: str, options: BackendOptions) -> Selection:
    """The first usable, verified runner of the chain `backend` names; RuntimeError with every
    candidate's reason when none is."""
    from .engine_cache import EngineCache

    def record(name: str, built: Built, verification: dict, accepted: bool) -> None:
        if built.engine is not None:
            EngineCache(options.engine_cache_dir).record(
                built.engine.path,
                verification={**verification, "accepted": accepted, "min_iou": options.min_verification_iou},
            )

    selection = select_backend(
        chain(network, backend, options),
        lambda: reference_runner(network),
        network.verification_inputs(),
        network.boxes_of,
        options.min_verification_iou,
        record,
    )
    if getattr(selection.runner, "input_device", None) is None:  # a CPU runtime: say how it runs
        selection.cpu = cpu_policy(options.cpu_threads, options.cpu_spin).describe()
    return selection
