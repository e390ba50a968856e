"""A stand-in for the `tensorrt` module (no TensorRT exists on any machine here), shaped like the
real Python API of the version it imitates and recording every call the backend makes, plus a
stand-in for the CUDA side of the runner (torch CPU tensors, recording streams).

Versions imitated: 8.5 (JetPack 5, refused), 8.6 (JetPack 6.0), 10.3 (JetPack 6.1/6.2) and 11.0
(no BuilderFlag.FP16, no platform_has_fast_fp16, no EXPLICIT_BATCH)."""

from __future__ import annotations

import contextlib
import enum
import types

import torch

INPUTS = {"template": (1, 3, 4, 4), "search": (1, 3, 8, 8)}


def fake_tensorrt(
    version: str = "10.3.0", dla_cores: int = 2, context_ok: bool = True, shapes_ok: bool = True
) -> types.ModuleType:
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = calls = []
    trt.loggers = []
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

    class Config:
        def __init__(self) -> None:
            self.flags: list = []
            self.default_device_type = trt.DeviceType.GPU
            self.DLA_core = -1

        def set_flag(self, flag) -> None:
            calls.append(("set_flag", flag.name))
            self.flags.append(flag)

        def set_memory_pool_limit(self, pool, size) -> None:
            calls.append(("workspace", size))

        def add_optimization_profile(self, profile) -> None:
            calls.append(("profile", profile.shapes))

    class Profile:
        def __init__(self) -> None:
            self.shapes = {}

        def set_shape(self, name, low, opt, high) -> None:
            self.shapes[name] = (low, opt, high)

    class Builder:
        def __init__(self, logger) -> None:
            assert logger in trt.loggers
            self.num_DLA_cores = dla_cores
            if major < 11:
                self.platform_has_fast_fp16 = True

        def create_network(self, flags: int):
            calls.append(("create_network", flags))
            return object()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls.append(
                ("build", [f.name for f in config.flags], config.default_device_type.name, config.DLA_core)
            )
            return b"FAKE-ENGINE"

    class OnnxParser:
        def __init__(self, network, logger) -> None:
            assert logger in trt.loggers
            self.num_errors = 0

        def parse(self, data: bytes) -> bool:
            return True

    class Context:
        def __init__(self, engine) -> None:
            self.engine, self.addresses, self.shapes = engine, {}, {}

        def set_input_shape(self, name, shape) -> bool:
            calls.append(("set_input_shape", name, tuple(shape)))
            self.shapes[name] = tuple(shape)
            return shapes_ok

        def get_tensor_shape(self, name):
            return self.shapes.get(name) or engine_shapes()[name]

        def set_tensor_address(self, name, address) -> None:
            self.addresses[name] = address

        def execute_async_v3(self, stream_handle) -> bool:
            calls.append(("execute", stream_handle))
            search = trt.registry[self.addresses["search"]]
            trt.registry[self.addresses["pred_boxes"]].copy_(search.mean().expand(1, 4))
            if "count" in self.addresses:
                trt.registry[self.addresses["count"]].fill_(int(search.numel()))
            return True

    def engine_shapes() -> dict:
        shapes = dict(INPUTS, pred_boxes=(1, 4))
        if major >= 10:
            shapes["count"] = (1,)
        return shapes

    class Engine:
        def __init__(self) -> None:
            self.names = list(engine_shapes())
            self.num_io_tensors = len(self.names)

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.INPUT if name in INPUTS else trt.TensorIOMode.OUTPUT

        def get_tensor_shape(self, name):
            return engine_shapes()[name]

        def get_tensor_dtype(self, name):
            return trt.DataType.INT64 if name == "count" else trt.DataType.FLOAT

        def create_execution_context(self):
            calls.append(("create_execution_context",))
            return Context(self) if context_ok else None

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
            return Engine() if data == b"FAKE-ENGINE" else None

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, OnnxParser, Runtime
    return trt


class RecordingStream:
    def __init__(self, name: str, calls: list) -> None:
        self.name, self.calls = name, calls
        self.cuda_stream = f"handle:{name}"

    def wait_stream(self, other: RecordingStream) -> None:
        self.calls.append(("wait", self.name, other.name))

    def synchronize(self) -> None:
        self.calls.append(("synchronize", self.name))


class FakeDevice:
    """The runner's CUDA side on the CPU: buffers are CPU tensors known to the fake TensorRT by
    address; streams record what waits for what."""

    def __init__(self, trt: types.ModuleType) -> None:
        self.trt = trt
        self.caller = RecordingStream("caller", trt.calls)

    def new_stream(self) -> RecordingStream:
        return RecordingStream("ours", self.trt.calls)

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
