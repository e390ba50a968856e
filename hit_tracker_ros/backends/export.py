"""ONNX export of a whole network (static shapes unless dynamic axes are named), verified
against PyTorch."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..core.files import replaced_atomically
from .onnx_runner import OnnxRunner
from .torch_runner import TorchRunner

OPSET = 17


def export_onnx(
    net: torch.nn.Module,
    example: dict[str, np.ndarray],
    output_names: tuple[str, ...],
    path: str | Path,
    dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> Path:
    """Export `net` (inputs in `example` order; shapes fixed except `dynamic_axes`) to `path`,
    written atomically."""
    path = Path(path)
    args = tuple(torch.from_numpy(v) for v in example.values())
    with replaced_atomically(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript and
        # gives no benefit for these static graphs.
        warnings.simplefilter("ignore", DeprecationWarning)
        # Shape-dependent Python branches are traced as constants; every export is checked
        # against PyTorch right after (verify_onnx), so the tracer's warnings add nothing.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            net.eval(),
            args,
            str(tmp),
            input_names=list(example),
            output_names=list(output_names),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamic_axes=dynamic_axes,
            dynamo=False,
        )
    return path


def verify_onnx(
    net: torch.nn.Module, path: str | Path, example: dict[str, np.ndarray], output_names: tuple[str, ...]
) -> dict[str, float]:
    """Max |ONNX Runtime (CPU) - PyTorch| per output on the example inputs."""
    reference = TorchRunner(net, tuple(example), output_names).run(example)
    onnx_out = OnnxRunner(path, providers=("CPUExecutionProvider",)).run(example)
    return {name: float(np.abs(onnx_out[name] - reference[name]).max()) for name in output_names}
