"""A stand-in for onnxruntime-gpu's TensorRT and CUDA execution providers on the CPU-only
onnxruntime: sessions are real CPU sessions (real outputs, profiling, IO binding) that record the
providers and options they were asked for and refuse what onnxruntime-gpu refuses.

Rules enforced, and where each comes from:
* TensorRT EP options are checked by name and value against the list the Python binding accepts
  (onnxruntime_pybind_state.cc: "Invalid TensorRT EP option: <name>" for an unknown key; booleans
  must read 'True'/'False'/'true'/'false' after the binding's str(); integers are std::stoi'd;
  paths must not be empty); `trt_profile_{min,opt,max}_shapes` ("input:1x3x256x256,...", ORT 1.15,
  PR #15546) must be given together and for every dynamic input, min <= opt <= max, fixed
  dimensions equal to the model's;
* DLA (`trt_dla_enable`) runs static shapes only (TensorRT's rule; see fake_tensorrt.py);
* the TensorRT EP builds its engine at the first run() (ONNX Runtime TensorRT EP docs: graphs with
  dynamic axes are built when shapes are known): `run_error` makes that run fail as a failed build
  does, and without an explicit profile a shape outside the ones seen so far rebuilds the engine
  (counted in `engine_builds`), as the EP does;
* placement: get_providers() lists a provider even when the partitioner gave it no node; the
  session's profile says which provider ran each node (`idle` providers run none).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import onnxruntime as ort

REAL_SESSION = ort.InferenceSession
TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_BOOL = ("True", "False", "true", "false")
TRT_EP_OPTIONS = {
    **dict.fromkeys(
        (
            "trt_fp16_enable", "trt_int8_enable", "trt_int8_use_native_calibration_table", "trt_dla_enable",
            "trt_dump_subgraphs", "trt_engine_cache_enable", "trt_engine_decryption_enable",
            "trt_force_sequential_engine_build", "trt_context_memory_sharing_enable",
            "trt_layer_norm_fp32_fallback", "trt_timing_cache_enable", "trt_force_timing_cache",
            "trt_detailed_build_log", "trt_build_heuristics_enable", "trt_sparsity_enable",
            "trt_cuda_graph_enable", "trt_dump_ep_context_model", "trt_weight_stripped_engine_enable",
            "trt_engine_hw_compatible",
        ),
        "bool",
    ),
    **dict.fromkeys(
        (
            "device_id", "trt_max_partition_iterations", "trt_min_subgraph_size", "trt_max_workspace_size",
            "trt_dla_core", "trt_builder_optimization_level", "trt_auxiliary_streams",
            "trt_ep_context_embed_mode",
        ),
        "int",
    ),
    **dict.fromkeys(
        (
            "trt_int8_calibration_table_name", "trt_engine_cache_path", "trt_engine_decryption_lib_path",
            "trt_tactic_sources", "trt_extra_plugin_lib_paths", "trt_timing_cache_path",
            "trt_ep_context_file_path", "trt_engine_cache_prefix", "trt_onnx_model_folder_path",
        ),
        "path",
    ),
    **dict.fromkeys(("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes"), "shapes"),
}  # fmt: skip
_SHAPES = re.compile(r"^[^:,]+:\d+(x\d+)*(,[^:,]+:\d+(x\d+)*)*$")


def parse_shapes(text: str) -> dict[str, list[int]]:
    return {item.split(":")[0]: [int(d) for d in item.split(":")[1].split("x")] for item in text.split(",")}


def check_trt_options(options: dict, model_dims: dict[str, list[int]]) -> dict[str, list[list[int]]]:
    """The explicit profile {input: [min, opt, max]}, or RuntimeError as the binding raises."""
    for name, value in options.items():
        kind = TRT_EP_OPTIONS.get(name)
        text = str(value)  # what the Python binding passes on
        if kind is None:
            raise RuntimeError(f"Invalid TensorRT EP option: {name}")
        if kind == "bool" and text not in _BOOL:
            raise RuntimeError(
                f"[ERROR] [TensorRT] The value for the key '{name}' should be 'True' or 'False'."
            )
        if kind == "int" and not re.fullmatch(r"-?\d+", text):
            raise RuntimeError(f"[ERROR] [TensorRT] The value for the key '{name}' should be a number.")
        if kind in ("path", "shapes") and not text:
            raise RuntimeError(f"[ERROR] [TensorRT] The value for the key '{name}' should not be empty.")
        if kind == "shapes" and not _SHAPES.match(text):
            raise RuntimeError(f"[ERROR] [TensorRT] '{name}' should be 'input1:dim1xdim2...,input2:...'")
    keys = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")
    given = [k in options for k in keys]
    if any(given) and not all(given):
        raise RuntimeError("TensorRT EP: trt_profile_min/opt/max_shapes must be given together")
    if not any(given):
        return {}
    bounds = [parse_shapes(str(options[k])) for k in keys]
    profile = {name: [b[name] for b in bounds] for name in bounds[0]}
    for name, shape in model_dims.items():
        if -1 in shape and name not in profile:
            raise RuntimeError(f"TensorRT EP: the explicit profile has no shapes for dynamic input {name}")
    for name, (low, opt, high) in profile.items():
        fixed = model_dims.get(name)
        if fixed is None or not (len(low) == len(opt) == len(high) == len(fixed)):
            raise RuntimeError(f"TensorRT EP: profile shapes of {name} do not fit the model's input {fixed}")
        if any(d >= 0 and d != v for d, v in zip(fixed, low, strict=True)) or not all(
            a <= b <= c for a, b, c in zip(low, opt, high, strict=True)
        ):
            raise RuntimeError(f"TensorRT EP: invalid profile for {name}: {low} / {opt} / {high} vs {fixed}")
        if options.get("trt_dla_enable") in (True, "True", "true") and not (low == opt == high):
            raise RuntimeError("TensorRT EP: the DLA runs static shapes only (min = opt = max)")
    return profile


class RecordedSessions:
    """Installs the stand-in (monkeypatch) for one test; see the module docstring.

    drop: providers that fail to start (a TensorRT EP without libnvinfer); fp16_error: outputs off
    by that much when the TensorRT EP runs FP16; idle: providers listed but running no node;
    run_error: the first run of a TensorRT EP session fails with this message."""

    def __init__(
        self,
        monkeypatch,
        drop: tuple[str, ...] = (),
        fp16_error: float = 0.0,
        idle: tuple[str, ...] = (),
        run_error: str = "",
    ) -> None:
        self.created: list[tuple[list, dict]] = []
        self.engine_builds = 0
        recorder = self

        class Session(REAL_SESSION):
            def __init__(self, path, sess_options=None, providers=None):
                names = [p for p, _ in providers]
                options = dict(providers)
                recorder.created.append((names, options))
                super().__init__(path, sess_options=sess_options, providers=[CPU])
                dims = {
                    i.name: [d if isinstance(d, int) else -1 for d in i.shape] for i in super().get_inputs()
                }
                self._profile = check_trt_options(options[TRT], dims) if TRT in options else {}
                self._started = [p for p in names if p not in drop]
                self._trt = self._started[0] == TRT
                self._fp16 = self._trt and str(options[TRT].get("trt_fp16_enable")) in ("True", "true")
                self._seen: dict[str, list[list[int]]] = {}  # input -> [min, max] seen (no profile)
                self._runs = 0

            def get_providers(self):
                return self._started

            def _build_if_needed(self, shapes: dict[str, tuple[int, ...]]) -> None:
                """The EP's engine: built at the first run; without an explicit profile, rebuilt
                with a wider one whenever an input leaves the shapes seen so far."""
                if not self._trt:
                    return
                self._runs += 1
                if self._runs == 1 and run_error:
                    raise RuntimeError(f"[ONNXRuntimeError] : 1 : FAIL : {run_error}")
                rebuild = self._runs == 1
                for name, shape in shapes.items():
                    if name in self._profile:
                        low, _, high = self._profile[name]
                        if not all(a <= s <= b for a, s, b in zip(low, shape, high, strict=True)):
                            raise RuntimeError(
                                f"TensorRT EP: input {name} {shape} outside the explicit profile"
                            )
                        continue
                    lo, hi = self._seen.get(name, (list(shape), list(shape)))
                    if any(s < a or s > b for s, a, b in zip(shape, lo, hi, strict=True)):
                        rebuild = True
                    self._seen[name] = [
                        [min(a, s) for a, s in zip(lo, shape, strict=True)],
                        [max(b, s) for b, s in zip(hi, shape, strict=True)],
                    ]
                recorder.engine_builds += rebuild

            def run(self, output_names, feeds, run_options=None):
                self._build_if_needed({n: tuple(v.shape) for n, v in feeds.items()})
                out = super().run(output_names, feeds, run_options)
                return [o + fp16_error for o in out] if self._fp16 else out

            def run_with_iobinding(self, binding, run_options=None):
                self._build_if_needed({})
                return super().run_with_iobinding(binding, run_options)

            def end_profiling(self):
                path = super().end_profiling()
                events = json.loads(Path(path).read_text())
                ran = next((p for p in self._started if p not in idle), CPU)
                for event in events:
                    if event.get("cat") == "Node" and "provider" in event.get("args", {}):
                        event["args"]["provider"] = ran
                Path(path).write_text(json.dumps(events))
                return path

        available = [TRT, CUDA, CPU]
        monkeypatch.setattr(ort, "InferenceSession", Session)
        monkeypatch.setattr(ort, "get_available_providers", lambda: available)
