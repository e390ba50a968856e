"""A stand-in for the `tensorrt` module (no TensorRT exists on any machine here), shaped like the
real Python API of the version it imitates, recording the calls the backend makes, and refusing
what the real library refuses; plus a stand-in for the CUDA side of the runner (CPU tensors known
by address, recording streams with integer handles).

Its "engine" is the parsed ONNX file: execution runs it through ONNX Runtime's CPU session, so a
built engine computes the real network's outputs (verification and batching are real).

Versions imitated: 8.5 (JetPack 5, refused), 8.6 (JetPack 6.0), 10.3 (JetPack 6.1/6.2) and 11.0
(no BuilderFlag.FP16, no platform_has_fast_fp16, no EXPLICIT_BATCH).

Rules enforced, and where each comes from (TensorRT's C++/Python API documentation):
* the parser reads the ONNX file's inputs; symbolic dimensions become -1 (INetworkDefinition);
* IBuilderConfig.add_optimization_profile returns -1 for an invalid profile (ranks differ, or not
  min <= opt <= max);
* building fails (None) when a dynamic input has no profile ("Network has dynamic or shape inputs,
  but no optimization profile has been defined"), when a profile names a tensor that is not an
  input, or when it gives a fixed dimension another value (IOptimizationProfile: "dimensions
  ... must match the network's");
* DLA: static shapes only (min = opt = max). The real builder with GPU_FALLBACK would quietly run
  such a network on the GPU; the stand-in refuses it so that a test fails loudly;
* IExecutionContext.set_input_shape returns False for a shape outside the profile or with another
  fixed dimension;
* execute_async_v3 takes the stream as an integer handle (pybind11 raises TypeError otherwise) and
  returns False unless every input shape is set and every I/O tensor has an address;
* INT64 and BF16 exist from TensorRT 10 (8.6 maps ONNX int64 to INT32).
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import json
import types

import numpy as np
import onnx
import onnxruntime as ort
import torch

INPUTS = {"template": (1, 3, 4, 4), "search": (1, 3, 8, 8)}
ENGINE_MAGIC = b"FAKE-ENGINE:"


def _dims(value_info) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim]


def fake_tensorrt(version: str = "10.3.0", dla_cores: int = 2, context_ok: bool = True) -> types.ModuleType:
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = calls = []
    trt.loggers = []
    trt.errors = []  # what the real builder would log as errors
    trt.registry = {}  # data_ptr -> tensor (the fake device's "device memory")

    class Logger:
        WARNING = 2

        def __init__(self, severity: int) -> None:
            trt.loggers.append(self)

    members = ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8"]
    if major >= 10:
        members += ["BF16", "INT64"]
    trt.DataType = enum.Enum("DataType", members)
    trt.float32, trt.float16 = trt.DataType.FLOAT, trt.DataType.HALF
    trt.TensorIOMode = enum.Enum("TensorIOMode", ["INPUT", "OUTPUT"])
    flags = ["GPU_FALLBACK", "STRONGLY_TYPED"] + (["FP16"] if major < 11 else [])
    trt.BuilderFlag = enum.Enum("BuilderFlag", flags)
    trt.NetworkDefinitionCreationFlag = enum.IntEnum(
        "NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0} if major < 11 else {"STRONGLY_TYPED": 1}
    )
    trt.MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE"])
    trt.DeviceType = enum.Enum("DeviceType", ["GPU", "DLA"])

    def data_type(elem_type: int):
        if elem_type == onnx.TensorProto.INT64:
            return trt.DataType.INT64 if major >= 10 else trt.DataType.INT32
        return {onnx.TensorProto.BOOL: trt.DataType.BOOL}.get(elem_type, trt.DataType.FLOAT)

    class Tensor:
        def __init__(self, name: str, shape: list[int], dtype) -> None:
            self.name, self.shape, self.dtype = name, tuple(shape), dtype

    class Network:
        def __init__(self) -> None:
            self.inputs: list[Tensor] = []
            self.outputs: list[Tensor] = []
            self.onnx = b""

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

    class Config:
        def __init__(self) -> None:
            self.flags: list = []
            self.profiles: list[dict] = []
            self.default_device_type = trt.DeviceType.GPU
            self.DLA_core = -1

        def set_flag(self, flag) -> None:
            calls.append(("set_flag", flag.name))
            self.flags.append(flag)

        def set_memory_pool_limit(self, pool, size) -> None:
            calls.append(("workspace", size))

        def add_optimization_profile(self, profile) -> int:
            calls.append(("profile", profile.shapes))
            for low, opt, high in profile.shapes.values():
                ranks_ok = len(low) == len(opt) == len(high)
                if not ranks_ok or not all(a <= b <= c for a, b, c in zip(low, opt, high, strict=True)):
                    return -1
            self.profiles.append(profile.shapes)
            return len(self.profiles) - 1

    class Profile:
        def __init__(self) -> None:
            self.shapes = {}

        def set_shape(self, name, low, opt, high) -> None:
            self.shapes[name] = (list(low), list(opt), list(high))

    def refuse(message: str) -> None:
        trt.errors.append(message)
        return None

    class Builder:
        def __init__(self, logger) -> None:
            assert logger in trt.loggers
            self.num_DLA_cores = dla_cores
            if major < 11:
                self.platform_has_fast_fp16 = True

        def create_network(self, flags: int):
            calls.append(("create_network", flags))
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network: Network, config: Config):
            calls.append(
                ("build", [f.name for f in config.flags], config.default_device_type.name, config.DLA_core)
            )
            profile = config.profiles[0] if config.profiles else {}
            dims = {t.name: list(t.shape) for t in network.inputs}
            for name in profile:
                if name not in dims:
                    return refuse(f"optimization profile names {name}, which is not a network input")
            for name, shape in dims.items():
                if -1 in shape and name not in profile:
                    return refuse(
                        "Network has dynamic or shape inputs, but no optimization profile has been defined."
                    )
                for bound in profile.get(name, ()):
                    if len(bound) != len(shape) or any(
                        d >= 0 and d != b for d, b in zip(shape, bound, strict=False)
                    ):
                        return refuse(
                            f"profile dimensions {bound} of {name} do not match the network's {shape}"
                        )
            if config.default_device_type == trt.DeviceType.DLA:
                if any(not (low == opt == high) for low, opt, high in profile.values()):
                    return refuse(
                        "DLA runs static shapes only (min = opt = max); GPU fallback would run the GPU"
                    )
            header = {"inputs": dims, "profile": profile}
            return ENGINE_MAGIC + json.dumps(header).encode() + b"\n" + network.onnx

    class OnnxParser:
        def __init__(self, network: Network, logger) -> None:
            assert logger in trt.loggers
            self.network = network
            self.errors: list[str] = []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> str:
            return self.errors[i]

        def parse(self, data: bytes) -> bool:
            try:
                model = onnx.load_from_string(data)
            except Exception as exc:  # noqa: BLE001 - the real parser reports, never raises
                self.errors.append(f"ModelImporter: {exc}")
                return False
            initializers = {i.name for i in model.graph.initializer}
            for value in model.graph.input:
                if value.name not in initializers:
                    self.network.inputs.append(Tensor(value.name, _dims(value), trt.DataType.FLOAT))
            for value in model.graph.output:
                self.network.outputs.append(
                    Tensor(value.name, _dims(value), data_type(value.type.tensor_type.elem_type))
                )
            self.network.onnx = data
            return True

    class Engine:
        def __init__(self, data: bytes) -> None:
            header, onnx_bytes = data[len(ENGINE_MAGIC) :].split(b"\n", 1)
            meta = json.loads(header)
            self.input_dims: dict[str, list[int]] = meta["inputs"]
            self.profile: dict[str, list[list[int]]] = meta["profile"]
            model = onnx.load_from_string(onnx_bytes)
            self.output_types = {o.name: data_type(o.type.tensor_type.elem_type) for o in model.graph.output}
            self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            self.names = list(self.input_dims) + list(self.output_types)
            self.num_io_tensors = len(self.names)

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.INPUT if name in self.input_dims else trt.TensorIOMode.OUTPUT

        def get_tensor_shape(self, name):
            if name in self.input_dims:
                return tuple(self.input_dims[name])
            return tuple(-1 for _ in range(2))

        def get_tensor_profile_shape(self, name, profile_index: int):
            return [tuple(b) for b in self.profile[name]]

        def get_tensor_dtype(self, name):
            return self.output_types.get(name, trt.DataType.FLOAT)

        def create_execution_context(self):
            calls.append(("create_execution_context",))
            return Context(self) if context_ok else None

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine, self.addresses, self.shapes = engine, {}, {}

        def set_input_shape(self, name, shape) -> bool:
            calls.append(("set_input_shape", name, tuple(shape)))
            fixed = self.engine.input_dims[name]
            shape = tuple(int(d) for d in shape)
            if len(shape) != len(fixed) or any(d >= 0 and d != s for d, s in zip(fixed, shape, strict=True)):
                return False
            if name in self.engine.profile:
                low, _, high = self.engine.profile[name]
                if not all(a <= s <= b for a, s, b in zip(low, shape, high, strict=True)):
                    return False
            self.shapes[name] = shape
            return True

        def _outputs_for_shapes(self) -> dict[str, np.ndarray]:
            zeros = {n: np.zeros(s, np.float32) for n, s in self.shapes.items()}
            names = [o.name for o in self.engine.session.get_outputs()]
            return dict(zip(names, self.engine.session.run(None, zeros), strict=True))

        def get_tensor_shape(self, name):
            if name in self.engine.input_dims:
                return self.shapes.get(name) or tuple(self.engine.input_dims[name])
            return self._outputs_for_shapes()[name].shape

        def set_tensor_address(self, name, address) -> None:
            if not isinstance(address, int):
                raise TypeError("set_tensor_address(): incompatible function arguments (address: int)")
            self.addresses[name] = address

        def execute_async_v3(self, stream_handle) -> bool:
            if not isinstance(stream_handle, int):
                raise TypeError("execute_async_v3(): incompatible function arguments (stream_handle: int)")
            calls.append(("execute", stream_handle))
            if set(self.shapes) != set(self.engine.input_dims):
                return False
            if set(self.addresses) != set(self.engine.names):
                return False
            feeds = {n: trt.registry[self.addresses[n]].numpy() for n in self.engine.input_dims}
            names = [o.name for o in self.engine.session.get_outputs()]
            for name, value in zip(names, self.engine.session.run(None, feeds), strict=True):
                target = trt.registry[self.addresses[name]]
                if tuple(target.shape) != value.shape:
                    return False
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
            return True

    class Runtime:
        def __init__(self, logger) -> None:
            assert logger in trt.loggers
            self._dla = -1

        @property
        def DLA_core(self) -> int:  # noqa: N802 - TensorRT's name
            return self._dla

        @DLA_core.setter
        def DLA_core(self, core: int) -> None:  # noqa: N802
            calls.append(("runtime.DLA_core", core))
            self._dla = core

        def deserialize_cuda_engine(self, data: bytes):
            calls.append(("deserialize", self._dla))
            return Engine(bytes(data)) if bytes(data).startswith(ENGINE_MAGIC) else None

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, OnnxParser, Runtime
    return trt


class RecordingStream:
    _handles = itertools.count(0x5000)

    def __init__(self, name: str, calls: list) -> None:
        self.name, self.calls = name, calls
        self.cuda_stream = next(self._handles)  # an integer, as torch.cuda.Stream gives

    def wait_stream(self, other: RecordingStream) -> None:
        self.calls.append(("wait", self.name, other.name))

    def synchronize(self) -> None:
        self.calls.append(("synchronize", self.name))


class FakeDevice:
    """The runner's CUDA side on the CPU: buffers are CPU tensors known to the fake TensorRT by
    address; streams record what waits for what."""

    torch_device = torch.device("cpu")

    def __init__(self, trt: types.ModuleType) -> None:
        self.trt = trt
        self.caller = RecordingStream("caller", trt.calls)

    def new_stream(self) -> RecordingStream:
        self.ours = RecordingStream("ours", self.trt.calls)
        return self.ours

    def current_stream(self) -> RecordingStream:
        return self.caller

    @contextlib.contextmanager
    def use(self, stream: RecordingStream):
        self.trt.calls.append(("use", stream.name))
        yield
        self.trt.calls.append(("end use", stream.name))

    def empty(self, shape, dtype) -> torch.Tensor:
        tensor = torch.zeros(shape, dtype=dtype)
        self.trt.registry[tensor.data_ptr()] = tensor
        return tensor
