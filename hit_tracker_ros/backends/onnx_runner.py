"""ONNX Runtime backend: CPU EP, plus CUDA / TensorRT EPs when onnxruntime-gpu provides them."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .engine_cache import sha256_file
from .profiles import Profile, fit_profile, onnx_input_dims, ort_profile_options

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


class OnnxRunner:
    """One InferenceSession. On a GPU provider the first run is profiled to learn which provider
    really ran the model's nodes: ONNX Runtime lists a provider in get_providers() even when its
    partitioning gave it no node (a TensorRT EP that takes none of the graph), and such a runner
    fails (during verification) instead of running on another provider unnoticed."""

    def __init__(
        self,
        path: str | Path,
        providers: tuple[str, ...] | None = None,
        provider_options: dict[str, dict] | None = None,
        threads: int = 0,
        max_batch: int = 1 << 16,
        spin: bool = False,
    ) -> None:
        """threads: intra-op threads (0: ONNX Runtime's choice); spin: idle workers spin (ONNX
        Runtime's default) instead of waiting passively (core.cpu)."""
        import onnxruntime as ort

        available = ort.get_available_providers()
        chosen = [p for p in (providers or PREFERRED_PROVIDERS) if p in available]
        if not chosen:
            raise RuntimeError(f"none of the ONNX Runtime providers {providers} is available ({available})")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        for pool in ("intra_op", "inter_op"):
            options.add_session_config_entry(f"session.{pool}.allow_spinning", "1" if spin else "0")
        self._profile_dir = None
        if chosen[0] in GPU_PROVIDERS:
            self._profile_dir = tempfile.mkdtemp(prefix="htr_ort_profile_")
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(self._profile_dir) / "placement")
        with_options = [(p, (provider_options or {}).get(p, {})) for p in chosen]
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=with_options)
        # ONNX Runtime drops a provider that fails to start (a TensorRT EP without libnvinfer, a
        # CUDA EP without cuDNN) with a log line only: read back what it actually runs
        self.providers = self.session.get_providers()
        if self.providers[0] != chosen[0]:
            raise RuntimeError(f"ONNX Runtime did not start {chosen[0]}; it runs {self.providers}")
        self.node_providers: dict[str, int] = {}  # provider -> nodes it ran (GPU sessions, after a run)
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        batch = self.session.get_inputs()[0].shape[0]  # an int: fixed; a name or None: dynamic
        self.max_batch = min(batch if isinstance(batch, int) else 1 << 16, max_batch)
        provider = self.providers[0].replace("ExecutionProvider", "").lower()
        self.backend = "onnxruntime" if provider == "cpu" else f"onnxruntime-{provider}"
        self.input_device = "cuda" if self.providers[0] in GPU_PROVIDERS else None

    def run(self, inputs: dict) -> dict[str, np.ndarray]:
        """inputs: host arrays, or torch tensors (GPU preprocessing), bound in place through IO
        binding without a copy to the host."""
        if any(not isinstance(inputs[n], np.ndarray) for n in self.input_names):
            outputs = self._run_bound(inputs)
        else:
            feeds = {n: np.ascontiguousarray(inputs[n], dtype=np.float32) for n in self.input_names}
            outputs = self.session.run(None, feeds)
        if self._profile_dir is not None:
            self._read_placement()
        return dict(zip(self.output_names, outputs, strict=True))

    def _run_bound(self, inputs: dict) -> list[np.ndarray]:
        import torch

        binding = self.session.io_binding()
        keep = []  # the bound tensors must outlive the run
        for name in self.input_names:
            value = inputs[name]
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, np.ascontiguousarray(value, dtype=np.float32))
                continue
            tensor = value.to(torch.float32).contiguous()
            keep.append(tensor)
            device = tensor.device
            binding.bind_input(
                name, device.type, device.index or 0, np.float32, tuple(tensor.shape), tensor.data_ptr()
            )
        for name in self.output_names:
            binding.bind_output(name, "cpu")
        if any(t.is_cuda for t in keep):
            torch.cuda.current_stream().synchronize()  # ONNX Runtime reads them on its own stream
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    def _read_placement(self) -> None:
        """Which provider ran how many nodes in the profiled first run; profiling then ends."""
        folder, self._profile_dir = self._profile_dir, None
        path = self.session.end_profiling()
        try:
            events = json.loads(Path(path).read_text())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        counts: dict[str, int] = {}
        for event in events:
            provider = event.get("args", {}).get("provider")
            if event.get("cat") == "Node" and provider and event.get("name", "").endswith("_kernel_time"):
                counts[provider] = counts.get(provider, 0) + 1
        self.node_providers = counts
        if not counts.get(self.providers[0]):
            ran = ", ".join(f"{p}: {n}" for p, n in counts.items()) or "none"
            raise RuntimeError(
                f"{self.providers[0]} ran none of the model's nodes (nodes per provider: {ran})"
            )


def ort_version() -> tuple[int, int]:
    import onnxruntime as ort

    major, minor = ort.__version__.split(".")[:2]
    return int(major), int(minor)


def tensorrt_ep_options(
    cache_dir: str | Path,
    onnx_path: str | Path,
    fp16: bool,
    dla_core: int = -1,
    profile: Profile | None = None,
) -> dict[str, dict]:
    """ONNX Runtime's TensorRT execution provider, with its engines in our engine folder: one
    subfolder per ONNX file content, because ORT's own cache key is the graph without its weights
    (a new checkpoint re-exported to the same path would otherwise run the old engine); and the
    optimization profile TensorRT gets (profiles.py), fitted to the file's dynamic dimensions."""
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
    if ort_version() >= (1, 15):  # trt_profile_*_shapes arrived in 1.15 (older ones refuse them)
        options.update(ort_profile_options(fit_profile(profile or {}, onnx_input_dims(onnx_path))))
    return {"TensorrtExecutionProvider": options}
