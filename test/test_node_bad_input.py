"""Bad input: each case gets a clear error and the node keeps running (it processes the next
good frame). One node serves the module, so it must survive every case in turn."""

from __future__ import annotations

import itertools
import math

import cv2
import pytest
from hit_tracker_ros.msg import TrackerStatus
from hit_tracker_ros.srv import InitTarget
from lifecycle_msgs.msg import Transition
from rclpy.qos import QoSProfile
from ros_harness import frame_stamp_ns, make_bbox, make_image, ns_to_time
from sensor_msgs.msg import CompressedImage

from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene

pytestmark = pytest.mark.ros

SCENE = SyntheticScene(SceneConfig(n_frames=1000))
_frame_index = itertools.count(1)


@pytest.fixture(scope="module")
def tracker(start_shared_tracker):
    return start_shared_tracker(image_qos_reliability="reliable", frame_cache_size=5)


def next_image(**kw):
    i = next(_frame_index)
    return i, make_image(SCENE.frame(i % len(SCENE)), frame_stamp_ns(i), **kw)


def assert_still_running(t) -> TrackerStatus:
    """The node answers a good frame with a status."""
    assert t.node.alive(), t.node.log()
    _, msg = next_image()
    return t.send_and_wait(msg)


def assert_image_rejected(t, msg, expected: str) -> None:
    before = int(t.diagnostics()["rejected_frames"])
    t.publish_image(msg)
    t.client.wait_until(
        lambda: int(t.diagnostics()["rejected_frames"]) > before, 10, "the frame to be rejected"
    )
    diag = t.diagnostics()
    assert expected in diag["last_error"], diag["last_error"]
    assert_still_running(t)


def test_unknown_encoding(tracker):
    _, msg = next_image()
    msg.encoding = "32FC1"  # a depth image on the camera topic
    assert_image_rejected(tracker, msg, "unsupported image encoding '32FC1'")


def test_data_length_not_matching_height_times_step(tracker):
    _, msg = next_image()
    msg.data = bytes(msg.data)[:-7]
    assert_image_rejected(tracker, msg, "does not match height x step")


def test_step_smaller_than_width_times_channels(tracker):
    _, msg = next_image()
    msg.step = msg.width * 3 - 3
    msg.data = bytes(msg.step * msg.height)
    assert_image_rejected(tracker, msg, "step")


def test_zero_size_image(tracker):
    _, msg = next_image()
    msg.width = msg.height = msg.step = 0
    msg.data = b""
    assert_image_rejected(tracker, msg, "zero-size image")


@pytest.mark.parametrize(
    ("box", "theta", "expected"),
    [
        ((math.nan, 10, 20, 20), 0.0, "NaN or infinite"),
        ((10, 10, math.inf, 20), 0.0, "NaN or infinite"),
        ((10, 10, -20, 20), 0.0, "must be positive"),
        ((10, 10, 0, 5), 0.0, "must be positive"),  # zero width and height: a point (fitted)
        ((10, 10, 20, 20), 0.3, "rotated boxes are not supported"),
        ((1000, 900, 30, 30), 0.0, "outside"),
        ((-50, -50, 20, 20), 0.0, "outside"),
    ],
)
def test_invalid_boxes_are_refused(tracker, box, theta, expected):
    assert_still_running(tracker)
    response = tracker.init(box, theta=theta)
    assert not response.success and expected in response.message, response.message
    assert response.track_id == ""
    assert assert_still_running(tracker).state == TrackerStatus.IDLE


def test_partly_outside_box_is_clipped(tracker):
    assert_still_running(tracker)
    response = tracker.init((-10, -10, 40, 40))
    assert response.success and "clipped to [0.0, 0.0, 30.0, 30.0]" in response.message
    tracker.stop()


def test_init_stamp_older_than_frame_cache(tracker):
    for _ in range(6):
        assert_still_running(tracker)
    response = tracker.init((100, 100, 40, 30), stamp_ns=frame_stamp_ns(0))
    assert not response.success and "older than the frame cache" in response.message
    response = tracker.init((100, 100, 40, 30), stamp_ns=frame_stamp_ns(10**6))
    assert not response.success and "no cached frame" in response.message


def test_init_while_inactive(tracker):
    assert tracker.change_state(Transition.TRANSITION_DEACTIVATE)
    response = tracker.init((100, 100, 40, 30))
    assert not response.success and "not active (state: inactive)" in response.message
    assert tracker.change_state(Transition.TRANSITION_ACTIVATE)
    assert_still_running(tracker)


def test_burst_of_100_init_calls(tracker):
    i, msg = next_image()
    tracker.send_and_wait(msg)
    client = tracker.client.node.create_client(
        InitTarget, f"{tracker.node.name}/init", qos_profile=QoSProfile(depth=200)
    )
    assert client.wait_for_service(timeout_sec=10)
    futures = []
    for k in range(100):
        request = InitTarget.Request()
        request.header.stamp = ns_to_time(frame_stamp_ns(i))
        request.bbox = make_bbox(SCENE.truth(i % len(SCENE)) + [k % 3, 0, 0, 0])
        futures.append(client.call_async(request))
    tracker.client.wait_until(lambda: all(f.done() for f in futures), 30, "100 responses")
    responses = [f.result() for f in futures]
    assert all(r.success for r in responses)
    assert len({r.track_id for r in responses}) == 100
    status = assert_still_running(tracker)
    assert status.state == TrackerStatus.TRACKING
    assert status.track_id in {r.track_id for r in responses}
    tracker.client.node.destroy_client(client)
    tracker.stop()


def test_images_of_changing_size(tracker):
    i, msg = next_image()
    tracker.send_and_wait(msg)
    assert tracker.init(SCENE.truth(i % len(SCENE)), frame_stamp_ns(i)).success
    assert assert_still_running(tracker).state == TrackerStatus.TRACKING
    j = next(_frame_index)
    small = cv2.resize(SCENE.frame(j), (160, 120))
    status = tracker.send_and_wait(make_image(small, frame_stamp_ns(j)))
    assert status.state == TrackerStatus.IDLE and "size" in status.message
    assert (status.image_width, status.image_height) == (160, 120)
    assert tracker.init((40, 30, 20, 16)).success
    k = next(_frame_index)
    assert tracker.send_and_wait(
        make_image(cv2.resize(SCENE.frame(k), (160, 120)), frame_stamp_ns(k))
    ).track_id


def test_init_before_any_image(start_tracker):
    fresh = start_tracker()
    response = fresh.init((10, 10, 20, 20))
    assert not response.success and "no image received yet" in response.message


def test_undecodable_compressed_image(start_tracker):
    t = start_tracker(use_compressed=True, image_qos_reliability="reliable")
    msg = CompressedImage(format="jpeg", data=b"\xff\xd8 definitely not a jpeg")
    msg.header.stamp = ns_to_time(frame_stamp_ns(1))
    assert_image_rejected_compressed(t, msg)


def assert_image_rejected_compressed(t, msg) -> None:
    t.publish_image(msg)
    t.client.wait_until(lambda: int(t.diagnostics()["rejected_frames"]) >= 1, 10, "rejection")
    assert "could not decode compressed image" in t.diagnostics()["last_error"]
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(SCENE.frame(2), cv2.COLOR_RGB2BGR))
    good = CompressedImage(format="jpeg", data=jpeg.tobytes())
    good.header.stamp = ns_to_time(frame_stamp_ns(2))
    status = t.send_and_wait(good)
    assert (status.image_width, status.image_height) == (SCENE.config.width, SCENE.config.height)
    assert t.init(SCENE.truth(2), frame_stamp_ns(2)).success
