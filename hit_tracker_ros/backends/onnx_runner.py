"""ONNX Runtime backend: CPU EP, plus CUDA / TensorRT EPs when onnxruntime-gpu provides them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
        self.providers = self.session.get_providers()
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        provider = self.providers[0].replace("ExecutionProvider", "").lower()
        self.backend = "onnxruntime" if provider == "cpu" else f"onnxruntime-{provider}"

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {
            i.name: np.ascontiguousarray(inputs[i.name], dtype=np.float32) for i in self.session.get_inputs()
        }
        return dict(zip(self.output_names, self.session.run(None, feeds), strict=True))


def tensorrt_ep_options(cache_dir: str | Path, fp16: bool) -> dict[str, dict]:
    """ONNX Runtime's TensorRT execution provider, with its engine cache in our engine folder."""
    cache = str(Path(cache_dir) / "ort_trt")
    return {
        "TensorrtExecutionProvider": {
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": cache,
            "trt_fp16_enable": fp16,
        }
    }
