"""HiT against the authors' implementation (golden reference data): strict checkpoint loading,
network outputs, whole-tracker boxes; ONNX Runtime against PyTorch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from golden import HIT_GOLDEN, golden_fixture, golden_model, sequence, tracked_frames

from hit_tracker_ros import build_tracker
from hit_tracker_ros.models.hit import build_hit
from hit_tracker_ros.models.specs import HIT_OUTPUTS
from hit_tracker_ros.trackers.hit import HIT
from hit_tracker_ros.trackers.network import export_model, load_network

VARIANTS = list(HIT_GOLDEN)
ROOT = Path(__file__).resolve().parents[1]


golden = golden_fixture(VARIANTS)


def test_layout_equals_the_authors_checkpoint_and_loads_strictly(golden):
    variant, meta, npz, sd, _ = golden
    net = build_hit(variant)
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == [
        (k, s) for k, s, _ in meta["state_dict"]
    ]
    # attention-bias index buffers are rebuilt exactly as the authors build them
    for key, value in sd.items():
        if key.endswith("attention_bias_idxs"):
            assert torch.equal(net.state_dict()[key], torch.from_numpy(value)), key
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)


def test_network_outputs_match_the_reference(golden):
    variant, meta, npz, _, checkpoint = golden
    net = load_network(HIT, variant, checkpoint)
    with torch.no_grad():
        boxes, tl, br = net(torch.from_numpy(npz["in__search"]), torch.from_numpy(npz["in__template"]))
    atol = meta["tolerances"]["pred_boxes_atol"]
    np.testing.assert_allclose(boxes.numpy(), npz["out__pred_boxes"], atol=atol, rtol=0)
    for ours, key in ((tl, "dbg__score_map_tl"), (br, "dbg__score_map_br")):
        ref = npz[key]
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4 * max(1.0, np.abs(ref).max()), rtol=0)


def test_whole_tracker_reproduces_reference_boxes(golden):
    variant, meta, npz, _, checkpoint = golden
    seq = sequence()
    atol = meta["tolerances"]["tracker_boxes_atol_px"]
    frames = tracked_frames(variant)
    tracker = build_tracker(variant, checkpoint=checkpoint, backend="torch")
    tracker.initialize(seq["frames"][0], seq["init_box"])
    boxes = [tracker.track(seq["frames"][i]).box for i in frames]
    np.testing.assert_allclose(np.array(boxes), npz["trk__boxes"][frames], atol=atol, rtol=0)

    # teacher forced: the previous box is the drawn target box of the previous frame
    frames = tracked_frames(variant, teacher_forced=True)
    tracker.initialize(seq["frames"][0], seq["init_box"])
    forced = []
    for i in frames:
        tracker.set_state(seq["gt_boxes"][i - 1])
        forced.append(tracker.track(seq["frames"][i]).box)
    np.testing.assert_allclose(np.array(forced), npz["tf__boxes"][frames], atol=atol, rtol=0)


def test_onnx_runtime_matches_pytorch(golden, tmp_path):
    variant, meta, npz, _, checkpoint = golden
    path, diffs = export_model(HIT, variant, checkpoint, tmp_path / f"{variant}.onnx")
    assert set(diffs) == set(HIT_OUTPUTS)
    assert diffs["pred_boxes"] < 1e-4, diffs
    print(f"{variant}: ONNX Runtime vs PyTorch max abs diff {diffs}")
    seq = sequence()
    trackers = [
        build_tracker(variant, checkpoint=c, backend=b)
        for c, b in ((checkpoint, "torch"), (path, "onnxruntime"))
    ]
    assert trackers[1].backend == "onnxruntime"
    for t in trackers:
        t.initialize(seq["frames"][0], seq["init_box"])
    for frame in seq["frames"][1:6]:
        a, b = (t.track(frame) for t in trackers)
        np.testing.assert_allclose(a.box, b.box, atol=1e-2)
        assert abs(a.score - b.score) < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)")
def test_cuda_fp32_and_fp16_follow_cpu(golden):
    variant, meta, npz, _, checkpoint = golden
    seq = sequence()
    for fp16, atol in ((False, 0.05), (True, 2.0)):
        tracker = build_tracker(variant, checkpoint=checkpoint, backend="torch", device="cuda", fp16=fp16)
        tracker.initialize(seq["frames"][0], seq["init_box"])
        boxes = [seq["init_box"]] + [tracker.track(f).box for f in seq["frames"][1:]]
        np.testing.assert_allclose(np.array(boxes), npz["trk__boxes"], atol=atol, rtol=0)


def test_export_command_writes_into_models_and_reports_the_difference(tmp_path):
    checkpoint = golden_model("hit_tiny", tmp_path).checkpoint
    command = ["-m", "hit_tracker_ros.tools.export", "--model", "hit_tiny", "--checkpoint", str(checkpoint)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, *command], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    onnx = tmp_path / "models" / "HiT_Tiny.pth.tar.hit_tiny.onnx"
    assert onnx.exists() and onnx.with_suffix(".json").exists()
    line = next(x for x in out.stdout.splitlines() if "pred_boxes" in x)
    assert "max |ONNX Runtime - PyTorch| pred_boxes" in line and float(line.split()[-1]) < 1e-4
