"""Builds network trackers (any Family) from a checkpoint for a backend, and registers them.

Everything here is shared by the network families: strict checkpoint loading, ONNX export and
its cache next to the checkpoint, verification inputs, the `auto` backend chain (TensorRT, ONNX
Runtime EPs, PyTorch) and the registry entries.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..backends.engine_cache import sha256_file
from ..core.registry import register_model
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Tracker
from .family import Family


def load_network(family: Family, variant: str, checkpoint: str | Path):
    """The network with the checkpoint loaded strictly, prepared for inference (eval mode)."""
    from ..models.checkpoint import load_state_dict_strict, read_checkpoint

    net = family.build_network(variant)
    state_dict = family.adapt_state_dict(read_checkpoint(checkpoint))
    load_state_dict_strict(net, state_dict, str(checkpoint))
    return family.prepare(net)


def example_inputs(family: Family, variant: str) -> dict:
    """Fixed inputs (seeded) of the network's static shapes, for export."""
    c = family.variants[variant]
    rng = np.random.default_rng(0)
    sizes = {"search": c.search_size, "template": c.template_size, "online_template": c.template_size}
    return {
        name: rng.standard_normal((1, 3, sizes[name], sizes[name])).astype(np.float32)
        for name in family.inputs
    }


def export_model(
    family: Family,
    variant: str,
    checkpoint: str | Path,
    out: str | Path | None = None,
    static_weights: bool = False,
) -> tuple[Path, dict[str, float]]:
    """Export to ONNX (default: next to the checkpoint), verify against PyTorch; (path, max diffs).
    static_weights: export the family's static-weight form (for TensorRT), where it has one."""
    from ..backends.export import export_onnx, verify_onnx

    checkpoint = Path(checkpoint)
    out = Path(out) if out else _onnx_path(checkpoint, variant, static_weights)
    net = load_network(family, variant, checkpoint)
    if static_weights and family.static_weight_form is not None:
        net = family.static_weight_form(net)
    example = example_inputs(family, variant)
    export_onnx(net, example, family.outputs, out, dynamic_axes(family))
    diffs = verify_onnx(net, out, example, family.outputs)
    meta = {
        "variant": variant,
        "checkpoint_sha256": sha256_file(checkpoint),
        "static_weights": static_weights,
        "max_abs_diff_vs_torch": diffs,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return out, diffs


def _onnx_path(checkpoint: Path, variant: str, static_weights: bool) -> Path:
    return checkpoint.with_name(f"{checkpoint.name}.{variant}{'.static' if static_weights else ''}.onnx")


def dynamic_axes(family: Family) -> dict[str, dict[int, str]] | None:
    """ONNX dynamic axes: the search crop's side (and the maps it gives) for families whose
    tracker switches search sizes; None (static shapes) otherwise."""
    if not family.search_sizes:
        return None
    spatial = {2: "search_size", 3: "search_size"}
    maps = {2: "map_size", 3: "map_size"}
    return {"search": spatial, **{name: maps for name in family.outputs}}


def tensorrt_profile(family: Family, variant: str) -> dict[str, tuple[list[int], list[int], list[int]]]:
    """TensorRT optimization profile (min, opt, max shapes) for a family's dynamic search input;
    empty for static families."""
    if not family.search_sizes:
        return {}
    sizes = sorted(family.search_sizes)
    default = family.variants[variant].search_size
    shapes = [[1, 3, s, s] for s in (sizes[0], default, sizes[-1])]
    return {"search": (shapes[0], shapes[1], shapes[2])}


def _onnx_for(family: Family, variant: str, checkpoint: Path, static_weights: bool = False) -> Path:
    """The ONNX export of `checkpoint`, made (and verified) on first use, re-made if stale.
    static_weights: the form for TensorRT (same file as the default when the family has none)."""
    static_weights = static_weights and family.static_weight_form is not None
    out = _onnx_path(checkpoint, variant, static_weights)
    meta_path = out.with_suffix(".json")
    if out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("checkpoint_sha256") == sha256_file(checkpoint) and meta.get("variant") == variant:
            return out
    return export_model(family, variant, checkpoint, out, static_weights)[0]


def verification_inputs(family: Family, variant: str) -> list[dict]:
    """Realistic fixed inputs for verifying a backend: template/search crops of the synthetic
    scene made by the real pipeline (random noise would give degenerate boxes)."""
    if family.verification_feeds is not None:
        return family.verification_feeds(variant)
    from ..core.synthetic import SyntheticScene
    from .crop import normalize, sample_target

    c = family.variants[variant]
    scene = SyntheticScene()
    template, _ = sample_target(scene.frame(0), scene.truth(0), c.template_factor, c.template_size)
    feeds = []
    for i in (1, 20, 40):
        search, _ = sample_target(scene.frame(i), scene.truth(i - 1), c.search_factor, c.search_size)
        images = {
            "search": normalize(search),
            "template": normalize(template),
            "online_template": normalize(template),
        }
        feeds.append({name: images[name] for name in family.inputs})
    return feeds


def decode_boxes(outputs: dict) -> np.ndarray:
    """pred_boxes (cx, cy, w, h) -> (N, 4) corners, for backend verification."""
    b = outputs["pred_boxes"].reshape(-1, 4)
    return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)


def _candidates(family: Family, variant: str, path: Path, is_onnx: bool, opts: dict) -> list:
    """The `auto` chain (see backends.select)."""
    from ..backends.engine_cache import EngineCache
    from ..backends.onnx_runner import OnnxRunner, tensorrt_ep_options
    from ..backends.select import Candidate
    from ..backends.tensorrt_runner import build_engine, engine_key, load_engine, tensorrt_unavailable

    onnx = (lambda: path) if is_onnx else (lambda: _onnx_for(family, variant, path))
    # TensorRT builds from the static-weight form where a family has one (computed conv weights)
    trt_onnx = (lambda: path) if is_onnx else (lambda: _onnx_for(family, variant, path, True))
    precision = opts["trt_precision"]

    def ort_provider(name: str):
        def unavailable() -> str | None:
            import onnxruntime as ort

            return None if name in ort.get_available_providers() else f"{name} not in this onnxruntime"

        return unavailable

    def torch_cuda_unavailable() -> str | None:
        if is_onnx:
            return "needs the PyTorch checkpoint"
        try:
            import torch
        except ImportError:
            return "torch is not installed"
        return None if torch.cuda.is_available() else "no CUDA device"

    def tensorrt_engine():
        onnx_path = trt_onnx()
        options = {"workspace_mb": opts["trt_workspace_mb"], "dla_core": opts["trt_dla_core"]}
        shapes = {name: list(a.shape) for name, a in example_inputs(family, variant).items()}
        profile = tensorrt_profile(family, variant)
        if profile:
            shapes = {**shapes, **{name: list(p) for name, p in profile.items()}}
        key = engine_key(onnx_path, precision, shapes, options)
        cache = EngineCache(opts["engine_cache_dir"])
        runner, entry = cache.get_or_build(
            onnx_path.name,
            key,
            lambda: build_engine(
                onnx_path, precision, opts["trt_workspace_mb"], opts["trt_dla_core"], profile
            ),
            lambda data: load_engine(data, precision),
        )
        runner.engine_entry = entry
        return runner

    torch_only = "needs the PyTorch checkpoint" if is_onnx else None
    return [
        Candidate(f"tensorrt-{precision}", tensorrt_unavailable, tensorrt_engine),
        Candidate(
            "onnxruntime-tensorrt",
            ort_provider("TensorrtExecutionProvider"),
            lambda: OnnxRunner(
                trt_onnx(),
                ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
                tensorrt_ep_options(opts["engine_cache_dir"], precision == "fp16"),
            ),
        ),
        Candidate(
            "onnxruntime-cuda",
            ort_provider("CUDAExecutionProvider"),
            lambda: OnnxRunner(onnx(), ("CUDAExecutionProvider", "CPUExecutionProvider")),
        ),
        Candidate(
            "torch-cuda",
            torch_cuda_unavailable,
            lambda: _torch_runner(family, variant, path, "cuda", opts["fp16"]),
        ),
        Candidate(
            "onnxruntime",
            ort_provider("CPUExecutionProvider"),
            lambda: OnnxRunner(onnx(), ("CPUExecutionProvider",)),
            verify=False,
        ),
        Candidate(
            "torch",
            lambda: torch_only,
            lambda: _torch_runner(family, variant, path, "cpu", False),
            verify=False,
        ),
    ]


def _torch_runner(family: Family, variant: str, path: Path, device: str, fp16: bool):
    from ..backends.torch_runner import TorchRunner

    net = family.torch_runtime(load_network(family, variant, path))
    return TorchRunner(net, family.inputs, family.outputs, device, fp16)


def _reference(family: Family, variant: str, path: Path, is_onnx: bool):
    """FP32 CPU reference for verification."""
    if is_onnx:
        from ..backends.onnx_runner import OnnxRunner

        return OnnxRunner(path, ("CPUExecutionProvider",))
    return _torch_runner(family, variant, path, "cpu", False)


BACKEND_OPTION_DEFAULTS = {
    "engine_cache_dir": "models/engines",
    "trt_precision": "fp16",
    "trt_workspace_mb": 0,
    "trt_dla_core": -1,
    "min_verification_iou": 0.98,
}


def build_network_tracker(
    family: Family,
    variant: str,
    checkpoint: str | Path | None,
    backend: str = "auto",
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    device: str = "cpu",
    fp16: bool = False,
    **backend_options,
) -> Tracker:
    """checkpoint: the authors' .pth(.tar) or a bare state dict, or an exported .onnx.
    backend: auto (the fallback chain of backends.select) | tensorrt | onnxruntime | torch.
    backend_options: engine_cache_dir, trt_precision (fp16|fp32), trt_workspace_mb, trt_dla_core,
    min_verification_iou (see BACKEND_OPTION_DEFAULTS); any other keyword (e.g. search_factor,
    update_interval) goes to the family's tracker, which rejects what it does not know."""
    from ..backends.select import select_backend

    tracker_options = {k: v for k, v in backend_options.items() if k not in BACKEND_OPTION_DEFAULTS}
    chosen = {k: v for k, v in backend_options.items() if k in BACKEND_OPTION_DEFAULTS}
    opts = {**BACKEND_OPTION_DEFAULTS, **chosen, "fp16": fp16}
    if not checkpoint:
        raise ValueError(f"{variant} needs a checkpoint. {family.checkpoint_help}")
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found. {family.checkpoint_help}")
    is_onnx = path.suffix == ".onnx"
    candidates = {c.name: c for c in _candidates(family, variant, path, is_onnx, opts)}
    if backend == "auto":
        chain = list(candidates.values())
    elif backend == "tensorrt":
        chain = [candidates[f"tensorrt-{opts['trt_precision']}"]]
    elif backend == "onnxruntime":
        from ..backends.onnx_runner import OnnxRunner, tensorrt_ep_options

        onnx_path = path if is_onnx else _onnx_for(family, variant, path)
        runner = OnnxRunner(
            onnx_path,
            provider_options=tensorrt_ep_options(opts["engine_cache_dir"], opts["trt_precision"] == "fp16"),
        )
        info = {"backend_selection": "requested onnxruntime"}
        return _tracker(family, variant, runner, score_threshold, info, tracker_options)
    elif backend == "torch":
        if is_onnx:
            raise ValueError("backend 'torch' needs the PyTorch checkpoint, not an .onnx file")
        runner = _torch_runner(family, variant, path, device, fp16)
        info = {"backend_selection": "requested torch"}
        return _tracker(family, variant, runner, score_threshold, info, tracker_options)
    else:
        raise ValueError(
            f"unknown backend '{backend}' for {variant}; use auto, tensorrt, onnxruntime or torch"
        )

    def record(name: str, runner, verification: dict, accepted: bool) -> None:
        entry = getattr(runner, "engine_entry", None)
        if entry is not None:
            from ..backends.engine_cache import EngineCache

            EngineCache(opts["engine_cache_dir"]).record(
                entry.path,
                verification={**verification, "accepted": accepted, "min_iou": opts["min_verification_iou"]},
            )

    selection = select_backend(
        chain,
        lambda: _reference(family, variant, path, is_onnx),
        verification_inputs(family, variant),
        family.boxes_of or decode_boxes,
        opts["min_verification_iou"],
        record,
    )
    info = {"backend_selection": selection.report()}
    if selection.verification:
        info["verification_iou"] = f"{selection.verification['iou']:.4f}"
        info["verification_max_box_diff"] = f"{selection.verification['max_box_diff']:.3g}"
    entry = getattr(selection.runner, "engine_entry", None)
    if entry is not None:
        info["engine"] = f"{entry.path} ({'rebuilt: ' + entry.reason if entry.rebuilt else 'cache hit'})"
    return _tracker(family, variant, selection.runner, score_threshold, info, tracker_options)


def _tracker(
    family: Family, variant: str, runner, score_threshold: float, info: dict[str, str], options: dict
) -> Tracker:
    tracker = family.make_tracker(variant, runner, score_threshold, **options)
    tracker.backend_info = info
    return tracker


_FAMILIES: dict[str, Family] = {}


def family_of(model: str) -> Family:
    """The network family of a registered model name (e.g. hit_tiny -> HiT)."""
    from ..core.registry import available_models

    available_models()  # registers the built-in families
    if model not in _FAMILIES:
        raise ValueError(f"'{model}' is not a network model; network models: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[model]


def register_family(family: Family) -> None:
    """Registry entries for every variant of `family`."""
    for variant in family.variants:
        _FAMILIES[variant] = family

        def factory(checkpoint=None, backend="auto", _variant=variant, **params):
            return build_network_tracker(family, _variant, checkpoint, backend, **params)

        register_model(
            variant,
            factory,
            description=family.describe(variant),
            backends=("tensorrt", "onnxruntime", "torch"),
            needs_checkpoint=True,
        )
