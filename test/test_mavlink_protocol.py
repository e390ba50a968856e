"""MAVLink Camera Protocol v2 mapping without ROS or sockets: addressing, every command's
interpretation (DENIED for invalid parameters), boxes, the status mapping (LOST included), the
STATUSTEXT chunks and link URLs; property tests that no command can make interpretation fail."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hit_tracker_ros.mavlink import camera_protocol as protocol
from hit_tracker_ros.mavlink.camera_protocol import (
    Command,
    IntervalRequest,
    Reply,
    StopRequest,
    TrackRequest,
    TrackView,
    mav,
)
from hit_tracker_ros.mavlink.command_queue import CommandQueue
from hit_tracker_ros.mavlink.link import parse_url

ME = (1, 100)


def command_long(command: int, *params: float, target=ME):
    p = list(params) + [0.0] * (7 - len(params))
    return mav.MAVLink_command_long_message(target[0], target[1], command, 0, *p)


def interpret(command: int, *params: float):
    return protocol.interpret(
        Command(command, tuple(float(v) for v in (list(params) + [0] * 7)[:7]), (255, 190))
    )


@pytest.mark.parametrize(
    ("target", "camera_id", "ours"),
    [
        (ME, 0, True),
        ((0, 0), 0, True),
        ((1, 0), 100, True),
        ((2, 100), 0, False),
        ((1, 101), 0, False),
        ((1, 0), 101, False),
        ((1, 100), math.nan, True),
    ],
)
def test_only_commands_for_us_are_taken(target, camera_id, ours):
    msg = command_long(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, 0.1, 0.1, 0.2, 0.2, camera_id, target=target)
    assert (protocol.command_of(msg, *ME) is not None) == ours
    heartbeat = mav.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3)
    assert protocol.command_of(heartbeat, *ME) is None


def test_invalid_camera_ids_are_denied():
    reply = interpret(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, 0.1, 0.1, 0.2, 0.2, 0.5)
    assert reply.result == mav.MAV_RESULT_DENIED and "camera id" in reply.text
    assert interpret(mav.MAV_CMD_CAMERA_STOP_TRACKING, 300).result == mav.MAV_RESULT_DENIED


def test_command_int_is_read_like_command_long():
    msg = mav.MAVLink_command_int_message(
        1, 100, 0, mav.MAV_CMD_CAMERA_TRACK_POINT, 0, 0, 0.5, 0.4, 0.05, 0, 0, 0, 0
    )
    command = protocol.command_of(msg, *ME)
    assert command.params[:3] == pytest.approx((0.5, 0.4, 0.05)) and command.params[4] == 0.0


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ((math.nan, 0.1, 0.5, 0.5), "NaN or infinite"),
        ((0.1, math.inf, 0.5, 0.5), "NaN or infinite"),
        ((-0.1, 0.1, 0.5, 0.5), "in [0, 1]"),
        ((0.1, 0.1, 1.5, 0.5), "in [0, 1]"),
        ((0.5, 0.1, 0.2, 0.5), "swapped corners or zero area"),
        ((0.1, 0.5, 0.5, 0.2), "swapped corners or zero area"),
        ((0.3, 0.3, 0.3, 0.5), "swapped corners or zero area"),
    ],
)
def test_bad_rectangles_are_denied(params, reason):
    reply = interpret(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, *params)
    assert isinstance(reply, Reply) and reply.result == mav.MAV_RESULT_DENIED and reason in reply.text


def test_tracks_points_and_stops():
    rect = interpret(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, 0.25, 0.5, 0.75, 1.0)
    assert rect == TrackRequest(mav.CAMERA_TRACKING_MODE_RECTANGLE, rect=(0.25, 0.5, 0.75, 1.0))
    assert protocol.pixel_box(rect, (640, 480)) == [160, 240, 320, 240]
    point = interpret(mav.MAV_CMD_CAMERA_TRACK_POINT, 0.5, 0.5, 0.05)
    assert protocol.pixel_box(point, (640, 480)) == pytest.approx([288, 208, 64, 64]), (
        "radius: width fraction"
    )
    default = interpret(mav.MAV_CMD_CAMERA_TRACK_POINT, 0.5, 0.5, 0.0)
    assert protocol.pixel_box(default, (640, 480)) == [320, 240, 0, 0], "no radius: the tracker fits the box"
    for params in ((math.nan, 0.5, 0), (0.5, 1.2, 0), (0.5, 0.5, -0.1), (0.5, 0.5, math.inf)):
        assert interpret(mav.MAV_CMD_CAMERA_TRACK_POINT, *params).result == mav.MAV_RESULT_DENIED
    assert isinstance(interpret(mav.MAV_CMD_CAMERA_STOP_TRACKING), StopRequest)


def test_requests_and_message_intervals():
    info = mav.MAVLINK_MSG_ID_CAMERA_INFORMATION
    assert interpret(mav.MAV_CMD_REQUEST_MESSAGE, info) == Reply(
        mav.MAV_RESULT_ACCEPTED, then="camera_information"
    )
    assert interpret(mav.MAV_CMD_REQUEST_MESSAGE, 275).then == "tracking_status"
    assert interpret(mav.MAV_CMD_REQUEST_MESSAGE, 33).result == mav.MAV_RESULT_DENIED
    legacy = mav.MAV_CMD_REQUEST_CAMERA_INFORMATION
    assert interpret(legacy, 1).then == "camera_information" and interpret(legacy, 0).then == ""
    assert interpret(legacy, 2).result == mav.MAV_RESULT_DENIED
    interval = mav.MAV_CMD_SET_MESSAGE_INTERVAL
    assert interpret(interval, 275, 200_000) == IntervalRequest(0.2)
    assert interpret(interval, 275, 0) == IntervalRequest(None) and interpret(
        interval, 275, -1
    ) == IntervalRequest(0.0)
    assert interpret(interval, 30, 1000).result == mav.MAV_RESULT_DENIED
    assert interpret(interval, 275, math.nan).result == mav.MAV_RESULT_DENIED
    assert interpret(mav.MAV_CMD_DO_SET_MODE, 1).result == mav.MAV_RESULT_UNSUPPORTED


def test_status_mapping_names_lost_and_unreachable():
    idle = protocol.tracking_status(TrackView("IDLE"))
    assert idle["tracking_status"] == mav.CAMERA_TRACKING_STATUS_FLAGS_IDLE and math.isnan(idle["rec_top_x"])
    rect = (0.1, 0.2, 0.3, 0.6)
    tracking = protocol.tracking_status(TrackView("TRACKING", rect, mav.CAMERA_TRACKING_MODE_POINT))
    assert tracking["tracking_status"] == mav.CAMERA_TRACKING_STATUS_FLAGS_ACTIVE
    assert tracking["target_data"] == mav.CAMERA_TRACKING_TARGET_DATA_IN_STATUS
    assert (tracking["point_x"], tracking["point_y"], tracking["radius"]) == pytest.approx((0.2, 0.4, 0.1))
    lost = protocol.tracking_status(TrackView("LOST", rect))
    assert lost["tracking_status"] & mav.CAMERA_TRACKING_STATUS_FLAGS_ACTIVE
    assert lost["tracking_status"] & mav.CAMERA_TRACKING_STATUS_FLAGS_COASTING
    assert lost["target_data"] == 0 and math.isnan(lost["point_x"]), "a lost box must not be followed"
    assert (
        protocol.tracking_status(TrackView("UNREACHABLE"))["tracking_status"]
        == mav.CAMERA_TRACKING_STATUS_FLAGS_ERROR
    )


def test_statustext_chunks():
    assert protocol.statustext_chunks("short") == [(b"short", 0)]
    chunks = protocol.statustext_chunks("x" * 120)
    assert [len(t) for t, _ in chunks] == [50, 50, 20] and [s for _, s in chunks] == [0, 1, 2]
    assert [len(t) for t, _ in protocol.statustext_chunks("y" * 100)] == [50, 50, 0], (
        "ends with a short chunk"
    )
    assert protocol.statustext_chunks("z" * 50) == [(b"z" * 50, 0)], "one chunk: id 0, complete"
    assert protocol.fixed_bytes("abc", 5) == [97, 98, 99, 0, 0]


@pytest.mark.parametrize(
    ("url", "device", "baud"),
    [
        ("udpin:0.0.0.0:14550", "udpin:0.0.0.0:14550", None),
        ("udpout:10.0.0.2:14550", "udpout:10.0.0.2:14550", None),
        ("tcp:127.0.0.1:5760", "tcp:127.0.0.1:5760", None),
        ("/dev/ttyTHS1,921600", "/dev/ttyTHS1", 921600),
        ("/dev/ttyUSB0", "/dev/ttyUSB0", 57600),
    ],
)
def test_link_urls(url, device, baud):
    assert parse_url(url) == (device, baud)


@pytest.mark.parametrize("url", ["udp:foo", "udpin:14550", "/dev/tty,fast", "serial0", "http://x"])
def test_bad_link_urls_are_explained(url):
    with pytest.raises(ValueError, match="mavlink_url"):
        parse_url(url)


ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0, 0.5, 1.0, 275.0])
)


@settings(max_examples=400, deadline=None)
@given(
    command=st.one_of(st.sampled_from([2004, 2005, 2010, 511, 512, 521]), st.integers(0, 65535)),
    params=st.lists(ANY_FLOAT, min_size=7, max_size=7),
)
def test_no_command_can_break_interpretation(command, params):
    action = protocol.interpret(Command(command, tuple(params), (255, 190)))
    assert isinstance(action, (Reply, TrackRequest, StopRequest, IntervalRequest))
    if isinstance(action, TrackRequest):
        box = protocol.pixel_box(action, (640, 480))
        point = action.mode == mav.CAMERA_TRACKING_MODE_POINT and action.half_width == 0
        assert all(math.isfinite(v) for v in box) and (box[2] > 0 or point and box[2:] == [0, 0])
    if isinstance(action, Reply) and action.result != mav.MAV_RESULT_ACCEPTED:
        assert action.text or action.result == mav.MAV_RESULT_UNSUPPORTED


def test_ground_stations_routine_requests_get_truthful_answers_without_noise():
    """QGC and MAVSDK ask for settings, storage and capture status: ACCEPTED and a minimal truthful
    message; a message the camera does not provide is DENIED without a STATUSTEXT."""
    for message_id, name in (
        (mav.MAVLINK_MSG_ID_CAMERA_SETTINGS, "camera_settings"),
        (mav.MAVLINK_MSG_ID_STORAGE_INFORMATION, "storage_information"),
        (mav.MAVLINK_MSG_ID_CAMERA_CAPTURE_STATUS, "camera_capture_status"),
    ):
        reply = interpret(mav.MAV_CMD_REQUEST_MESSAGE, message_id)
        assert reply == Reply(mav.MAV_RESULT_ACCEPTED, then=name)
        fields = protocol.requested_fields(name, 1234)
        getattr(mav, f"MAVLink_{name}_message")(**fields)  # every field the message needs
    unknown = interpret(mav.MAV_CMD_REQUEST_MESSAGE, 999)
    assert unknown.result == mav.MAV_RESULT_DENIED and unknown.quiet


@pytest.mark.parametrize(
    ("interval_us", "valid"), [(-1, True), (0, True), (1, True), (-0.5, False), (-2, False)]
)
def test_message_intervals_are_minus_one_zero_or_positive(interval_us, valid):
    reply = interpret(mav.MAV_CMD_SET_MESSAGE_INTERVAL, 275, interval_us)
    assert isinstance(reply, IntervalRequest) == valid, reply


def test_a_command_to_us_for_another_camera_is_denied():
    to_us = command_long(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, 0.1, 0.1, 0.3, 0.3, 105)
    command = protocol.command_of(to_us, *ME)
    reply = protocol.interpret(command)
    assert reply.result == mav.MAV_RESULT_DENIED and "105" in reply.text
    broadcast = command_long(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, 0.1, 0.1, 0.3, 0.3, 105, target=(1, 0))
    assert protocol.command_of(broadcast, *ME) is None, "a broadcast for another camera is not ours"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_command_queue_replaces_refuses_stale_and_recognizes_retransmissions():
    clock = FakeClock()
    queue = CommandQueue(max_age_s=1.0, clock=clock)
    a = Command(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, (0.1, 0.1, 0.3, 0.3, 0, 0, 0), (255, 190))
    b = Command(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, (0.2, 0.2, 0.4, 0.4, 0, 0, 0), (255, 190))
    other = Command(mav.MAV_CMD_CAMERA_STOP_TRACKING, (0,) * 7, (254, 190))
    assert queue.put(a, "A") == []
    assert queue.put(other, "S") == []
    replaced = queue.put(b, "B")
    assert [q.command for q in replaced] == [a], "the sender's newer track replaces its queued one"
    clock.t = 0.5
    item, fresh = queue.take(0.1)
    assert item.action == "S" and fresh
    resent = Command(other.command, other.params, other.source, confirmation=1)
    assert queue.retransmission(resent) == ("in_progress", 0, ""), "running: IN_PROGRESS"
    queue.done(item, mav.MAV_RESULT_ACCEPTED, "")
    assert queue.retransmission(resent) == ("result", mav.MAV_RESULT_ACCEPTED, ""), "done: the same ACK"
    assert queue.retransmission(other) is None, "confirmation 0: a new command"
    clock.t = 1.5
    item, fresh = queue.take(0.1)
    assert item.action == "B" and not fresh, "queued over 1 s: refused when its turn comes"
    assert queue.take(0.01) is None
