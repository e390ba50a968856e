"""The TensorRT and ONNX Runtime GPU paths, right by construction. No TensorRT and no
onnxruntime-gpu exist here, so each rule is checked against a stand-in of the absent part (the
`tensorrt` module of a given version, ONNX Runtime's TensorRT/CUDA providers) that records the calls
our code makes; everything else (the ONNX export, ONNX Runtime's CPU session that computes the
outputs, verification, the engine cache, backend selection) is real."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from fake_tensorrt import INPUTS, FakeDevice, fake_tensorrt

from hit_tracker_ros.backends import build as backends_build
from hit_tracker_ros.backends import onnx_runner, tensorrt_runner
from hit_tracker_ros.backends.build import NetworkSpec, build_runner, chain
from hit_tracker_ros.backends.engine_cache import EngineCache, EngineKey
from hit_tracker_ros.backends.export import export_onnx
from hit_tracker_ros.backends.options import BackendOptions
from hit_tracker_ros.core.boxes import cxcywh_to_xyxy


# --------------------------------------------------------------------------- a small real network
class BoxNet(torch.nn.Module):
    """template + search -> pred_boxes (cx, cy, w, h), enough to export, run and verify."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, template, search):
        z = self.conv(template).mean(dim=(2, 3))
        x = self.conv(search).mean(dim=(2, 3))
        return (torch.sigmoid(x + z) * 0.5 + 0.25,)


def box_spec(folder: Path, seed: int = 0) -> NetworkSpec:
    checkpoint = folder / f"boxnet{seed}.pth"
    torch.save(BoxNet(seed).state_dict(), checkpoint)

    def export(out: Path, static_weights: bool) -> dict:
        export_onnx(BoxNet(seed), feeds()[0], ("pred_boxes",), out)
        return {"pred_boxes": 0.0}

    def feeds() -> list[dict]:
        rng = np.random.default_rng(1)
        return [{n: rng.random(s, dtype=np.float32) for n, s in INPUTS.items()} for _ in range(3)]

    return NetworkSpec(
        name="boxnet",
        checkpoint=checkpoint,
        input_shapes=dict(INPUTS),
        outputs=("pred_boxes",),
        export=export,
        torch_network=lambda: BoxNet(seed),
        verification_inputs=feeds,
        boxes_of=lambda out: cxcywh_to_xyxy(out["pred_boxes"]),
    )


# --------------------------------------------------------------------------- ONNX Runtime GPU EPs
REAL_SESSION = ort.InferenceSession


class RecordedSessions:
    """onnxruntime-gpu's providers on this CPU-only onnxruntime: sessions record the providers
    and options they were asked for, compute on the CPU, report the providers that "started"
    (`drop`: providers that fail to start, as a TensorRT EP without libnvinfer does), and, with
    `fp16_error`, return outputs off by that much when the TensorRT EP runs FP16."""

    def __init__(self, monkeypatch, drop: tuple[str, ...] = (), fp16_error: float = 0.0) -> None:
        self.created: list[tuple[list, dict]] = []
        recorder = self

        class Session(REAL_SESSION):
            def __init__(self, path, sess_options=None, providers=None):
                names = [p for p, _ in providers]
                options = dict(providers)
                recorder.created.append((names, options))
                super().__init__(path, sess_options=sess_options, providers=["CPUExecutionProvider"])
                self._started = [p for p in names if p not in drop]
                self._fp16 = names[0] == "TensorrtExecutionProvider" and options[names[0]].get(
                    "trt_fp16_enable"
                )

            def get_providers(self):
                return self._started

            def run(self, output_names, feeds):
                out = super().run(output_names, feeds)
                return [o + fp16_error for o in out] if self._fp16 else out

        available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
        monkeypatch.setattr(ort, "InferenceSession", Session)
        monkeypatch.setattr(ort, "get_available_providers", lambda: available)


def options(tmp_path, **kw) -> BackendOptions:
    return BackendOptions(engine_cache_dir=str(tmp_path / "engines" / "nested"), **kw)


def test_tensorrt_ep_fp16_is_used_only_when_it_passes_verification(tmp_path, monkeypatch):
    spec = box_spec(tmp_path)
    RecordedSessions(monkeypatch, fp16_error=0.05)  # FP16 boxes 0.05 of the crop off
    selection = build_runner(spec, "onnxruntime", options(tmp_path))
    assert selection.name == "onnxruntime-tensorrt-fp32"
    assert selection.skipped[0].startswith("onnxruntime-tensorrt-fp16: refused, verification IoU")
    assert selection.info()["onnxruntime_providers"].startswith("TensorrtExecutionProvider")
    assert selection.runner.backend == "onnxruntime-tensorrt"

    RecordedSessions(monkeypatch, fp16_error=0.0)  # FP16 agrees: it is used
    assert build_runner(spec, "onnxruntime", options(tmp_path)).name == "onnxruntime-tensorrt-fp16"


def test_every_tensorrt_ep_candidate_is_verified_also_when_asked_for_by_name(tmp_path):
    spec = box_spec(tmp_path)
    for backend in ("auto", "onnxruntime"):
        ort_trt = [c for c in chain(spec, backend, options(tmp_path)) if "tensorrt" in c.name]
        assert ort_trt and all(c.verify for c in ort_trt)
    names = [c.name for c in chain(spec, "onnxruntime", options(tmp_path))]
    assert names == [
        "onnxruntime-tensorrt-fp16",
        "onnxruntime-tensorrt-fp32",
        "onnxruntime-cuda",
        "onnxruntime",
    ]
    fp32_only = [c.name for c in chain(spec, "onnxruntime", options(tmp_path, trt_precision="fp32"))]
    assert fp32_only[0] == "onnxruntime-tensorrt-fp32" and "onnxruntime-tensorrt-fp16" not in fp32_only


def test_tensorrt_ep_engine_cache_has_one_folder_per_model_content(tmp_path, monkeypatch):
    """ORT's TensorRT EP keys its engine cache by the graph, not the weights: a new checkpoint
    exported to the same path must not run the old engine."""
    recorded = RecordedSessions(monkeypatch)
    folders = []
    for seed in (0, 1, 0):
        spec = box_spec(tmp_path, seed)
        spec = NetworkSpec(**{**spec.__dict__, "checkpoint": tmp_path / "same_name.pth"})
        torch.save(BoxNet(seed).state_dict(), spec.checkpoint)
        build_runner(spec, "onnxruntime-tensorrt-fp32", options(tmp_path))
        ep = recorded.created[-1][1]["TensorrtExecutionProvider"]
        folders.append(Path(ep["trt_engine_cache_path"]))
    assert folders[0] != folders[1] and folders[0] == folders[2]  # by content, not by path
    assert all(f.is_dir() and f.parent == tmp_path / "engines" / "nested" / "ort_trt" for f in folders)


@pytest.mark.parametrize(
    ("version", "has_timing_path"), [("1.16.3", False), ("1.17.0", True), ("1.31.1", True)]
)
def test_timing_cache_path_only_where_onnxruntime_knows_it(tmp_path, monkeypatch, version, has_timing_path):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "__version__", version)
    model = export_onnx(
        BoxNet(), box_spec(tmp_path).verification_inputs()[0], ("pred_boxes",), tmp_path / "m.onnx"
    )
    ep = onnx_runner.tensorrt_ep_options(tmp_path / "engines", model, fp16=False)["TensorrtExecutionProvider"]
    assert ("trt_timing_cache_path" in ep) is has_timing_path
    assert ep["trt_timing_cache_enable"] and ep["trt_fp16_enable"] is False


def test_a_provider_that_did_not_start_is_reported_not_silently_replaced(tmp_path, monkeypatch):
    spec = box_spec(tmp_path)
    RecordedSessions(monkeypatch, drop=("TensorrtExecutionProvider",))  # e.g. no libnvinfer
    selection = build_runner(spec, "onnxruntime", options(tmp_path))
    assert selection.name == "onnxruntime-cuda" and selection.runner.backend == "onnxruntime-cuda"
    assert (
        "onnxruntime-tensorrt-fp16: failed to start (ONNX Runtime did not start TensorrtExecutionProvider"
        in (selection.report())
    )
    assert selection.info()["onnxruntime_providers"] == "CUDAExecutionProvider, CPUExecutionProvider"


# --------------------------------------------------------------------------- TensorRT
@pytest.fixture
def trt(monkeypatch):
    """Install a fake `tensorrt` of a given version; the module logger starts afresh."""

    def install(version: str = "10.3.0", **kw):
        module = fake_tensorrt(version, **kw)
        monkeypatch.setitem(__import__("sys").modules, "tensorrt", module)
        monkeypatch.setattr(tensorrt_runner, "_LOGGER", None)
        return module

    return install


def test_jetpack5_tensorrt_is_refused_with_the_jetpack6_path(trt):
    trt("8.5.2")
    reason = tensorrt_runner.tensorrt_unavailable()
    assert "older than 8.6" in reason and "JetPack 5" in reason and "JetPack 6" in reason


@pytest.mark.parametrize(("version", "batch_flag"), [("8.6.2", 1), ("10.3.0", 0), ("11.0.0", 0)])
def test_builds_with_each_supported_version(trt, tmp_path, version, batch_flag):
    fake = trt(version)
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    assert tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp32") == b"FAKE-ENGINE"
    assert ("create_network", batch_flag) in fake.calls  # EXPLICIT_BATCH only where it exists


def test_fp16_on_tensorrt_11_is_refused_clearly(trt, tmp_path):
    trt("11.0.0")
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    with pytest.raises(
        RuntimeError, match=r"TensorRT 11 builds strongly typed networks only\): use trt_precision fp32"
    ):
        tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp16")
    fake = trt("10.3.0")
    tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp16")
    assert ("set_flag", "FP16") in fake.calls


def test_dla_runs_fp16_only_on_existing_cores_with_gpu_fallback(trt, tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    with pytest.raises(ValueError, match="needs trt_precision fp16"):
        BackendOptions(trt_dla_core=0, trt_precision="fp32")
    trt("10.3.0", dla_cores=2)
    with pytest.raises(ValueError, match="DLA runs FP16 or INT8 only"):
        tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp32", dla_core=0)
    with pytest.raises(ValueError, match="DLA core 2 requested, but this device has 2"):
        tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp16", dla_core=2)
    fake = trt("10.3.0", dla_cores=0)  # Orin Nano, desktop GPUs
    with pytest.raises(ValueError, match="has 0 DLA core"):
        tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp16", dla_core=0)
    fake = trt("10.3.0", dla_cores=2)
    tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp16", dla_core=1)
    assert ("build", ["FP16", "GPU_FALLBACK"], "DLA", 1) in fake.calls


def test_a_dla_engine_loads_on_its_core(trt):
    fake = trt("10.3.0")
    runner = tensorrt_runner.load_engine(b"FAKE-ENGINE", "fp16", dla_core=1, device=FakeDevice(fake))
    assert runner is not None and runner.backend == "tensorrt-fp16"
    assert fake.calls[:2] == [("runtime.DLA_core", 1), ("deserialize", 1)]  # pinned before loading
    fake.calls.clear()
    tensorrt_runner.load_engine(b"FAKE-ENGINE", "fp16", device=FakeDevice(fake))
    assert fake.calls[0] == ("deserialize", -1)  # a GPU engine: the runtime's default


def test_failed_context_and_refused_shapes_are_errors_not_crashes(trt):
    fake = trt("10.3.0", context_ok=False)
    engine = fake.Runtime(tensorrt_runner.trt_logger()).deserialize_cuda_engine(b"FAKE-ENGINE")
    with pytest.raises(RuntimeError, match="could not create an execution context"):
        tensorrt_runner.TensorRTRunner(engine, "fp32", FakeDevice(fake))
    fake = trt("10.3.0", shapes_ok=False)
    engine = fake.Runtime(tensorrt_runner.trt_logger()).deserialize_cuda_engine(b"FAKE-ENGINE")
    runner = tensorrt_runner.TensorRTRunner(engine, "fp32", FakeDevice(fake))
    with pytest.raises(ValueError, match="TensorRT refused input template of shape"):
        runner.run({n: np.zeros(s, np.float32) for n, s in INPUTS.items()})


@pytest.mark.parametrize(
    ("version", "types"), [("8.6.2", {"bool", "int8", "uint8"}), ("10.3.0", {"int64", "bfloat16"})]
)
def test_dtype_map_covers_the_types_each_version_has(trt, version, types):
    trt(version)
    names = {str(t).removeprefix("torch.") for t in tensorrt_runner.torch_dtypes().values()}
    assert types <= names and {"float32", "float16", "int32"} <= names
    if version.startswith("8"):
        assert "int64" not in names and "bfloat16" not in names


def test_runner_orders_its_stream_after_the_callers_and_binds_int64_outputs(trt):
    fake = trt("10.3.0")
    engine = fake.Runtime(tensorrt_runner.trt_logger()).deserialize_cuda_engine(b"FAKE-ENGINE")
    runner = tensorrt_runner.TensorRTRunner(engine, "fp32", FakeDevice(fake))
    fake.calls.clear()
    search = np.full(INPUTS["search"], 0.5, np.float32)
    out = runner.run({"template": np.zeros(INPUTS["template"], np.float32), "search": search})
    np.testing.assert_allclose(out["pred_boxes"], 0.5)
    assert out["count"].dtype == np.float32 and out["count"][0] == search.size  # int64 bound, read back
    sequence = [c for c in fake.calls if c[0] in ("wait", "use", "execute", "end use", "synchronize")]
    assert sequence == [
        ("wait", "ours", "caller"),  # the caller's queued work first
        ("use", "ours"),
        ("execute", "handle:ours"),
        ("end use", "ours"),
        ("wait", "caller", "ours"),  # the caller's next work sees our outputs
        ("synchronize", "ours"),
    ]


def test_the_engine_profile_spans_batch_1_to_max_batch(trt, tmp_path, monkeypatch):
    """Several targets and re-acquisition windows run as one batch: the engine's optimization
    profile allows batch 1 (optimized for one target) to max_batch, keeps the family's own
    dynamic axes (E.T.Track's 256/288 px search, here 8/12), and an engine built for another
    max_batch is another engine."""
    spec = box_spec(tmp_path)
    spec.tensorrt_profile["search"] = ([1, 3, 8, 8], [1, 3, 8, 8], [1, 3, 12, 12])
    profile = backends_build.engine_profile(spec, 6)
    assert profile["template"] == ([1, 3, 4, 4], [1, 3, 4, 4], [6, 3, 4, 4])
    assert profile["search"] == ([1, 3, 8, 8], [1, 3, 8, 8], [6, 3, 12, 12])
    fake = trt("10.3.0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda: (8, 7))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "Orin")
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp32", profile=profile)
    assert ("profile", profile) in fake.calls

    def key(max_batch: int) -> EngineKey:
        shapes = {n: [list(p) for p in s] for n, s in backends_build.engine_profile(spec, max_batch).items()}
        return tensorrt_runner.engine_key(tmp_path / "m.onnx", "fp32", shapes, {})

    assert key(1) != key(6) and key(6) == key(6)


class ProfiledEngine:
    """What profile_max_batch reads from a deserialized engine: a dynamic batch axis (-1) and
    its first profile's (min, opt, max), or a static batch."""

    def __init__(self, shape: tuple[int, ...], profile_max: int) -> None:
        self.shape, self.profile_max = shape, profile_max

    def get_tensor_shape(self, name):
        return self.shape

    def get_tensor_profile_shape(self, name, profile_index):
        return [(1, 3, 8, 8), (1, 3, 8, 8), (self.profile_max, 3, 8, 8)]


def test_the_runner_batch_limit_is_the_profile_maximum():
    assert tensorrt_runner.profile_max_batch(ProfiledEngine((-1, 3, 8, 8), 9), "search") == 9
    assert tensorrt_runner.profile_max_batch(ProfiledEngine((1, 3, 8, 8), 9), "search") == 1  # static


def test_one_tensorrt_logger_per_process(trt, tmp_path):
    fake = trt("10.3.0")
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    for _ in range(2):
        tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp32")
    tensorrt_runner.trt_logger()
    assert len(fake.loggers) == 1


def test_engine_key_carries_the_build_recipe(trt, tmp_path, monkeypatch):
    trt("10.3.0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda: (8, 7))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "Orin")
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    key = tensorrt_runner.engine_key(tmp_path / "m.onnx", "fp16", {"search": [1, 3, 8, 8]}, {})
    assert key.recipe == tensorrt_runner.BUILD_RECIPE >= 2
    cache = EngineCache(tmp_path / "engines")
    cache.get_or_build("m", key, lambda: b"old", lambda data: data)
    newer = EngineKey(**{**key.__dict__, "recipe": key.recipe + 1})
    _, entry = cache.get_or_build("m", newer, lambda: b"new", lambda data: data)
    assert entry.rebuilt and "recipe" in entry.reason


def test_concurrent_builds_of_one_engine_build_it_once(tmp_path, caplog):
    key = EngineKey("a" * 64, "10.3.0", "Orin", "8.7", "fp16", {"search": [1, 3, 8, 8]}, {}, recipe=2)
    builds: list[int] = []

    def slow_build() -> bytes:
        builds.append(1)
        time.sleep(0.5)
        return b"ENGINE"

    results = []

    def node() -> None:  # each "node" opens its own cache, as separate processes do
        results.append(EngineCache(tmp_path).get_or_build("m", key, slow_build, lambda d: d)[1])

    with caplog.at_level(logging.WARNING, logger="hit_tracker_ros.engines"):
        threads = [threading.Thread(target=node) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
    assert len(builds) == 1
    assert sorted(r.rebuilt for r in results) == [False, True]
    assert "waiting for another process that is building" in caplog.text


def test_auto_chain_order_and_fallbacks(tmp_path):
    spec = box_spec(tmp_path)
    names = [c.name for c in chain(spec, "auto", options(tmp_path))]
    assert names == [
        "tensorrt-fp16",
        "tensorrt-fp32",
        "onnxruntime-tensorrt-fp16",
        "onnxruntime-tensorrt-fp32",
        "torch-cuda-graph",
        "onnxruntime-cuda",
        "torch-cuda",
        "onnxruntime",
        "torch",
    ]
    dla = [c.name for c in chain(spec, "auto", options(tmp_path, trt_dla_core=0))]
    assert "tensorrt-fp32" not in dla  # the DLA runs FP16 only: no silent FP32 GPU engine
    assert [c.name for c in chain(spec, "tensorrt", options(tmp_path))] == ["tensorrt-fp16"]
    assert backends_build.tensorrt_precisions(options(tmp_path, trt_precision="fp32")) == ("fp32",)
