"""The node running MixFormerV2-S, CompressTracker-2, E.T.Track and AsymTrack-T (golden weights, authors'
checkpoint format) over real DDS: its boxes are the reference tracker's boxes."""

from __future__ import annotations

import numpy as np
import pytest
from golden import load_variant, save_authors_checkpoint, sequence
from hit_tracker_ros.msg import TrackerStatus
from ros_harness import frame_stamp_ns, make_image, status_box

pytestmark = pytest.mark.ros


@pytest.mark.parametrize(
    ("model", "golden", "backend"),
    [
        ("mixformerv2_s", "MixFormerV2_S", "torch"),
        ("compresstracker_2", "CompressTracker_2", "onnxruntime"),
        ("ettrack", "ETTrack", "onnxruntime"),
        ("asymtrack_tiny", "AsymTrack_T", "onnxruntime"),  # two ONNX graphs
    ],
)
def test_node_runs_family(start_tracker, tmp_path_factory, model, golden, backend):
    _, npz, sd = load_variant(golden)
    checkpoint = save_authors_checkpoint(sd, tmp_path_factory.mktemp(model) / f"{model}.pth.tar")
    seq = sequence()
    frames = seq["frames"]
    t = start_tracker(model=model, checkpoint=str(checkpoint), backend=backend, score_threshold=0.0,
                      image_qos_reliability="reliable")  # fmt: skip
    t.send_and_wait(make_image(frames[0], frame_stamp_ns(0)))
    assert t.init(seq["init_box"], frame_stamp_ns(0)).success
    statuses = [t.send_and_wait(make_image(frames[i], frame_stamp_ns(i))) for i in range(1, len(frames))]
    assert all(s.state == TrackerStatus.TRACKING and s.model == model for s in statuses)
    assert {s.backend for s in statuses} == {backend}
    np.testing.assert_allclose(
        np.array([status_box(s) for s in statuses]), npz["trk__boxes"][1:], atol=0.05 + 1e-3
    )
    if model.startswith("mixformer"):  # the status score is the score head's sigmoid
        np.testing.assert_allclose([s.score for s in statuses], npz["trk__scores"][1:], atol=1e-4)
