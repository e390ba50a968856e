"""TensorRT backend (Python `tensorrt` API, TensorRT 8.6 as on JetPack 5 through 10.x; no trtexec).

Engines are built from our ONNX exports (FP32 or FP16, optional workspace limit and DLA core) and
run with device buffers held as torch CUDA tensors, bound by tensor name, executed asynchronously
on a CUDA stream.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .engine_cache import EngineKey, sha256_file


def tensorrt_unavailable() -> str | None:
    """None when TensorRT and a CUDA device are usable, else why not."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "tensorrt is not installed"
    try:
        import torch
    except ImportError:
        return "the TensorRT backend needs torch (CUDA build) for device buffers"
    if not torch.cuda.is_available():
        return "no CUDA device"
    return None


def _logger():
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


def engine_key(
    onnx_path: str | Path, precision: str, input_shapes: dict[str, list[int]], options: dict
) -> EngineKey:
    """The cache key of an engine for this machine."""
    import tensorrt as trt
    import torch

    major, minor = torch.cuda.get_device_capability()
    return EngineKey(
        onnx_sha256=sha256_file(onnx_path),
        tensorrt_version=trt.__version__,
        gpu_name=torch.cuda.get_device_name(),
        compute_capability=f"{major}.{minor}",
        precision=precision,
        input_shapes={k: list(v) for k, v in input_shapes.items()},
        builder_options=dict(options),
    )


def build_engine(
    onnx_path: str | Path,
    precision: str = "fp32",
    workspace_mb: int = 0,
    dla_core: int = -1,
    profile: dict[str, tuple[list[int], list[int], list[int]]] | None = None,
) -> bytes:
    """Serialized engine from an ONNX file; `profile` gives (min, opt, max) shapes for inputs
    with dynamic axes (none: static shapes)."""
    import tensorrt as trt

    logger = _logger()
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # required before TensorRT 10
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if profile:
        optimization = builder.create_optimization_profile()
        for name, (low, opt, high) in profile.items():
            optimization.set_shape(name, low, opt, high)
        config.add_optimization_profile(optimization)
    if workspace_mb > 0:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision == "fp16":
        if not builder.platform_has_fast_fp16:
            raise RuntimeError("this GPU has no fast FP16; use precision fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision != "fp32":
        raise ValueError(f"precision must be fp32 or fp16, got {precision}")
    if dla_core >= 0:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    return bytes(serialized)


class TensorRTRunner:
    """Runs a deserialized engine; inputs and outputs bound by name to torch CUDA tensors."""

    def __init__(self, engine, precision: str) -> None:
        import tensorrt as trt
        import torch

        self.engine = engine
        self.context = engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.backend = f"tensorrt-{precision}"
        self._dtypes = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.input_names if is_input else self.output_names).append(name)
        self.inputs: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.Tensor] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}

    def _bind(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """(Re)allocate device buffers for these input shapes (dynamic axes resolved by the context)."""
        import torch

        for name in self.input_names:
            self.context.set_input_shape(name, shapes[name])
        for name in self.input_names + self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = self._dtypes[self.engine.get_tensor_dtype(name)]
            tensor = torch.empty(shape, dtype=dtype, device="cuda")
            (self.inputs if name in self.input_names else self.outputs)[name] = tensor
            self.context.set_tensor_address(name, tensor.data_ptr())
        self._shapes = dict(shapes)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        shapes = {name: tuple(inputs[name].shape) for name in self.input_names}
        if shapes != self._shapes:
            self._bind(shapes)
        with torch.cuda.stream(self.stream):
            for name, tensor in self.inputs.items():
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(inputs[name])), non_blocking=False)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
            host = {name: t.float().cpu() for name, t in self.outputs.items()}
        self.stream.synchronize()
        return {name: t.numpy() for name, t in host.items()}


def load_engine(data: bytes, precision: str) -> TensorRTRunner | None:
    """A runner for a serialized engine, or None when it does not deserialize (corrupt, or made by
    another TensorRT version / GPU)."""
    import tensorrt as trt

    engine = trt.Runtime(_logger()).deserialize_cuda_engine(data)
    return None if engine is None else TensorRTRunner(engine, precision)
