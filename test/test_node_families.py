"""The node running MixFormerV2-S, CompressTracker-2, E.T.Track and AsymTrack-T (golden weights, authors'
checkpoint format) over real DDS: its boxes are the reference tracker's boxes."""

from __future__ import annotations

import numpy as np
import pytest
from golden import golden_model, sequence
from hit_tracker_ros.msg import TrackerStatus
from ros_harness import frame_stamp_ns, make_image, status_box

pytestmark = pytest.mark.ros


@pytest.mark.parametrize(
    ("model", "backend"),
    [
        ("mixformerv2_s", "torch"),
        ("compresstracker_2", "onnxruntime"),
        ("ettrack", "onnxruntime"),
        ("asymtrack_tiny", "onnxruntime"),  # two ONNX graphs
    ],
)
def test_node_runs_family(start_tracker, model, backend):
    golden = golden_model(model)  # the authors' checkpoint format (E.T.Track's own for E.T.Track)
    npz, checkpoint = golden.npz, golden.checkpoint
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
