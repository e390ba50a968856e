"""OpenVINO backend: the runtime made for Intel (and Arm) CPUs, on the same ONNX exports as ONNX
Runtime (dynamic batch axis kept, E.T.Track's dynamic search side too).

Two precisions on the CPU: `openvino` takes the device's native inference precision (OpenVINO's
default: bf16 on CPUs with AMX or AVX-512 BF16, f16 on some Arm cores, else f32) and is verified
like a TensorRT FP16 engine before it is used; `openvino-f32` forces f32, which equals ONNX
Runtime within float rounding. GPU and NPU devices, where the runtime lists them, run at their
native precision, verified likewise. Compiled models are cached on disk (OpenVINO's CACHE_DIR), in a
folder per ONNX file content, so a second start loads instead of compiling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .engine_cache import sha256_file

DEVICES = ("CPU", "GPU", "NPU")


def openvino_unavailable(device: str = "CPU") -> str | None:
    """None when OpenVINO can run on `device`, else why not."""
    try:
        import openvino as ov
    except ImportError:
        return "openvino is not installed (pip install openvino)"
    available = ov.Core().available_devices
    if not any(d == device or d.startswith(f"{device}.") for d in available):
        return f"OpenVINO lists no {device} device here ({', '.join(available) or 'none'})"
    return None


def cache_folder(cache_dir: str | Path, onnx_path: str | Path) -> Path:
    """Where compiled blobs of this ONNX file go (OpenVINO keys its blobs by the model and the
    device's settings; the folder per file content keeps stale blobs of other exports apart)."""
    folder = Path(cache_dir) / "openvino" / sha256_file(onnx_path)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class OpenVinoRunner:
    """One compiled model and its infer request; inputs and outputs by name."""

    def __init__(
        self,
        path: str | Path,
        device: str = "CPU",
        precision: str = "",
        threads: int = 0,
        cache_dir: str | Path | None = None,
        spin: bool = False,
    ) -> None:
        """precision: "" for the device's native precision, or "f32"; threads: 0 for the
        runtime's choice; spin: threads pinned to cores (OpenVINO's default where it pins), else
        free to move, which a core busy with another process needs."""
        import openvino as ov

        core = ov.Core()
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        if device == "CPU":
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
            config["ENABLE_CPU_PINNING"] = bool(spin)
        if cache_dir is not None:
            config["CACHE_DIR"] = str(cache_folder(cache_dir, path))
        self.compiled = core.compile_model(core.read_model(str(path)), device, config)
        self.request = self.compiled.create_infer_request()
        self.input_names = tuple(i.get_any_name() for i in self.compiled.inputs)
        self.output_names = tuple(o.get_any_name() for o in self.compiled.outputs)
        self.device = device
        # what the device really runs (a CPU without bf16 runs f32 whatever the hint asked)
        self.precision = (
            self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            if device == "CPU"
            else "native"
        )
        self.loaded_from_cache = bool(self.compiled.get_property("LOADED_FROM_CACHE"))
        batch = self.compiled.inputs[0].get_partial_shape()[0]
        self.max_batch = 1 << 16 if batch.is_dynamic else int(batch.get_length())
        suffix = "" if device == "CPU" else f"-{device.lower()}"
        self.backend = f"openvino{suffix}-{self.precision}"
        self.input_device = None

    def run(self, inputs: dict) -> dict[str, np.ndarray]:
        feeds = {n: np.ascontiguousarray(inputs[n], dtype=np.float32) for n in self.input_names}
        results = self.request.infer(feeds)
        outputs = zip(self.output_names, self.compiled.outputs, strict=True)
        return {name: np.array(results[output]) for name, output in outputs}
