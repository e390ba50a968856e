"""ONNX Runtime backend: CPU EP, plus CUDA / TensorRT EPs when onnxruntime-gpu provides them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .engine_cache import sha256_file

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class OnnxRunner:
    """One InferenceSession over a static-shape model."""

    def __init__(
        self,
        path: str | Path,
        providers: tuple[str, ...] | None = None,
        provider_options: dict[str, dict] | None = None,
        threads: int = 0,
    ) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        chosen = [p for p in (providers or PREFERRED_PROVIDERS) if p in available]
        if not chosen:
            raise RuntimeError(f"none of the ONNX Runtime providers {providers} is available ({available})")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        with_options = [(p, (provider_options or {}).get(p, {})) for p in chosen]
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=with_options)
        # ONNX Runtime drops a provider that fails to start (a TensorRT EP without libnvinfer, a
        # CUDA EP without cuDNN) with a log line only: read back what it actually runs
        self.providers = self.session.get_providers()
        if self.providers[0] != chosen[0]:
            raise RuntimeError(f"ONNX Runtime did not start {chosen[0]}; it runs {self.providers}")
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        batch = self.session.get_inputs()[0].shape[0]  # an int: fixed; a name or None: dynamic
        self.max_batch = batch if isinstance(batch, int) else 1 << 16
        provider = self.providers[0].replace("ExecutionProvider", "").lower()
        self.backend = "onnxruntime" if provider == "cpu" else f"onnxruntime-{provider}"

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {
            i.name: np.ascontiguousarray(inputs[i.name], dtype=np.float32) for i in self.session.get_inputs()
        }
        return dict(zip(self.output_names, self.session.run(None, feeds), strict=True))


def ort_version() -> tuple[int, int]:
    import onnxruntime as ort

    major, minor = ort.__version__.split(".")[:2]
    return int(major), int(minor)


def tensorrt_ep_options(
    cache_dir: str | Path, onnx_path: str | Path, fp16: bool, dla_core: int = -1
) -> dict[str, dict]:
    """ONNX Runtime's TensorRT execution provider, with its engines in our engine folder: one
    subfolder per ONNX file content, because ORT's own cache key is the graph without its weights
    (a new checkpoint re-exported to the same path would otherwise run the old engine)."""
    folder = Path(cache_dir) / "ort_trt" / sha256_file(onnx_path)[:16]
    folder.mkdir(parents=True, exist_ok=True)  # ORT does not create it
    options: dict[str, object] = {
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(folder),
        "trt_timing_cache_enable": True,
        "trt_fp16_enable": fp16,
    }
    if ort_version() >= (1, 17):  # older versions refuse the option (timing cache beside the engines)
        options["trt_timing_cache_path"] = str(folder)
    if dla_core >= 0:
        options.update(trt_dla_enable=True, trt_dla_core=dla_core)
    return {"TensorrtExecutionProvider": options}
