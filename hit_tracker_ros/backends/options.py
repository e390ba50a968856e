"""The options of backend selection, with their defaults: the one place the node's parameters,
the command-line tools and the config files take them from (a test compares them)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

PRECISIONS = ("fp16", "fp32")


@dataclass(frozen=True)
class BackendOptions:
    device: str = field(
        default="cpu", metadata={"help": "PyTorch device of the torch backend: cpu or cuda[:N]"}
    )
    fp16: bool = field(default=False, metadata={"help": "half precision for the torch backend on CUDA"})
    cuda_graphs: bool = field(
        default=True, metadata={"help": "replay CUDA graphs for the torch backend on CUDA (verified)"}
    )
    gpu_preprocess: bool = field(
        default=True,
        metadata={
            "help": "crop, resize and normalize on the GPU when the backend runs there (checked at start "
            "against the CPU crop: at most 1 grey level apart; false: the authors' CPU crop)"
        },
    )
    engine_cache_dir: str = field(
        default="models/engines",
        metadata={"help": "engine cache: TensorRT, ONNX Runtime's TensorRT EP, OpenVINO's compiled models"},
    )
    cpu_threads: int = field(
        default=0,
        metadata={
            "help": "threads of the CPU backends (PyTorch, ONNX Runtime, OpenVINO) and of OpenCV (CSRT); "
            "0: the CPUs this process may use (its affinity and its cgroup's CPU quota)"
        },
    )
    cpu_spin: bool = field(
        default=False,
        metadata={
            "help": "let idle CPU worker threads spin (the runtimes' own default; on a machine shared with "
            "other processes a descheduled worker stalls the rest: false waits passively)"
        },
    )
    trt_precision: str = field(default="fp16", metadata={"help": "TensorRT engine precision: fp16 or fp32"})
    trt_workspace_mb: int = field(
        default=0, metadata={"help": "TensorRT builder workspace limit in MiB (0: TensorRT's default)"}
    )
    trt_dla_core: int = field(
        default=-1, metadata={"help": "DLA core for the TensorRT engine (Jetson AGX/NX; -1: GPU only)"}
    )
    max_batch: int = field(
        default=1,
        metadata={
            "help": "largest batch (targets plus re-acquisition windows) the backend runs at once: "
            "the TensorRT profile's maximum (the node and build_multi_tracker raise it as needed)"
        },
    )
    min_verification_iou: float = field(
        default=0.98, metadata={"help": "accelerated backends whose boxes agree less with FP32 are refused"}
    )

    def __post_init__(self) -> None:
        if self.trt_precision not in PRECISIONS:
            raise ValueError(f"trt_precision must be fp16 or fp32, got '{self.trt_precision}'")
        if not 0.0 <= self.min_verification_iou <= 1.0:
            raise ValueError(f"min_verification_iou must lie in [0, 1], got {self.min_verification_iou}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.cpu_threads < 0:
            raise ValueError(f"cpu_threads must be >= 0, got {self.cpu_threads}")
        if self.trt_workspace_mb < 0:
            raise ValueError(f"trt_workspace_mb must be >= 0, got {self.trt_workspace_mb}")
        if self.trt_dla_core >= 0 and self.trt_precision != "fp16":
            raise ValueError(
                f"the DLA runs FP16 (or INT8) only: trt_dla_core {self.trt_dla_core} needs trt_precision fp16"
            )
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be cpu or cuda[:N], got '{self.device}'")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def help(cls, name: str) -> str:
        return next(f.metadata["help"] for f in fields(cls) if f.name == name)
