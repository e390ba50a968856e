"""The OpenVINO backend (real OpenVINO runtime, CPU): every family runs through `openvino-f32`
with PyTorch's outputs (golden weights), batched rows equal batch 1, a native-precision candidate
that fails verification is refused with the reason, `auto` on a CPU times every verified CPU
runtime and takes the fastest, and a compiled model is loaded from the cache the second time."""

from __future__ import annotations

import time

import numpy as np
import pytest
from golden import ONE_PER_FAMILY, golden_fixture

from hit_tracker_ros import build_tracker
from hit_tracker_ros.backends import build as backends_build
from hit_tracker_ros.backends import select
from hit_tracker_ros.backends.build import build_runner
from hit_tracker_ros.backends.options import BackendOptions
from hit_tracker_ros.backends.select import NoBackendError
from hit_tracker_ros.trackers.network import family_of, network_spec

pytest.importorskip("openvino")

golden = golden_fixture(ONE_PER_FAMILY)


def spec_of(golden_model):
    return network_spec(family_of(golden_model.model), golden_model.model, golden_model.checkpoint)


def test_openvino_f32_gives_pytorchs_outputs_batch_1_and_batched(golden, tmp_path):
    spec = spec_of(golden)
    options = BackendOptions(engine_cache_dir=str(tmp_path / "engines"), max_batch=3)
    openvino = build_runner(spec, "openvino-f32", options).runner
    torch_ = backends_build.torch_runner(spec)
    assert openvino.backend == "openvino-f32" and openvino.precision == "f32"
    feeds = spec.verification_inputs()
    for feed in feeds:
        ours, theirs = openvino.run(feed), torch_.run(feed)
        for name in spec.outputs:
            scale = max(float(np.abs(theirs[name]).max()), 1.0)
            np.testing.assert_allclose(ours[name], theirs[name], atol=1e-4 * scale, rtol=0, err_msg=name)
    if openvino.max_batch >= 3:  # the batching form (E.T.Track's batches need its static-weight form)
        batched = openvino.run({n: np.concatenate([f[n] for f in feeds]) for n in feeds[0]})
        for i, feed in enumerate(feeds):
            for name, value in openvino.run(feed).items():
                scale = max(float(np.abs(value).max()), 1.0)
                np.testing.assert_allclose(batched[name][i : i + 1], value, atol=1e-5 * scale, rtol=0)


def test_the_golden_sequence_tracks_through_openvino_as_the_authors_tracker(golden):
    """Boxes equal the authors' reference boxes, which PyTorch's are within the golden tests'
    tolerance, give or take the ONNX tolerance of the golden tests (1e-3 px), over the first
    frames as the ONNX Runtime golden tests compare them."""
    from golden import sequence

    seq = sequence()
    tracker = build_tracker(golden.model, golden.checkpoint, backend="openvino-f32")
    tracker.initialize(seq["frames"][0], seq["init_box"])
    boxes = np.array([tracker.track(f).box for f in seq["frames"][1:6]])
    atol = golden.meta["tolerances"]["tracker_boxes_atol_px"] + 1e-3
    np.testing.assert_allclose(boxes, golden.npz["trk__boxes"][1:6], atol=atol, rtol=0)


def test_a_native_precision_candidate_that_fails_verification_is_refused(golden, tmp_path, monkeypatch):
    """Forced with a reference whose boxes are off: both OpenVINO candidates are refused, each
    with its verification figures (on a CPU with AMX the native one runs bf16)."""
    spec = spec_of(golden)
    real = backends_build.reference_runner

    class OffReference:
        def __init__(self, runner) -> None:
            self.runner = runner

        def run(self, feed):
            out = self.runner.run(feed)
            return {k: v + 0.3 if k in ("pred_boxes", "reg") else v for k, v in out.items()}

    monkeypatch.setattr(backends_build, "reference_runner", lambda network: OffReference(real(network)))
    with pytest.raises(NoBackendError) as refused:
        build_runner(spec, "openvino", BackendOptions(engine_cache_dir=str(tmp_path)))
    text = str(refused.value)
    assert "openvino: refused, verification IoU" in text and "openvino-f32: refused, verification IoU" in text


def test_auto_on_a_cpu_times_every_verified_runtime_and_takes_the_fastest(golden, tmp_path, monkeypatch):
    if golden.model != "hit_tiny":
        pytest.skip("one family shows the race; the others go through the same selection")
    spec = spec_of(golden)
    real = backends_build._openvino

    class Slow:
        """OpenVINO, made slow: the race must not take it."""

        def __init__(self, runner) -> None:
            self.runner, self.backend = runner, runner.backend
            self.max_batch, self.input_device = runner.max_batch, None

        def run(self, feed):
            time.sleep(0.2)  # time is the behaviour: this stand-in is the slow runtime
            return self.runner.run(feed)

    monkeypatch.setattr(backends_build, "_openvino", lambda *a: Slow(real(*a)))
    selection = build_runner(spec, "auto", BackendOptions(engine_cache_dir=str(tmp_path)))
    report = selection.info()["backend_selection"]
    assert set(selection.timings_ms) >= {"openvino-f32", "onnxruntime", "torch"}, report
    # the native precision is timed where it is f32 or passes verification; a bf16 CPU (AVX-512
    # BF16 on Zen 4, AMX) fails it under these deterministic weights and is refused, not timed
    assert "openvino" in selection.timings_ms or "openvino: refused, verification IoU" in report, report
    assert selection.name in ("onnxruntime", "torch")
    assert selection.timings_ms[selection.name] == min(selection.timings_ms.values())
    assert selection.timings_ms["openvino-f32"] > 200
    assert f"{selection.name} is the fastest" in report and "openvino-f32 " in report and " ms" in report
    assert select.RACE_CALLS >= 3


def test_a_compiled_model_is_loaded_from_the_cache_the_second_time(golden, tmp_path):
    if golden.model != "hit_tiny":
        pytest.skip("one family shows the cache")
    options = BackendOptions(engine_cache_dir=str(tmp_path / "engines"))
    first = build_runner(spec_of(golden), "openvino-f32", options)
    second = build_runner(spec_of(golden), "openvino-f32", options)
    assert not first.runner.loaded_from_cache and first.info()["compiled_model"] == "compiled"
    assert second.runner.loaded_from_cache and second.info()["compiled_model"] == "loaded from the cache"
    assert list((tmp_path / "engines" / "openvino").iterdir()), "blobs in a folder per ONNX content"
