"""The tracker node's operator-side inputs over real DDS: bearings from camera_info, detector
hand-off arrays with their policies, re-acquisition of a LOST track, clicks, and the LOST policy."""

from __future__ import annotations

import itertools
import math

import pytest
from geometry_msgs.msg import PointStamped
from hit_tracker_ros.msg import TrackerStatus
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import frame_stamp_ns, make_bbox, make_image, ns_to_time, status_box
from sensor_msgs.msg import CameraInfo
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from hit_tracker_ros.core.bearing import CameraModel
from hit_tracker_ros.core.boxes import iou
from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene

pytestmark = pytest.mark.ros

SCENE = SyntheticScene()
EMPTY = SyntheticScene(SceneConfig(target_size=(2, 2)))  # the target is (nearly) gone
K = [300.0, 0.0, 160.0, 0.0, 300.0, 120.0, 0.0, 0.0, 1.0]
D = [-0.2, 0.05, 0.0, 0.0, 0.0]
_index = itertools.count(1)


def camera_info(k=K, d=D, width=320, height=240) -> CameraInfo:
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.k, msg.d = [float(v) for v in k], [float(v) for v in d]
    msg.p = [float(v) for v in k[:3]] + [0.0] + [float(v) for v in k[3:6]] + [0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def detection(box, label: str, score: float) -> Detection2D:
    det = Detection2D(bbox=make_bbox(box))
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = label, score
    det.results = [hypothesis]
    return det


@pytest.fixture(scope="module")
def tracker(start_shared_tracker):
    return start_shared_tracker(image_qos_reliability="reliable", diagnostics_period=0.2)


def frame(t, scene=SCENE, scene_index: int | None = None) -> tuple[int, TrackerStatus]:
    i = next(_index)
    shown = i % len(scene) if scene_index is None else scene_index
    return i, t.send_and_wait(make_image(scene.frame(shown), frame_stamp_ns(i)))


def publish(t, topic: str, msg) -> None:
    full = f"{t.node.name}/{topic}" if not topic.startswith("/") else topic
    if t.client.advertise(full, type(msg)):
        t.client.wait_for_subscribers(full)
    t.client.publish(full, msg)


def set_parameter(t, name: str, value) -> bool:
    kinds = {
        float: ("double_value", ParameterType.PARAMETER_DOUBLE),
        int: ("integer_value", ParameterType.PARAMETER_INTEGER),
        str: ("string_value", ParameterType.PARAMETER_STRING),
    }
    field, kind = kinds[type(value)]
    request = SetParameters.Request()
    parameter_value = ParameterValue(type=kind)
    setattr(parameter_value, field, value)
    request.parameters = [Parameter(name=name, value=parameter_value)]
    return t.client.call(SetParameters, f"{t.node.name}/set_parameters", request).results[0].successful


def test_bearings_follow_camera_info_and_zoom(tracker):
    publish(tracker, f"{tracker.ns}/camera_info", camera_info())
    i, _ = frame(tracker)
    while abs(SCENE.truth((i + 1) % len(SCENE))[0] + 20 - 160) < 60:  # off-centre, where lenses bend
        i, _ = frame(tracker)
    assert tracker.init(SCENE.truth(i % len(SCENE)), frame_stamp_ns(i)).success
    _, status = frame(tracker)
    assert status.has_angles
    x, y, w, h = status_box(status)
    expected = CameraModel.from_camera_info(320, 240, K, D, "plumb_bob").bearing(x + w / 2, y + h / 2)
    assert (status.angle_x, status.angle_y) == pytest.approx(expected, abs=1e-5)
    assert math.copysign(1, status.angle_x) == math.copysign(1, status.error_x), "REP-103: +x right"
    zoomed = list(K)
    zoomed[0] = zoomed[4] = 900.0
    publish(tracker, f"{tracker.ns}/camera_info", camera_info(k=zoomed))
    tracker.client.wait_until(lambda: "ok" in tracker.diagnostics()["camera_info"], 10, "camera_info")
    _, after = frame(tracker)
    assert abs(after.angle_x) < abs(status.angle_x) / 2, "zoomed in: the same pixels are a smaller angle"
    tracker.stop()


@pytest.mark.parametrize(
    ("info", "diagnostic"),
    [
        (camera_info(k=[0.0] * 9), "invalid: camera_info has no valid focal length"),
        (camera_info(width=640, height=480), "but images are 320x240"),
    ],
    ids=["zeros", "other-size"],
)
def test_unusable_camera_info_gives_no_angles(tracker, info, diagnostic):
    publish(tracker, f"{tracker.ns}/camera_info", info)
    i, _ = frame(tracker)
    assert tracker.init(SCENE.truth(i % len(SCENE)), frame_stamp_ns(i)).success
    _, status = frame(tracker)
    assert status.state == TrackerStatus.TRACKING and not status.has_angles
    tracker.client.wait_until(lambda: diagnostic in tracker.diagnostics()["camera_info"], 10, diagnostic)
    tracker.stop()
    publish(tracker, f"{tracker.ns}/camera_info", camera_info())


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("best_score", "best"), ("nearest_center", "centre"), ("label:target", "target")],
)
def test_init_detections_picks_by_policy(tracker, policy, expected):
    assert set_parameter(tracker, "handoff_policy", policy)
    i, _ = frame(tracker)
    truth = SCENE.truth(i % len(SCENE))
    boxes = {"best": (5, 5, 30, 30), "centre": (150, 110, 24, 24), "target": truth}
    array = Detection2DArray(
        detections=[
            detection(boxes["best"], "rock", 0.99),
            detection(boxes["centre"], "bush", 0.5),
            detection(boxes["target"], "target", 0.4),
        ]
    )
    array.header.stamp = ns_to_time(frame_stamp_ns(i))
    before = int(tracker.diagnostics()["init_accepted"])
    publish(tracker, "init_detections", array)
    tracker.client.wait_until(lambda: int(tracker.diagnostics()["init_accepted"]) > before, 10, "hand-off")
    _, status = frame(tracker)
    assert status.state != TrackerStatus.IDLE, status.message
    others = [name for name in boxes if name != expected]
    assert all(
        iou(status_box(status), boxes[name]) < iou(status_box(status), boxes[expected]) for name in others
    )
    tracker.stop()


def test_empty_and_useless_arrays_are_refused_and_tracking_ignores_arrays(tracker):
    assert set_parameter(tracker, "handoff_policy", "label:zebra")
    i, _ = frame(tracker)
    before = int(tracker.diagnostics()["init_rejected"])
    empty = Detection2DArray()
    empty.header.stamp = ns_to_time(frame_stamp_ns(i))
    publish(tracker, "init_detections", empty)
    tracker.client.wait_until(
        lambda: "empty Detection2DArray" in tracker.diagnostics()["last_error"], 10, "refusal"
    )
    array = Detection2DArray(detections=[detection((10, 10, 20, 20), "horse", 0.9)])
    array.header.stamp = ns_to_time(frame_stamp_ns(i))
    publish(tracker, "init_detections", array)
    tracker.client.wait_until(
        lambda: "no detection qualifies" in tracker.diagnostics()["last_error"], 10, "refusal"
    )
    assert int(tracker.diagnostics()["init_rejected"]) == before + 2
    assert not set_parameter(tracker, "handoff_policy", "closest"), "invalid policies are refused"
    assert set_parameter(tracker, "handoff_policy", "best_score")
    assert tracker.init(SCENE.truth(i % len(SCENE)), frame_stamp_ns(i), label="car").success
    _, status = frame(tracker)
    elsewhere = far_from(status_box(status))
    array.detections = [detection(elsewhere, "car", 0.99)]
    publish(tracker, "init_detections", array)
    tracker.client.wait_until(
        lambda: int(tracker.diagnostics()["handoff_ignored_while_tracking"]) >= 1, 10, "ignored"
    )
    _, after = frame(tracker)
    assert after.track_id == status.track_id and iou(status_box(after), elsewhere) == 0
    tracker.stop()


def far_from(box) -> tuple[int, int, int, int]:
    """A 30 px box in the image corner farthest from `box` (the target moves through the scene:
    a fixed box overlapped it at some frames)."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    w, h = SCENE.config.width, SCENE.config.height
    corners = [(5, 5), (w - 35, 5), (5, h - 35), (w - 35, h - 35)]
    x, y = max(corners, key=lambda c: math.hypot(c[0] + 15 - cx, c[1] + 15 - cy))
    return x, y, 30, 30


def test_a_lost_track_is_reacquired_by_a_detection_of_its_label(tracker):
    i, _ = frame(tracker)
    response = tracker.init(SCENE.truth(i % len(SCENE)), frame_stamp_ns(i), label="car")
    assert response.success
    status = None
    for _ in range(40):  # the target vanishes: LOST
        _, status = frame(tracker, EMPTY)
        if status.state == TrackerStatus.LOST:
            break
    assert status.state == TrackerStatus.LOST
    # it reappears far from where the tracker lost it, and a detector finds it
    far = max(range(len(SCENE)), key=lambda m: abs(SCENE.truth(m)[0] - status_box(status)[0]))
    j, status = frame(tracker, SCENE, far)
    assert status.state == TrackerStatus.LOST
    array = Detection2DArray(
        detections=[detection((5, 5, 20, 20), "dog", 0.99), detection(SCENE.truth(far), "car", 0.3)]
    )
    array.header.stamp = ns_to_time(frame_stamp_ns(j))
    publish(tracker, "init_detections", array)
    tracker.client.wait_until(
        lambda: int(tracker.diagnostics()["reacquired_by_detector"]) >= 1, 10, "re-acquire"
    )
    _, after = frame(tracker, SCENE, far + 1)
    assert after.track_id == response.track_id and after.message == "re-acquired by detector"
    assert after.state == TrackerStatus.TRACKING and iou(status_box(after), SCENE.truth(far + 1)) > 0.5
    tracker.stop()


def test_clicks_start_tracks_and_clicks_outside_are_refused(tracker):
    """A click (and an InitTarget with a box of zero size) starts a track on the box of the object
    under it, not on the point_box_size square (here 100 px around a 40x32 target)."""
    assert set_parameter(tracker, "point_box_size", 100.0)
    i, _ = frame(tracker)
    x, y, w, h = SCENE.truth(i % len(SCENE))
    click = PointStamped()
    click.header.stamp = ns_to_time(frame_stamp_ns(i))
    click.point.x, click.point.y = x + w / 2, y + h / 2
    before = int(tracker.diagnostics()["init_accepted"])
    publish(tracker, "init_point", click)
    tracker.client.wait_until(lambda: int(tracker.diagnostics()["init_accepted"]) > before, 10, "click")
    j, status = frame(tracker)
    assert status.state == TrackerStatus.TRACKING
    assert iou(status_box(status), SCENE.truth(j % len(SCENE))) > 0.6, status_box(status)
    i, _ = frame(tracker)
    x, y, w, h = SCENE.truth(i % len(SCENE))
    answer = tracker.init([x + w / 2, y + h / 2, 0.0, 0.0], frame_stamp_ns(i))
    assert answer.success and "fitted" in answer.message, answer.message
    j, status = frame(tracker)
    assert status.track_id == answer.track_id
    assert iou(status_box(status), SCENE.truth(j % len(SCENE))) > 0.6, status_box(status)
    click.point.x = 400.0
    publish(tracker, "init_point", click)
    tracker.client.wait_until(
        lambda: "outside the 320x240 image" in tracker.diagnostics()["last_error"], 10, "refusal"
    )
    assert frame(tracker)[1].track_id == status.track_id, "the running track is untouched"
    tracker.stop()


def test_max_lost_frames_and_thresholds_at_run_time(tracker):
    assert not set_parameter(tracker, "lost_threshold", 1.5)
    assert not set_parameter(tracker, "max_lost_frames", -1)
    assert set_parameter(tracker, "max_lost_frames", 3)
    i, _ = frame(tracker)
    assert tracker.init(SCENE.truth(i % len(SCENE)), frame_stamp_ns(i)).success
    states = [frame(tracker, EMPTY)[1] for _ in range(30)]
    ended = [s for s in states if s.state == TrackerStatus.IDLE]
    assert ended and "lost for 3 frames" in ended[0].message
    assert set_parameter(tracker, "max_lost_frames", 0)
