"""The TensorRT and ONNX Runtime GPU paths, right by construction. No TensorRT and no
onnxruntime-gpu exist here, so each rule is checked against a stand-in of the absent part
(fake_tensorrt.py: the `tensorrt` module of a given version, its engines computed by ONNX
Runtime's CPU session; fake_onnxruntime_gpu.py: onnxruntime-gpu's providers) that records the
calls our code makes and refuses what the real library refuses; everything else (the ONNX export,
verification, the engine cache, backend selection, batching) is real."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_onnxruntime_gpu import CUDA, TRT, RecordedSessions, check_trt_options
from fake_tensorrt import INPUTS, FakeDevice, fake_tensorrt
from waiting import until

from hit_tracker_ros.backends import build as backends_build
from hit_tracker_ros.backends import onnx_runner, tensorrt_runner
from hit_tracker_ros.backends.batching import run_batched
from hit_tracker_ros.backends.build import NetworkSpec, build_runner, chain
from hit_tracker_ros.backends.engine_cache import EngineCache, EngineKey
from hit_tracker_ros.backends.export import export_onnx
from hit_tracker_ros.backends.options import BackendOptions
from hit_tracker_ros.backends.profiles import dla_profile, fit_profile, onnx_input_dims
from hit_tracker_ros.core.boxes import cxcywh_to_xyxy


# --------------------------------------------------------------------------- a small real network
class BoxNet(torch.nn.Module):
    """template + search -> pred_boxes (cx, cy, w, h) and an int64 count, enough to export, run
    and verify (any search size from 3 px)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, template, search):
        z = self.conv(template).mean(dim=(2, 3))
        x = self.conv(search).mean(dim=(2, 3))
        count = (search > 0.5).flatten(1).sum(dim=1)  # int64
        return torch.sigmoid(x + z) * 0.5 + 0.25, count


OUTPUTS = ("pred_boxes", "count")


def box_spec(
    folder: Path, seed: int = 0, batch: bool = True, search_sizes: tuple[int, ...] = ()
) -> NetworkSpec:
    """batch: a dynamic batch axis (as our exports have); search_sizes: a dynamic search side
    between these sizes (as E.T.Track's export has)."""
    checkpoint = folder / f"boxnet{seed}.pth"
    torch.save(BoxNet(seed).state_dict(), checkpoint)

    def export(out: Path, static_weights: bool) -> dict:
        axes: dict[str, dict[int, str]] = {n: {0: "batch"} for n in (*INPUTS, *OUTPUTS)} if batch else {}
        if search_sizes:
            axes.setdefault("search", {}).update({2: "side", 3: "side"})
        export_onnx(BoxNet(seed), feeds()[0], OUTPUTS, out, axes or None)
        return {"pred_boxes": 0.0}

    def feeds() -> list[dict]:
        rng = np.random.default_rng(1)
        return [{n: rng.random(s, dtype=np.float32) for n, s in INPUTS.items()} for _ in range(3)]

    profile = {}
    if search_sizes:
        low, high = min(search_sizes), max(search_sizes)
        profile = {"search": ([1, 3, low, low], [1, 3, 8, 8], [1, 3, high, high])}
    return NetworkSpec(
        name="boxnet",
        checkpoint=checkpoint,
        input_shapes=dict(INPUTS),
        outputs=OUTPUTS,
        export=export,
        torch_network=lambda: BoxNet(seed),
        verification_inputs=feeds,
        boxes_of=lambda out: cxcywh_to_xyxy(out["pred_boxes"]),
        tensorrt_profile=profile,
        search_sizes=tuple(search_sizes),
    )


def batch_feeds(n: int, side: int = 8, seed: int = 2) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "template": rng.random(INPUTS["template"], dtype=np.float32),
            "search": rng.random((1, 3, side, side), dtype=np.float32),
        }
        for _ in range(n)
    ]


# --------------------------------------------------------------------------- ONNX Runtime GPU EPs
def options(tmp_path, **kw) -> BackendOptions:
    return BackendOptions(engine_cache_dir=str(tmp_path / "engines" / "nested"), **kw)


def model_file(tmp_path: Path, batch: bool = True, search_sizes: tuple[int, ...] = ()) -> Path:
    """Our export of BoxNet (dynamic batch unless batch=False; a dynamic search side with sizes)."""
    folder = tmp_path / f"model-{batch}-{'-'.join(map(str, search_sizes))}"
    folder.mkdir(exist_ok=True)
    return backends_build.onnx_for(box_spec(folder, batch=batch, search_sizes=search_sizes))


def test_tensorrt_ep_fp16_is_used_only_when_it_passes_verification(tmp_path, monkeypatch):
    spec = box_spec(tmp_path)
    RecordedSessions(monkeypatch, fp16_error=0.05)  # FP16 boxes 0.05 of the crop off
    selection = build_runner(spec, "onnxruntime", options(tmp_path))
    assert selection.name == "onnxruntime-tensorrt-fp32"
    assert selection.skipped[0].startswith("onnxruntime-tensorrt-fp16: refused, verification IoU")
    assert selection.info()["onnxruntime_providers"].startswith(TRT)
    assert selection.runner.backend == "onnxruntime-tensorrt"

    RecordedSessions(monkeypatch, fp16_error=0.0)  # FP16 agrees: it is used
    assert build_runner(spec, "onnxruntime", options(tmp_path)).name == "onnxruntime-tensorrt-fp16"


def test_a_failure_during_verification_moves_on_to_the_next_candidate(tmp_path, monkeypatch):
    """Defect 1: the TensorRT EP builds its engine at the first run() of a graph with dynamic
    axes; a failed build used to abort the whole chain from inside verification."""
    RecordedSessions(monkeypatch, run_error="TensorRT EP failed to create engine from network.")
    selection = build_runner(box_spec(tmp_path), "onnxruntime", options(tmp_path))
    assert selection.name == "onnxruntime-cuda"
    assert selection.skipped == [
        "onnxruntime-tensorrt-fp16: failed during verification: [ONNXRuntimeError] : 1 : FAIL : "
        "TensorRT EP failed to create engine from network.",
        "onnxruntime-tensorrt-fp32: failed during verification: [ONNXRuntimeError] : 1 : FAIL : "
        "TensorRT EP failed to create engine from network.",
    ]


def test_a_provider_that_ran_no_node_fails_verification_and_the_one_that_ran_them_is_reported(
    tmp_path, monkeypatch
):
    """Defect 7: get_providers() lists the TensorRT EP even when the partitioner gave it no node;
    the first (profiled) run tells which provider ran the nodes."""
    RecordedSessions(monkeypatch, idle=(TRT,))
    selection = build_runner(box_spec(tmp_path), "onnxruntime", options(tmp_path))
    assert selection.name == "onnxruntime-cuda"
    assert selection.skipped[0].startswith(
        f"onnxruntime-tensorrt-fp16: failed during verification: {TRT} ran none of the model's nodes "
        f"(nodes per provider: {CUDA}: "
    )
    info = selection.info()
    assert info["onnxruntime_nodes"].startswith(f"{CUDA}: ") and TRT not in info["onnxruntime_nodes"]
    assert list(selection.runner.node_providers) == [CUDA]


def test_the_tensorrt_ep_gets_the_engine_profile_and_builds_one_engine(tmp_path, monkeypatch):
    """Defect 3: without trt_profile_*_shapes the EP rebuilt its engine inside the tracking loop
    whenever a batch size or a search size left the range seen so far."""
    spec = box_spec(tmp_path, search_sizes=(8, 12))
    recorded = RecordedSessions(monkeypatch)
    selection = build_runner(spec, "onnxruntime-tensorrt-fp32", options(tmp_path, max_batch=4))
    ep = recorded.created[-1][1][TRT]
    assert ep["trt_profile_min_shapes"] == "template:1x3x4x4,search:1x3x8x8"
    assert ep["trt_profile_opt_shapes"] == "template:1x3x4x4,search:1x3x8x8"
    assert ep["trt_profile_max_shapes"] == "template:4x3x4x4,search:4x3x12x12"
    runner = selection.runner
    assert runner.max_batch == 4
    for n in (1, 3, 4, 2):
        for side in (8, 12):
            run_batched(runner, batch_feeds(n, side))
    assert recorded.engine_builds == 1  # the verification run's, for the whole profile


def test_without_a_profile_the_stand_in_rebuilds_like_the_ep(tmp_path, monkeypatch):
    """What defect 3 cost: the stand-in models the EP's rebuilds when it is given no profile."""
    recorded = RecordedSessions(monkeypatch)
    path = model_file(tmp_path, search_sizes=(8, 12))
    ep = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(tmp_path)}
    runner = onnx_runner.OnnxRunner(path, (TRT, CUDA), {TRT: ep})
    for n, side in ((1, 8), (2, 8), (1, 12)):
        run_batched(runner, batch_feeds(n, side))
    assert recorded.engine_builds == 3


def test_tensorrt_ep_dla_gets_a_static_batch_1_profile_or_a_refusal(tmp_path, monkeypatch):
    """Defect 4, ONNX Runtime's trt_dla_enable: static shapes, several targets one by one."""
    recorded = RecordedSessions(monkeypatch)
    selection = build_runner(
        box_spec(tmp_path), "onnxruntime-tensorrt-fp16", options(tmp_path, trt_dla_core=0, max_batch=4)
    )
    ep = recorded.created[-1][1][TRT]
    assert ep["trt_dla_enable"] is True and ep["trt_dla_core"] == 0
    assert ep["trt_profile_min_shapes"] == ep["trt_profile_max_shapes"] == "template:1x3x4x4,search:1x3x8x8"
    assert selection.runner.max_batch == 1
    assert len(run_batched(selection.runner, batch_feeds(3))) == 3
    with pytest.raises(RuntimeError, match="the DLA runs static shapes only, and boxnet varies input shapes"):
        build_runner(
            box_spec(tmp_path, search_sizes=(8, 12)),
            "onnxruntime-tensorrt-fp16",
            options(tmp_path, trt_dla_core=0),
        )


def test_the_ort_stand_in_refuses_what_onnxruntime_gpu_refuses(tmp_path):
    dims = {"template": [-1, 3, 4, 4], "search": [-1, 3, -1, -1]}
    good = {"trt_fp16_enable": True, "trt_dla_core": 0, "trt_engine_cache_path": "x"}
    assert check_trt_options(good, dims) == {}
    refused = [
        ({"trt_fp16": True}, "Invalid TensorRT EP option: trt_fp16"),
        ({"trt_fp16_enable": 1}, "should be 'True' or 'False'"),
        ({"trt_dla_core": "zero"}, "should be a number"),
        ({"trt_engine_cache_path": ""}, "should not be empty"),
        ({"trt_profile_min_shapes": "search:1x3x8x8"}, "must be given together"),
        (
            {
                "trt_profile_min_shapes": "search=1,3",
                "trt_profile_opt_shapes": "a:1",
                "trt_profile_max_shapes": "a:1",
            },
            "should be 'input1",
        ),
    ]
    for options_, message in refused:
        with pytest.raises(RuntimeError, match=message):
            check_trt_options(options_, dims)
    profile = {
        "trt_profile_min_shapes": "search:1x3x8x8",
        "trt_profile_opt_shapes": "search:1x3x8x8",
        "trt_profile_max_shapes": "search:4x3x12x12",
    }
    with pytest.raises(RuntimeError, match="no shapes for dynamic input template"):
        check_trt_options(profile, dims)
    with pytest.raises(RuntimeError, match="invalid profile for template"):
        check_trt_options(
            {k: v.replace("search:", "template:1x4x4x4,search:", 1) for k, v in profile.items()}, dims
        )
    both = {k: "template:1x3x4x4," + v for k, v in profile.items()}
    assert check_trt_options(both, dims)["search"] == [[1, 3, 8, 8], [1, 3, 8, 8], [4, 3, 12, 12]]
    with pytest.raises(RuntimeError, match="DLA runs static shapes only"):
        check_trt_options({**both, "trt_dla_enable": True}, dims)


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
        ep = recorded.created[-1][1][TRT]
        folders.append(Path(ep["trt_engine_cache_path"]))
    assert folders[0] != folders[1] and folders[0] == folders[2]  # by content, not by path
    assert all(f.is_dir() and f.parent == tmp_path / "engines" / "nested" / "ort_trt" for f in folders)


@pytest.mark.parametrize(
    ("version", "has_timing_path", "has_profile"),
    [("1.14.1", False, False), ("1.16.3", False, True), ("1.17.0", True, True), ("1.31.1", True, True)],
)
def test_options_only_where_onnxruntime_knows_them(
    tmp_path, monkeypatch, version, has_timing_path, has_profile
):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "__version__", version)
    profile = {"template": ([1, 3, 4, 4],) * 3, "search": ([1, 3, 8, 8], [1, 3, 8, 8], [2, 3, 8, 8])}
    ep = onnx_runner.tensorrt_ep_options(tmp_path / "engines", model_file(tmp_path), False, -1, profile)[TRT]
    assert ("trt_timing_cache_path" in ep) is has_timing_path
    assert ("trt_profile_max_shapes" in ep) is has_profile
    assert ep["trt_timing_cache_enable"] and ep["trt_fp16_enable"] is False
    check_trt_options(ep, {"template": [-1, 3, 4, 4], "search": [-1, 3, 8, 8]})


def test_a_provider_that_did_not_start_is_reported_not_silently_replaced(tmp_path, monkeypatch):
    spec = box_spec(tmp_path)
    RecordedSessions(monkeypatch, drop=(TRT,))  # e.g. no libnvinfer
    selection = build_runner(spec, "onnxruntime", options(tmp_path))
    assert selection.name == "onnxruntime-cuda" and selection.runner.backend == "onnxruntime-cuda"
    assert (
        f"onnxruntime-tensorrt-fp16: failed to start (ONNX Runtime did not start {TRT}" in selection.report()
    )
    assert selection.info()["onnxruntime_providers"] == f"{CUDA}, CPUExecutionProvider"


def test_device_tensors_reach_onnx_runtime_through_io_binding(tmp_path, monkeypatch):
    """GPU preprocessing hands torch tensors over; ONNX Runtime binds them in place (here CPU
    tensors, as the CUDA EP binds CUDA ones) and gives the outputs of host arrays."""
    RecordedSessions(monkeypatch)
    runner = onnx_runner.OnnxRunner(model_file(tmp_path), (CUDA,))
    assert runner.input_device == "cuda"
    feed = batch_feeds(1)[0]
    host = runner.run(feed)
    bound = runner.run({k: torch.from_numpy(v) for k, v in feed.items()})
    for name in OUTPUTS:
        np.testing.assert_array_equal(bound[name], host[name])


# --------------------------------------------------------------------------- TensorRT
@pytest.fixture
def trt(monkeypatch):
    """Install a fake `tensorrt` of a given version; the module logger starts afresh."""

    def install(version: str = "10.3.0", **kw):
        module = fake_tensorrt(version, **kw)
        monkeypatch.setitem(sys.modules, "tensorrt", module)
        monkeypatch.setattr(tensorrt_runner, "_LOGGER", None)
        return module

    return install


@pytest.fixture
def gpu_stand_in(trt, monkeypatch):
    """The whole TensorRT path (build_runner: export, engine cache, build, load, verification,
    batching) with the fake TensorRT and the fake device in place of the GPU."""

    def install(version: str = "10.3.0", **kw):
        fake = trt(version, **kw)
        monkeypatch.setattr(tensorrt_runner, "tensorrt_unavailable", lambda: None)
        monkeypatch.setattr(tensorrt_runner, "CudaDevice", lambda: FakeDevice(fake))
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda: (8, 7))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "Orin")
        return fake

    return install


def runner_of(fake, path: Path, precision: str = "fp32", profile=None, dla_core: int = -1):
    data = tensorrt_runner.build_engine(path, precision, 0, dla_core, profile)
    return tensorrt_runner.load_engine(data, precision, dla_core, device=FakeDevice(fake))


def test_jetpack5_tensorrt_is_refused_with_the_jetpack6_path(trt):
    trt("8.5.2")
    reason = tensorrt_runner.tensorrt_unavailable()
    assert "older than 8.6" in reason and "JetPack 5" in reason and "JetPack 6" in reason


@pytest.mark.parametrize(("version", "batch_flag"), [("8.6.2", 1), ("10.3.0", 0), ("11.0.0", 0)])
def test_builds_with_each_supported_version(trt, tmp_path, version, batch_flag):
    fake = trt(version)
    path = model_file(tmp_path, batch=False)
    assert tensorrt_runner.build_engine(path, "fp32").startswith(b"FAKE-ENGINE:")
    assert ("create_network", batch_flag) in fake.calls  # EXPLICIT_BATCH only where it exists


def test_a_file_that_does_not_parse_is_refused_with_the_parser_errors(trt, tmp_path):
    trt("10.3.0")
    (tmp_path / "m.onnx").write_bytes(b"not onnx")
    with pytest.raises(RuntimeError, match="TensorRT cannot parse .*m.onnx: ModelImporter"):
        tensorrt_runner.build_engine(tmp_path / "m.onnx", "fp32")


def test_fp16_on_tensorrt_11_is_refused_clearly(trt, tmp_path):
    trt("11.0.0")
    path = model_file(tmp_path, batch=False)
    with pytest.raises(
        RuntimeError, match=r"TensorRT 11 builds strongly typed networks only\): use trt_precision fp32"
    ):
        tensorrt_runner.build_engine(path, "fp16")
    fake = trt("10.3.0")
    tensorrt_runner.build_engine(path, "fp16")
    assert ("set_flag", "FP16") in fake.calls


def test_dla_runs_fp16_only_on_existing_cores_with_gpu_fallback(trt, tmp_path):
    path = model_file(tmp_path, batch=False)
    with pytest.raises(ValueError, match="needs trt_precision fp16"):
        BackendOptions(trt_dla_core=0, trt_precision="fp32")
    trt("10.3.0", dla_cores=2)
    with pytest.raises(ValueError, match="DLA runs FP16 or INT8 only"):
        tensorrt_runner.build_engine(path, "fp32", dla_core=0)
    with pytest.raises(ValueError, match="DLA core 2 requested, but this device has 2"):
        tensorrt_runner.build_engine(path, "fp16", dla_core=2)
    fake = trt("10.3.0", dla_cores=0)  # Orin Nano, desktop GPUs
    with pytest.raises(ValueError, match="has 0 DLA core"):
        tensorrt_runner.build_engine(path, "fp16", dla_core=0)
    fake = trt("10.3.0", dla_cores=2)
    tensorrt_runner.build_engine(path, "fp16", dla_core=1)
    assert ("build", ["FP16", "GPU_FALLBACK"], "DLA", 1) in fake.calls


def test_a_dla_engine_is_static_batch_1_and_runs_several_targets_one_by_one(gpu_stand_in, tmp_path):
    """Defect 4: DLA needs min = opt = max; a dynamic profile (max_batch > 1, E.T.Track's two
    search sizes) made a "DLA engine" that quietly ran on the GPU."""
    fake = gpu_stand_in("10.3.0")
    selection = build_runner(box_spec(tmp_path), "tensorrt", options(tmp_path, trt_dla_core=0, max_batch=4))
    assert selection.name == "tensorrt-fp16"
    built = [c for c in fake.calls if c[0] == "profile"][-1][1]
    assert built == {"template": ([1, 3, 4, 4],) * 3, "search": ([1, 3, 8, 8],) * 3}
    assert not fake.errors
    assert selection.runner.max_batch == 1
    outputs = run_batched(selection.runner, batch_feeds(3))
    assert [o["pred_boxes"].shape for o in outputs] == [(1, 4)] * 3
    with pytest.raises(
        RuntimeError, match="tensorrt-fp16: failed to start .*the DLA runs static shapes only"
    ):
        build_runner(box_spec(tmp_path, search_sizes=(8, 12)), "tensorrt", options(tmp_path, trt_dla_core=0))


def test_the_stand_in_refuses_a_dynamic_dla_build(trt, tmp_path):
    fake = trt("10.3.0")
    network_profile = {"template": ([1, 3, 4, 4], [1, 3, 4, 4], [4, 3, 4, 4]), "search": ([1, 3, 8, 8],) * 3}
    with pytest.raises(ValueError, match="the DLA runs static shapes only"):
        tensorrt_runner.build_engine(model_file(tmp_path), "fp16", 0, 0, network_profile)
    assert dla_profile(network_profile, "boxnet")["template"] == ([1, 3, 4, 4],) * 3
    # bypassing our check, the stand-in itself refuses (the real builder would fall back to the GPU)
    builder = fake.Builder(tensorrt_runner.trt_logger())
    network = builder.create_network(0)
    assert fake.OnnxParser(network, tensorrt_runner.trt_logger()).parse(model_file(tmp_path).read_bytes())
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for name, bounds in network_profile.items():
        profile.set_shape(name, *bounds)
    config.add_optimization_profile(profile)
    config.default_device_type = fake.DeviceType.DLA
    assert builder.build_serialized_network(network, config) is None
    assert "DLA runs static shapes only" in fake.errors[-1]


def test_a_static_onnx_checkpoint_with_max_batch_above_1_builds_and_runs_batches(gpu_stand_in, tmp_path):
    """Defect 5: a user's own .onnx with a fixed batch of 1; the profile used to vary that fixed
    dimension (1..max_batch) and TensorRT refused the build. Only the network's dynamic
    dimensions vary; the engine runs batches one by one."""
    fake = gpu_stand_in("10.3.0")
    static = model_file(tmp_path, batch=False)
    checkpoint = tmp_path / "users.onnx"
    checkpoint.write_bytes(static.read_bytes())
    spec = NetworkSpec(**{**box_spec(tmp_path).__dict__, "checkpoint": checkpoint})
    selection = build_runner(spec, "tensorrt-fp32", options(tmp_path, max_batch=4))
    assert not fake.errors, fake.errors
    assert [c for c in fake.calls if c[0] == "profile"] == []  # nothing dynamic: no profile
    assert selection.runner.max_batch == 1
    assert len(run_batched(selection.runner, batch_feeds(3))) == 3
    # and the stand-in refuses what the old code asked for
    with pytest.raises(RuntimeError, match="failed to build"):
        fake.calls.clear()
        profile = {"template": ([1, 3, 4, 4], [1, 3, 4, 4], [4, 3, 4, 4])}
        builder = fake.Builder(tensorrt_runner.trt_logger())
        network = builder.create_network(0)
        fake.OnnxParser(network, tensorrt_runner.trt_logger()).parse(static.read_bytes())
        config = builder.create_builder_config()
        optimization = builder.create_optimization_profile()
        optimization.set_shape("template", *profile["template"])
        config.add_optimization_profile(optimization)
        if builder.build_serialized_network(network, config) is None:
            raise RuntimeError("failed to build: " + fake.errors[-1])
    assert "do not match the network's" in fake.errors[-1]


def test_profiles_vary_only_the_networks_dynamic_dimensions(tmp_path):
    dims = onnx_input_dims(model_file(tmp_path, search_sizes=(8, 12)))
    assert dims == {"template": [-1, 3, 4, 4], "search": [-1, 3, -1, -1]}
    profile = {
        "template": ([1, 3, 4, 4], [1, 3, 4, 4], [4, 3, 4, 4]),
        "search": ([1, 3, 8, 8], [1, 3, 8, 8], [4, 3, 12, 12]),
    }
    assert fit_profile(profile, dims) == profile
    static = onnx_input_dims(model_file(tmp_path, batch=False))
    assert fit_profile(profile, static) == {}
    with pytest.raises(ValueError, match="input search has dynamic dimensions"):
        fit_profile({"template": profile["template"]}, dims)


def test_the_whole_tensorrt_path_verifies_and_batches_through_the_stand_in(gpu_stand_in, tmp_path):
    fake = gpu_stand_in("10.3.0")
    selection = build_runner(
        box_spec(tmp_path, search_sizes=(8, 12)), "tensorrt", options(tmp_path, max_batch=4)
    )
    assert selection.name == "tensorrt-fp16" and selection.verification["max_box_diff"] < 1e-6
    runner = selection.runner
    assert runner.max_batch == 4
    for side in (8, 12):
        feeds = batch_feeds(3, side)
        batched = run_batched(runner, feeds)
        for feed, row in zip(feeds, batched, strict=True):
            one = runner.run(feed)
            np.testing.assert_allclose(row["pred_boxes"], one["pred_boxes"], rtol=0, atol=1e-6)
            assert row["count"].dtype == np.int64 and row["count"][0] == one["count"][0]
    assert not fake.errors


def test_a_dla_engine_loads_on_its_core(trt, tmp_path):
    fake = trt("10.3.0")
    data = tensorrt_runner.build_engine(model_file(tmp_path, batch=False), "fp16", 0, 1)
    fake.calls.clear()
    runner = tensorrt_runner.load_engine(data, "fp16", dla_core=1, device=FakeDevice(fake))
    assert runner is not None and runner.backend == "tensorrt-fp16"
    assert fake.calls[:2] == [("runtime.DLA_core", 1), ("deserialize", 1)]  # pinned before loading
    fake.calls.clear()
    tensorrt_runner.load_engine(data, "fp16", device=FakeDevice(fake))
    assert fake.calls[0] == ("deserialize", -1)  # a GPU engine: the runtime's default


def test_failed_context_and_refused_shapes_are_errors_not_crashes(trt, tmp_path):
    path = model_file(tmp_path)
    fake = trt("10.3.0", context_ok=False)
    with pytest.raises(RuntimeError, match="could not create an execution context"):
        runner_of(fake, path, profile=backends_build.engine_profile(box_spec(tmp_path), 2))
    fake = trt("10.3.0")
    runner = runner_of(fake, path, profile=backends_build.engine_profile(box_spec(tmp_path), 2))
    with pytest.raises(ValueError, match="TensorRT refused input template of shape"):
        runner.run({n: np.zeros((3, *s[1:]), np.float32) for n, s in INPUTS.items()})  # batch 3 > profile's 2


def test_the_stand_in_enforces_the_execution_contract(trt, tmp_path):
    fake = trt("10.3.0")
    data = tensorrt_runner.build_engine(
        model_file(tmp_path), "fp32", 0, -1, backends_build.engine_profile(box_spec(tmp_path), 2)
    )
    engine = fake.Runtime(tensorrt_runner.trt_logger()).deserialize_cuda_engine(data)
    context = engine.create_execution_context()
    assert context.set_input_shape("search", (3, 3, 8, 8)) is False  # outside the profile
    assert context.set_input_shape("search", (1, 3, 9, 9)) is False  # a fixed dimension
    assert context.set_input_shape("search", (2, 3, 8, 8)) is True
    with pytest.raises(TypeError, match="stream_handle: int"):
        context.execute_async_v3("handle:ours")
    assert context.execute_async_v3(7) is False  # template's shape and the addresses are not set


@pytest.mark.parametrize(
    ("version", "types"), [("8.6.2", {"bool", "int8", "uint8"}), ("10.3.0", {"int64", "bfloat16"})]
)
def test_dtype_map_covers_the_types_each_version_has(trt, version, types):
    trt(version)
    names = {str(t).removeprefix("torch.") for t in tensorrt_runner.torch_dtypes().values()}
    assert types <= names and {"float32", "float16", "int32"} <= names
    if version.startswith("8"):
        assert "int64" not in names and "bfloat16" not in names


def test_runner_orders_its_stream_after_the_callers_and_keeps_integer_outputs(trt, tmp_path):
    """Defect 7: int64/bool outputs came back as float32."""
    fake = trt("10.3.0")
    runner = runner_of(fake, model_file(tmp_path, batch=False))
    fake.calls.clear()
    feed = batch_feeds(1)[0]
    out = runner.run(feed)
    reference = BoxNet()(*(torch.from_numpy(feed[n]) for n in INPUTS))
    np.testing.assert_allclose(out["pred_boxes"], reference[0].detach().numpy(), atol=1e-6)
    assert out["count"].dtype == np.int64 and out["count"][0] == int(reference[1][0])
    sequence = [c for c in fake.calls if c[0] in ("wait", "use", "execute", "end use", "synchronize")]
    handle = runner.stream.cuda_stream
    assert isinstance(handle, int)
    assert sequence == [
        ("wait", "ours", "caller"),  # the caller's queued work first
        ("use", "ours"),
        ("execute", handle),
        ("end use", "ours"),
        ("wait", "caller", "ours"),  # the caller's next work sees our outputs
        ("synchronize", "ours"),
    ]


def test_the_engine_profile_spans_batch_1_to_max_batch(trt, tmp_path, monkeypatch):
    """Several targets and re-acquisition windows run as one batch: the engine's optimization
    profile allows batch 1 (optimized for one target) to max_batch, keeps the family's own
    dynamic axes (E.T.Track's 256/288 px search, here 8/12), and an engine built for another
    max_batch is another engine."""
    spec = box_spec(tmp_path, search_sizes=(8, 12))
    profile = backends_build.engine_profile(spec, 6)
    assert profile["template"] == ([1, 3, 4, 4], [1, 3, 4, 4], [6, 3, 4, 4])
    assert profile["search"] == ([1, 3, 8, 8], [1, 3, 8, 8], [6, 3, 12, 12])
    fake = trt("10.3.0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda: (8, 7))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "Orin")
    path = backends_build.onnx_for(spec)
    tensorrt_runner.build_engine(path, "fp32", profile=profile)
    assert ("profile", {k: tuple(v) for k, v in profile.items()}) in [
        (c[0], {k: tuple(v) for k, v in c[1].items()}) for c in fake.calls if c[0] == "profile"
    ]

    def key(max_batch: int) -> EngineKey:
        shapes = {n: [list(p) for p in s] for n, s in backends_build.engine_profile(spec, max_batch).items()}
        return tensorrt_runner.engine_key(path, "fp32", shapes, {})

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
    path = model_file(tmp_path, batch=False)
    for _ in range(2):
        tensorrt_runner.build_engine(path, "fp32")
    tensorrt_runner.trt_logger()
    assert len(fake.loggers) == 1


def test_engine_key_carries_the_build_recipe(trt, tmp_path, monkeypatch):
    trt("10.3.0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda: (8, 7))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "Orin")
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    key = tensorrt_runner.engine_key(tmp_path / "m.onnx", "fp16", {"search": [1, 3, 8, 8]}, {})
    assert key.recipe == tensorrt_runner.BUILD_RECIPE >= 3
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
        time.sleep(0.5)  # time is the behaviour here: the second process must arrive mid-build
        return b"ENGINE"

    results = []

    def node() -> None:  # each "node" opens its own cache, as separate processes do
        results.append(EngineCache(tmp_path).get_or_build("m", key, slow_build, lambda d: d)[1])

    with caplog.at_level(logging.WARNING, logger="hit_tracker_ros.engines"):
        threads = [threading.Thread(target=node) for _ in range(2)]
        threads[0].start()
        until(lambda: builds, 10, "the first build to start (it holds the lock)")
        threads[1].start()
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
        "openvino-gpu",
        "openvino-npu",
        "openvino",
        "openvino-f32",
        "onnxruntime",
        "torch",
    ]
    raced = [c.name for c in chain(spec, "auto", options(tmp_path)) if c.race]
    assert raced == names[-6:], "the CPU runtimes and OpenVINO's devices: timed, the fastest taken"
    assert not any(c.race for c in chain(spec, "onnxruntime", options(tmp_path))), "named: as asked"
    dla = [c.name for c in chain(spec, "auto", options(tmp_path, trt_dla_core=0))]
    assert "tensorrt-fp32" not in dla  # the DLA runs FP16 only: no silent FP32 GPU engine
    assert [c.name for c in chain(spec, "tensorrt", options(tmp_path))] == ["tensorrt-fp16"]
    assert backends_build.tensorrt_precisions(options(tmp_path, trt_precision="fp32")) == ("fp32",)
