"""TensorRT backend through TensorRT's Python API (no trtexec).

Supported: TensorRT 8.6 (JetPack 6.0, x86) through 10.x (JetPack 6.1/6.2 ship 10.3). Older ones
are refused with the reason: JetPack 5 has TensorRT 8.5 and Python 3.8, which this package does not
run on. TensorRT 11 removed the weakly typed precision flags (`BuilderFlag.FP16`,
`platform_has_fast_fp16`): there FP32 engines build, and FP16 is refused with the reason (an FP16
engine would need an FP16 ONNX export built as a strongly typed network, which we do not make).

Engines are built from our ONNX exports (FP32 or FP16, optional workspace limit and DLA core) and
run with device buffers held as torch CUDA tensors, bound by tensor name, executed on our own CUDA
stream, ordered against torch's current stream both ways.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from .engine_cache import EngineKey, sha256_file
from .profiles import fit_profile, is_static

MIN_VERSION = (8, 6)
# What build_engine does to an ONNX file: bump it with any change there, so engines built by the
# old code are rebuilt (their key no longer matches). 2: DLA checks, TensorRT 11 guards. 3: the
# profile varies only the network's dynamic dimensions; DLA engines are static.
BUILD_RECIPE = 3
# TensorRT DataType member -> torch dtype name; members a version lacks are left out
_DTYPES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "BF16": "bfloat16",
    "INT8": "int8",
    "UINT8": "uint8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
}
_LOGGER = None


def trt_logger():
    """The one TensorRT logger of the process (TensorRT expects one, shared by builders and runtimes)."""
    global _LOGGER
    if _LOGGER is None:
        import tensorrt as trt

        _LOGGER = trt.Logger(trt.Logger.WARNING)
    return _LOGGER


def version_of(text: str) -> tuple[int, int]:
    major, minor = (text.split(".") + ["0"])[:2]
    return int(major), int(minor)


def tensorrt_unavailable() -> str | None:
    """None when a supported TensorRT and a CUDA device are usable, else why not."""
    try:
        import tensorrt as trt
    except ImportError:
        return "tensorrt is not installed"
    if version_of(trt.__version__) < MIN_VERSION:
        return (
            f"TensorRT {trt.__version__} is older than 8.6 (JetPack 5 has 8.5 and Python 3.8, which this "
            "package does not support): use JetPack 6 (TensorRT 8.6 or 10.3)"
        )
    try:
        import torch
    except ImportError:
        return "the TensorRT backend needs torch (CUDA build) for device buffers"
    if not torch.cuda.is_available():
        return "no CUDA device"
    return None


def fp16_unsupported() -> str | None:
    """Why this TensorRT cannot build a weakly typed FP16 engine, or None."""
    import tensorrt as trt

    if not hasattr(trt.BuilderFlag, "FP16"):
        return (
            f"TensorRT {trt.__version__} has no FP16 builder flag (TensorRT 11 builds strongly typed "
            "networks only): use trt_precision fp32, or TensorRT 10"
        )
    return None


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
        recipe=BUILD_RECIPE,
    )


def check_dla(builder, precision: str, dla_core: int) -> None:
    """DLA runs FP16 or INT8 only, and only on the cores the device has."""
    if dla_core < 0:
        return
    if precision not in ("fp16", "int8"):
        raise ValueError(
            f"DLA runs FP16 or INT8 only, not {precision}: set trt_precision fp16 or trt_dla_core -1"
        )
    cores = int(getattr(builder, "num_DLA_cores", 0))
    if dla_core >= cores:
        raise ValueError(
            f"DLA core {dla_core} requested, but this device has {cores} DLA core(s) "
            "(Orin AGX/NX: 2, Orin Nano and desktop GPUs: 0)"
        )


def network_input_dims(network) -> dict[str, list[int]]:
    """The parsed network's inputs and their dimensions (-1: dynamic)."""
    inputs = (network.get_input(i) for i in range(network.num_inputs))
    return {tensor.name: [int(d) for d in tensor.shape] for tensor in inputs}


def build_engine(
    onnx_path: str | Path,
    precision: str = "fp32",
    workspace_mb: int = 0,
    dla_core: int = -1,
    profile: dict[str, tuple[list[int], list[int], list[int]]] | None = None,
) -> bytes:
    """Serialized engine from an ONNX file; `profile` gives (min, opt, max) shapes for inputs
    with dynamic axes, of which only the network's dynamic dimensions are used (profiles.py)."""
    import tensorrt as trt

    if precision not in ("fp16", "fp32"):
        raise ValueError(f"precision must be fp32 or fp16, got {precision}")
    if precision == "fp16" and (reason := fp16_unsupported()):
        raise RuntimeError(reason)
    builder = trt.Builder(trt_logger())
    check_dla(builder, precision, dla_core)
    flags = 0
    if version_of(trt.__version__) < (10, 0):  # required before 10, deprecated in 10, gone in 11
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_logger())
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    profile = fit_profile(profile or {}, network_input_dims(network))
    if dla_core >= 0 and not is_static(profile):
        raise ValueError(f"the DLA runs static shapes only, got the profile {profile}")
    if profile:
        optimization = builder.create_optimization_profile()
        for name, (low, opt, high) in profile.items():
            optimization.set_shape(name, low, opt, high)
        if config.add_optimization_profile(optimization) < 0:
            raise RuntimeError(f"TensorRT refused the optimization profile {profile}")
    if workspace_mb > 0:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision == "fp16":
        if not getattr(builder, "platform_has_fast_fp16", True):
            raise RuntimeError("this GPU has no fast FP16; use precision fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    if dla_core >= 0:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # layers the DLA cannot run stay on the GPU
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    return bytes(serialized)


def torch_dtypes() -> dict:
    """TensorRT DataType -> torch dtype, for every type this TensorRT has."""
    import tensorrt as trt
    import torch

    return {
        getattr(trt.DataType, member): getattr(torch, name)
        for member, name in _DTYPES.items()
        if hasattr(trt.DataType, member)
    }


def create_context(engine):
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError(
            "TensorRT could not create an execution context (out of GPU memory, or an engine "
            "made for another GPU or TensorRT)"
        )
    return context


def set_input_shapes(context, shapes: dict[str, tuple[int, ...]]) -> None:
    for name, shape in shapes.items():
        if not context.set_input_shape(name, tuple(shape)):
            raise ValueError(
                f"TensorRT refused input {name} of shape {tuple(shape)} (outside the engine's profile)"
            )


def profile_max_batch(engine, name: str) -> int:
    """The largest batch the engine's first optimization profile allows (static engines: their batch)."""
    shape = engine.get_tensor_shape(name)
    if shape[0] >= 0:
        return int(shape[0])
    return int(engine.get_tensor_profile_shape(name, 0)[2][0])


class CudaDevice:
    """What the runner needs from CUDA, through torch (the tests give a recording stand-in where
    no GPU exists)."""

    def __init__(self) -> None:
        import torch

        self._torch = torch
        self.torch_device = torch.device("cuda")

    def new_stream(self):
        return self._torch.cuda.Stream()

    def current_stream(self):
        return self._torch.cuda.current_stream()

    def use(self, stream) -> contextlib.AbstractContextManager:
        return self._torch.cuda.stream(stream)

    def empty(self, shape: tuple[int, ...], dtype):
        return self._torch.empty(shape, dtype=dtype, device="cuda")


class TensorRTRunner:
    """Runs a deserialized engine; inputs and outputs bound by name to device tensors."""

    def __init__(self, engine, precision: str, device: CudaDevice | None = None) -> None:
        import tensorrt as trt

        self.engine = engine
        self.context = create_context(engine)
        self.device = device or CudaDevice()
        self.stream = self.device.new_stream()
        self.backend = f"tensorrt-{precision}"
        self._dtypes = torch_dtypes()
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.input_names if is_input else self.output_names).append(name)
        self.inputs: dict = {}
        self.outputs: dict = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self.max_batch = profile_max_batch(engine, self.input_names[0])
        self.input_device = self.device.torch_device  # GPU preprocessing hands over device tensors

    def _bind(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """(Re)allocate device buffers for these input shapes (dynamic axes resolved by the context)."""
        set_input_shapes(self.context, {name: shapes[name] for name in self.input_names})
        for name in self.input_names + self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            trt_dtype = self.engine.get_tensor_dtype(name)
            if trt_dtype not in self._dtypes:
                raise TypeError(f"tensor {name} has TensorRT type {trt_dtype}, which has no torch equivalent")
            tensor = self.device.empty(shape, self._dtypes[trt_dtype])
            (self.inputs if name in self.input_names else self.outputs)[name] = tensor
            self.context.set_tensor_address(name, tensor.data_ptr())
        self._shapes = dict(shapes)

    def run(self, inputs: dict) -> dict[str, np.ndarray]:
        """inputs: host arrays or device tensors (GPU preprocessing: copied device to device)."""
        import torch

        shapes = {name: tuple(inputs[name].shape) for name in self.input_names}
        if shapes != self._shapes:
            self._bind(shapes)
        caller = self.device.current_stream()
        # work the caller queued on its stream (e.g. the GPU crops) comes first
        self.stream.wait_stream(caller)
        with self.device.use(self.stream):
            for name, tensor in self.inputs.items():
                value = inputs[name]
                if not isinstance(value, torch.Tensor):
                    value = torch.from_numpy(np.ascontiguousarray(value))
                tensor.copy_(value)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
            host = {name: _to_host(t) for name, t in self.outputs.items()}
        # and what the caller queues next sees our outputs
        caller.wait_stream(self.stream)
        self.stream.synchronize()
        return {name: t.numpy() for name, t in host.items()}


def _to_host(tensor):
    """A device output on the host in its own type (int64 counts stay int64), half and bfloat16
    widened to float32 (numpy has no bfloat16)."""
    import torch

    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    return tensor.cpu()


def load_engine(
    data: bytes, precision: str, dla_core: int = -1, device: CudaDevice | None = None
) -> TensorRTRunner | None:
    """A runner for a serialized engine, or None when it does not deserialize (corrupt, or made by
    another TensorRT version / GPU). A DLA engine loads on the core it was built for."""
    import tensorrt as trt

    runtime = trt.Runtime(trt_logger())
    if dla_core >= 0:
        runtime.DLA_core = dla_core
    engine = runtime.deserialize_cuda_engine(data)
    return None if engine is None else TensorRTRunner(engine, precision, device)
