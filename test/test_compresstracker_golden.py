"""CompressTracker-2/3/4/6/8 against the authors' implementation (golden reference data)."""

from __future__ import annotations

import numpy as np
import torch
from golden import COMPRESSTRACKER_GOLDEN, golden_fixture, sequence, tracked_frames

from hit_tracker_ros import build_tracker
from hit_tracker_ros.core.windows import hann_stark
from hit_tracker_ros.models.ostrack import build_compresstracker
from hit_tracker_ros.trackers.compresstracker import COMPRESSTRACKER
from hit_tracker_ros.trackers.network import export_model, load_network

OUTPUTS = ("pred_boxes", "score_map", "size_map", "offset_map")


golden = golden_fixture(COMPRESSTRACKER_GOLDEN)


def test_layout_and_network_outputs(golden):
    variant, meta, npz, sd, checkpoint = golden
    net = build_compresstracker(variant)
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == [
        (k, s) for k, s, _ in meta["state_dict"]
    ]
    net = load_network(COMPRESSTRACKER, variant, checkpoint)
    with torch.no_grad():
        out = net(torch.from_numpy(npz["in__template"]), torch.from_numpy(npz["in__search"]))
    tol = meta["tolerances"]
    for name, ours in zip(OUTPUTS, out, strict=True):
        atol = tol["pred_boxes_atol"] if name == "pred_boxes" else tol["maps_atol"]
        np.testing.assert_allclose(ours.numpy(), npz[f"out__{name}"], atol=atol, rtol=0, err_msg=name)


def test_whole_tracker_reproduces_reference_boxes(golden):
    variant, meta, npz, _, checkpoint = golden
    seq = sequence()
    atol = meta["tolerances"]["tracker_boxes_atol_px"]
    tracker = build_tracker(variant, checkpoint=checkpoint, backend="torch")
    for prefix, forced in (("trk", False), ("tf", True)):
        frames = tracked_frames(variant, forced)
        tracker.initialize(seq["frames"][0], seq["init_box"])
        boxes, peaks = [], []
        for i in frames:
            if forced:
                tracker.set_state(seq["gt_boxes"][i - 1])
            boxes.append(tracker.track(seq["frames"][i]).box)
            out = tracker.last_outputs
            peaks.append(int(np.argmax(tracker.window * out["score_map"][0, 0])))
        np.testing.assert_array_equal(peaks, npz[f"{prefix}__peak_index"][np.array(frames) - 1])
        np.testing.assert_allclose(np.array(boxes), npz[f"{prefix}__boxes"][frames], atol=atol, rtol=0)


def test_onnx_runtime_matches_pytorch(golden, tmp_path):
    variant, _, _, _, checkpoint = golden
    _, diffs = export_model(COMPRESSTRACKER, variant, checkpoint, tmp_path / f"{variant}.onnx")
    assert max(diffs.values()) < 1e-4, diffs


def test_hann_window_and_teacher_keys(caplog):
    w = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, 5) / 5))
    np.testing.assert_allclose(hann_stark(4), np.outer(w, w), rtol=1e-6)
    from hit_tracker_ros.trackers.compresstracker import drop_teacher_keys

    with caplog.at_level("WARNING", logger="hit_tracker_ros.checkpoints"):
        kept = drop_teacher_keys({"backbone.blocks.0.attn.qkv.weight": 1, "backbone.norm.weight": 2})
    assert kept == {"backbone.norm.weight": 2} and "dropping 1 teacher keys" in caplog.text
