"""Builds HiT trackers from a checkpoint for a backend, and registers hit_base/small/tiny."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..core.registry import register_model
from ..core.tracker import DEFAULT_SCORE_THRESHOLD
from ..models.specs import HIT_INPUTS, HIT_OUTPUTS, HIT_VARIANTS
from .hit import HiTTracker

CHECKPOINT_HELP = (
    "HiT checkpoints are published by the authors (github.com/kangben258/HiT, 'Model Zoo', "
    "Google Drive): download e.g. HiT_Base.pth.tar into models/ and pass checkpoint:=models/HiT_Base.pth.tar"
)


def load_hit_network(variant: str, checkpoint: str | Path):
    """HiT network with the checkpoint loaded strictly, BatchNorm folded, in eval mode."""
    from ..models.checkpoint import load_state_dict_strict, read_checkpoint
    from ..models.hit import build_hit

    net = build_hit(variant)
    load_state_dict_strict(net, read_checkpoint(checkpoint), str(checkpoint))
    return net.prepare_for_inference()


def example_inputs(variant: str) -> dict:
    """Fixed inputs (seeded) of the network's static shapes, for export and verification."""
    import numpy as np

    c = HIT_VARIANTS[variant]
    rng = np.random.default_rng(0)
    return {
        "search": rng.standard_normal((1, 3, c.search_size, c.search_size)).astype(np.float32),
        "template": rng.standard_normal((1, 3, c.template_size, c.template_size)).astype(np.float32),
    }


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_hit(
    variant: str, checkpoint: str | Path, out: str | Path | None = None
) -> tuple[Path, dict[str, float]]:
    """Export to ONNX (default: next to the checkpoint), verify against PyTorch; (path, max diffs)."""
    from ..backends.export import export_onnx, verify_onnx

    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint.with_name(f"{checkpoint.name}.{variant}.onnx")
    net = load_hit_network(variant, checkpoint)
    example = example_inputs(variant)
    export_onnx(net, example, HIT_OUTPUTS, out)
    diffs = verify_onnx(net, out, example, HIT_OUTPUTS)
    meta = {"variant": variant, "checkpoint_sha256": sha256_of(checkpoint), "max_abs_diff_vs_torch": diffs}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return out, diffs


def _onnx_for(variant: str, checkpoint: Path) -> Path:
    """The ONNX export of `checkpoint`, made (and verified) on first use, re-made if stale."""
    out = checkpoint.with_name(f"{checkpoint.name}.{variant}.onnx")
    meta_path = out.with_suffix(".json")
    if out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("checkpoint_sha256") == sha256_of(checkpoint) and meta.get("variant") == variant:
            return out
    return export_hit(variant, checkpoint, out)[0]


def build_hit_tracker(
    variant: str,
    checkpoint: str | Path | None,
    backend: str = "auto",
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    device: str = "cpu",
    fp16: bool = False,
) -> HiTTracker:
    """checkpoint: the authors' .pth(.tar) or a bare state dict, or an exported .onnx (ONNX Runtime
    only). backend: torch | onnxruntime | auto (onnxruntime for .onnx files, else torch)."""
    if not checkpoint:
        raise ValueError(f"{variant} needs a checkpoint. {CHECKPOINT_HELP}")
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found. {CHECKPOINT_HELP}")
    is_onnx = path.suffix == ".onnx"
    if backend == "auto":
        backend = "onnxruntime" if is_onnx else "torch"
    if backend == "torch":
        if is_onnx:
            raise ValueError("backend 'torch' needs the PyTorch checkpoint, not an .onnx file")
        from ..backends.torch_runner import TorchRunner

        runner = TorchRunner(load_hit_network(variant, path), HIT_INPUTS, HIT_OUTPUTS, device, fp16)
    elif backend == "onnxruntime":
        from ..backends.onnx_runner import OnnxRunner

        runner = OnnxRunner(path if is_onnx else _onnx_for(variant, path))
    else:
        raise ValueError(f"unknown backend '{backend}' for {variant}; use torch, onnxruntime or auto")
    return HiTTracker(variant, runner, score_threshold)


def _register() -> None:
    for variant, config in HIT_VARIANTS.items():

        def factory(checkpoint=None, backend="auto", _variant=variant, **params):
            return build_hit_tracker(_variant, checkpoint, backend, **params)

        register_model(
            variant,
            factory,
            description=f"{config.name} (LeViT + Bridge Module + corner head), ICCV 2023",
            backends=("torch", "onnxruntime"),
            needs_checkpoint=True,
        )


_register()
