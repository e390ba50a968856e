"""E.T.Track against the authors' implementation (golden reference data): layout, network outputs
in both exact forms of the Exemplar Transformer, the whole tracker, ONNX Runtime at both search
sizes, and the SiamFC crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from golden import golden_fixture, load_variant, sequence

from hit_tracker_ros import build_tracker
from hit_tracker_ros.backends.build import torch_runner
from hit_tracker_ros.core.windows import hanning_siamfc
from hit_tracker_ros.models.ettrack import CachedTemplateFeatures, build_ettrack
from hit_tracker_ros.trackers.crop import python2_round, siamfc_subwindow
from hit_tracker_ros.trackers.ettrack import ETTRACK, score_weighted_boxes
from hit_tracker_ros.trackers.network import (
    export_model,
    load_network,
    network_spec,
    tensorrt_profile,
    verification_inputs,
)

MODES = ("dynamic", "exemplar_sum")


golden = golden_fixture(["ettrack"])


def _net(sd: dict, mode: str):
    net = build_ettrack().set_exemplar_mode(mode)
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)
    return net.eval()


@pytest.mark.parametrize("variant", ["ETTrack", "ETTrack_bncal"])
def test_layout_and_network_outputs_in_both_forms(variant):
    meta, npz, sd = load_variant(variant)
    assert [(k, list(v.shape)) for k, v in build_ettrack().state_dict().items()] == [
        (k, s) for k, s, _ in meta["state_dict"]
    ]
    tol = meta["tolerances"]
    template, search = torch.from_numpy(npz["in__template"]), torch.from_numpy(npz["in__search"])
    outputs = {}
    for mode in MODES:
        net = _net(sd, mode)
        with torch.no_grad():
            features = net.template_features(template)
            cls, reg = net.track(features, search)
        np.testing.assert_allclose(features.numpy(), npz["dbg__template_feat"], atol=tol["cls_atol"], rtol=0)
        np.testing.assert_allclose(cls.numpy(), npz["out__cls"], atol=tol["cls_atol"], rtol=0, err_msg=mode)
        np.testing.assert_allclose(reg.numpy(), npz["out__reg"], atol=tol["reg_atol"], rtol=0, err_msg=mode)
        outputs[mode] = (cls.numpy(), reg.numpy())
    # the linear rewrite (sum of per-exemplar convolutions) equals the mixed-kernel convolution
    for a, b in zip(outputs["dynamic"], outputs["exemplar_sum"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5 * max(1.0, float(np.abs(a).max())), rtol=0)


def test_whole_tracker_reproduces_reference_run(golden):
    _, meta, npz, _, checkpoint = golden
    seq = sequence()
    atol = meta["tolerances"]["tracker_boxes_atol_px"]
    for backend in ("torch", "onnxruntime"):
        tracker = build_tracker("ettrack", checkpoint=str(checkpoint), backend=backend)
        for prefix, forced in (("trk", False), ("tf", True)):
            tracker.initialize(seq["frames"][0], seq["init_box"])
            assert tracker.instance_size == 256
            boxes, maps = [seq["init_box"]], []
            for i in range(1, len(seq["frames"])):
                if forced:
                    tracker.set_state(seq["gt_boxes"][i - 1])
                boxes.append(tracker.track(seq["frames"][i]).box)
                maps.append(tracker.last_cls_score)
            np.testing.assert_allclose(np.array(boxes), npz[f"{prefix}__boxes"], atol=atol, rtol=0)
            np.testing.assert_allclose(np.array(maps), npz[f"{prefix}__cls_score"], atol=1e-5, rtol=0)
            if prefix == "trk":
                peaks = [m.max() for m in maps]
                np.testing.assert_allclose(peaks, npz["trk__scores"][1:], atol=1e-5, rtol=0)


def test_template_features_are_computed_once_per_track(golden):
    checkpoint = golden.checkpoint
    seq = sequence()
    tracker = build_tracker("ettrack", checkpoint=str(checkpoint), backend="torch")
    cached = tracker.runner.net
    assert isinstance(cached, CachedTemplateFeatures)
    tracker.initialize(seq["frames"][0], seq["init_box"])
    for frame in seq["frames"][1:6]:
        tracker.track(frame)
    assert cached.template_passes == 1
    plain = load_network(ETTRACK, "ettrack", checkpoint)
    feeds = {"template": tracker._template, "search": tracker.search_crop(seq["frames"][6])[0]}
    with torch.no_grad():
        expected = plain(*(torch.from_numpy(feeds[n]) for n in ETTRACK.inputs))
    ours = tracker.runner.run(feeds)
    # the same computation; the CPU kernels round the first call differently (~1e-7, amplified here)
    for name, ref in zip(ETTRACK.outputs, expected, strict=True):
        np.testing.assert_allclose(ours[name], ref.numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("static_weights", [False, True])
def test_onnx_runtime_matches_pytorch_at_both_search_sizes(golden, tmp_path, static_weights):
    from hit_tracker_ros.backends.onnx_runner import OnnxRunner

    checkpoint = golden.checkpoint
    path, diffs = export_model(ETTRACK, "ettrack", checkpoint, tmp_path / "et.onnx", static_weights)
    assert max(diffs.values()) < 1e-4, diffs
    net = load_network(ETTRACK, "ettrack", checkpoint)
    runner = OnnxRunner(path, ("CPUExecutionProvider",))
    rng = np.random.default_rng(3)
    template = rng.standard_normal((1, 3, 127, 127)).astype(np.float32)
    for size in (256, 288):
        search = rng.standard_normal((1, 3, size, size)).astype(np.float32)
        out = runner.run({"template": template, "search": search})
        with torch.no_grad():
            cls, reg = net(torch.from_numpy(template), torch.from_numpy(search))
        assert out["cls"].shape == (1, 1, size // 16, size // 16)
        assert np.abs(out["cls"] - cls.numpy()).max() < 1e-4
        assert np.abs(out["reg"] - reg.numpy()).max() < 1e-4


def test_small_targets_get_the_big_search_crop(golden):
    """A target under 0.4 % of the frame is searched in a 288 px crop (18 x 18 map)."""
    checkpoint = golden.checkpoint
    seq = sequence()
    tracker = build_tracker("ettrack", checkpoint=str(checkpoint), backend="onnxruntime")
    tracker.initialize(seq["frames"][0], [130, 50, 12, 12])  # 144 px^2 of 76800: 0.19 %
    assert tracker.instance_size == 288
    result = tracker.track(seq["frames"][1])
    assert tracker.last_outputs["cls"].shape == (1, 1, 18, 18)
    assert np.isfinite(result.box).all() and result.box[2] >= 10 and result.box[3] >= 10


def test_unsupported_options_are_refused(golden):
    checkpoint = golden.checkpoint
    with pytest.raises(ValueError, match="unknown option search_factor for model 'ettrack'.*fixed geometry"):
        build_tracker("ettrack", checkpoint=str(checkpoint), backend="torch", search_factor=4.0)


def test_verification_boxes_are_stable_on_flat_maps(golden):
    """Backend verification reads a score-weighted mean box (fractions of the crop): a change of
    1e-6 in cls that moves the argmax cell must not move the box."""
    checkpoint = golden.checkpoint
    runner = torch_runner(network_spec(ETTRACK, "ettrack", checkpoint))
    out = runner.run(verification_inputs(ETTRACK, "ettrack")[0])
    boxes = score_weighted_boxes(out)
    assert boxes.shape == (1, 4) and (0 < boxes).all() and (boxes < 1).all()
    cls = out["cls"].copy()
    second = np.argsort(cls.reshape(-1))[-2]
    cls.reshape(-1)[second] = cls.max() + 1e-6  # a different argmax cell
    assert np.argmax(cls) != np.argmax(out["cls"])
    np.testing.assert_allclose(score_weighted_boxes({**out, "cls": cls}), boxes, atol=1e-5)


def test_tensorrt_profile_spans_both_search_sizes():
    from hit_tracker_ros.trackers.hit import HIT

    low, opt, high = tensorrt_profile(ETTRACK, "ettrack")["search"]
    assert (low, opt, high) == ([1, 3, 256, 256], [1, 3, 256, 256], [1, 3, 288, 288])
    assert tensorrt_profile(HIT, "hit_tiny") == {}


def test_siamfc_crop_and_rounding():
    frame = np.full((20, 30, 3), 200, dtype=np.uint8)
    frame[:, :, 1] = 100
    # the pad value is the channel mean cast to uint8 (truncated), the corner Python-rounded
    crop = siamfc_subwindow(frame, (2.0, 3.0), 10, 10, np.array([7.9, 8.5, 9.99]))
    assert crop.shape == (10, 10, 3)
    np.testing.assert_array_equal(crop[0, 0], [7, 8, 9])
    np.testing.assert_array_equal(crop[9, 9], [200, 100, 200])
    # corner (round(-3.5), round(-2.5)) = (-4, -2) (halves to even): frame columns 0..5, rows 0..7
    assert int((crop[:, :, 0] == 7).sum()) == 10 * 10 - 6 * 8
    np.testing.assert_array_equal(crop[2:, 4:, 1], 100)
    # resized when the side differs from the model size; a crop fully outside is all padding
    assert siamfc_subwindow(frame, (500.0, 500.0), 8, 16, np.zeros(3)).max() == 0
    assert python2_round(2.5) == 3 and python2_round(-2.5) == -3 and python2_round(3.5) == 4
    assert python2_round(2.4) == 2
    window = hanning_siamfc(16)
    assert window.shape == (16, 16) and window[0, 0] == 0 and np.allclose(window, window.T)
