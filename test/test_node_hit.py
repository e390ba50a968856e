"""The node running HiT (golden weights in an authors'-format checkpoint) through both backends over
real DDS: its Detection2D/status boxes are the reference tracker's boxes; a confidence below the
threshold yields LOST."""

from __future__ import annotations

import re

import numpy as np
import pytest
from golden import golden_model, sequence
from hit_tracker_ros.msg import TrackerStatus
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import frame_stamp_ns, make_image, status_box

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def tiny_checkpoint():
    golden = golden_model("hit_tiny")
    return golden.checkpoint, golden.npz


def set_threshold(t, value: float) -> None:
    request = SetParameters.Request()
    request.parameters = [
        Parameter(
            name="score_threshold",
            value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value),
        )
    ]
    response = t.client.call(SetParameters, f"{t.node.name}/set_parameters", request)
    assert response.results[0].successful, response.results[0].reason


@pytest.mark.parametrize(("backend", "reported"), [("torch", "torch"), ("onnxruntime", "onnxruntime")])
def test_node_runs_hit(start_tracker, tiny_checkpoint, backend, reported):
    checkpoint, npz = tiny_checkpoint
    seq = sequence()
    frames = seq["frames"]
    t = start_tracker(
        model="hit_tiny",
        checkpoint=str(checkpoint),
        backend=backend,
        score_threshold=0.0,
        image_qos_reliability="reliable",
    )
    t.send_and_wait(make_image(frames[0], frame_stamp_ns(0)))
    response = t.init(seq["init_box"], frame_stamp_ns(0), label="hit")
    assert response.success, response.message
    statuses = [t.send_and_wait(make_image(frames[i], frame_stamp_ns(i))) for i in range(1, len(frames))]
    assert all(s.state == TrackerStatus.TRACKING for s in statuses)
    assert {s.model for s in statuses} == {"hit_tiny"} and {s.backend for s in statuses} == {reported}
    boxes = np.array([status_box(s) for s in statuses])
    # the node's boxes are the authors' tracker's boxes (float32 message fields: 1e-3 px)
    np.testing.assert_allclose(boxes, npz["trk__boxes"][1:], atol=0.05 + 1e-3)
    detections = t.client.received(t.detection_topic)
    assert len(detections) == len(statuses) and detections[-1].id == response.track_id
    assert 0.0 < statuses[-1].score <= 1.0

    diag = t.diagnostics(timeout=15)  # the CPU thread policy in force, and why (issue 25)
    assert "idle workers passive" in diag["cpu_threads"] and "GOMP_SPINCOUNT=1000" in diag["cpu_threads"]
    assert re.match(r"\d+ \((from the affinity|from the cgroup|OMP_NUM_THREADS)", diag["cpu_threads"])

    set_threshold(t, 1.0)  # no real confidence reaches 1: every frame is LOST now
    lost = t.send_and_wait(make_image(frames[5], frame_stamp_ns(len(frames))))
    assert lost.state == TrackerStatus.LOST and lost.score < 1.0
    assert len(t.client.received(t.detection_topic)) == len(detections), "no Detection2D while LOST"


def test_missing_checkpoint_is_reported_and_node_stays_up(start_tracker, tmp_path):
    t = start_tracker(model="hit_tiny", checkpoint=str(tmp_path / "HiT_Tiny.pth.tar"), wait_for_outputs=False)
    diag = t.diagnostics(timeout=15)
    assert diag["_level"] == "2" and "github.com/kangben258/HiT" in diag["_message"], diag
    assert diag["lifecycle_state"] == "unconfigured"
    response = t.init((10, 10, 20, 20))
    assert not response.success and "not active" in response.message
