"""What fuzzing the node found, as regressions over real DDS: decompression bombs, services that
waited for a decode, refused frames that ended a track, accepted boxes that never produced a
status, stamp outliers that cost a second of frames, and an unclean Ctrl-C."""

from __future__ import annotations

import itertools
import signal
import threading
import time

import cv2
import pytest
from hit_tracker_ros.msg import TrackerStatus
from hit_tracker_ros.srv import InitTarget
from malformed import jpeg_declaring, png_bomb, png_declaring
from ros_harness import NodeProcess, RemoteTracker, frame_stamp_ns, make_image, ns_to_time
from sensor_msgs.msg import CompressedImage
from std_srvs.srv import Trigger
from waiting import until

from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene

pytestmark = pytest.mark.ros

SCENE = SyntheticScene(SceneConfig(n_frames=2000))
SIZE = (SCENE.config.width, SCENE.config.height)
_index = itertools.count(1)

BOMBS = {
    "jpeg 30000x30000": jpeg_declaring(30000, 30000),
    "png 1-bit 30000x30000": png_bomb(30000, 30000),
    "jpeg SOF 65500x65500": jpeg_declaring(65500, 65500),
    "png IHDR 65535x65535": png_declaring(65535, 65535),
}


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def compressed(data: bytes, stamp_ns: int) -> CompressedImage:
    msg = CompressedImage(format="jpeg", data=data)
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = "camera"
    return msg


def good_jpeg(i: int) -> CompressedImage:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(SCENE.frame(i % len(SCENE)), cv2.COLOR_RGB2BGR))
    return compressed(jpeg.tobytes(), frame_stamp_ns(i))


@pytest.fixture(scope="module")
def tracker(start_shared_tracker):
    return start_shared_tracker(
        use_compressed=True, image_qos_reliability="reliable", image_qos_depth=50, diagnostics_period=0.2
    )


def start_track(t) -> tuple[int, str]:
    i = next(_index)
    t.send_and_wait(good_jpeg(i))
    response = t.init(SCENE.truth(i % len(SCENE)), frame_stamp_ns(i))
    assert response.success, response.message
    assert t.send_and_wait(good_jpeg(next(_index))).track_id == response.track_id
    return i, response.track_id


def test_bombs_are_refused_counted_and_leave_the_track_alone(tracker):
    _, track_id = start_track(tracker)
    rss_before = rss_mb(tracker.node.process.pid)
    rejected_before = int(tracker.diagnostics()["rejected_frames"])
    for n, data in enumerate(BOMBS.values(), start=1):  # one at a time: a newer frame would drop it
        tracker.publish_image(compressed(data, frame_stamp_ns(next(_index))))
        tracker.client.wait_until(
            lambda n=n: int(tracker.diagnostics()["rejected_frames"]) == rejected_before + n,
            20,
            f"bomb {n} to be refused",
        )
    assert "exceeds the pixel budget" in tracker.diagnostics()["last_error"]
    status = tracker.send_and_wait(good_jpeg(next(_index)))
    assert status.state == TrackerStatus.TRACKING and status.track_id == track_id
    assert rss_mb(tracker.node.process.pid) - rss_before < 50
    assert {(s.image_width, s.image_height) for s in tracker.statuses()} == {SIZE}
    tracker.stop()


def test_services_answer_at_once_while_bombs_arrive(tracker):
    """~/init on a bomb's stamp is refused from the header, and a ~/stop sent meanwhile is
    answered within 100 ms (it used to wait seconds for the init's decode)."""
    start_track(tracker)
    node = tracker.client.node
    init_client = node.create_client(InitTarget, f"{tracker.node.name}/init")
    stop_client = node.create_client(Trigger, f"{tracker.node.name}/stop")
    assert init_client.wait_for_service(timeout_sec=10) and stop_client.wait_for_service(timeout_sec=10)
    sent: list[int] = []
    done = threading.Event()

    def send_bombs() -> None:
        for data in itertools.cycle(BOMBS.values()):
            if done.is_set():
                return
            stamp = frame_stamp_ns(next(_index))
            tracker.client.publish(tracker.image_topic + "/compressed", compressed(data, stamp))
            sent.append(stamp)
            time.sleep(0.02)  # time is the behaviour: a 50 Hz stream of hostile frames

    sender = threading.Thread(target=send_bombs)
    sender.start()
    try:
        tracker.client.wait_until(lambda: len(sent) > 10, 10, "bombs on the way")
        stop_times, init_replies = [], []
        for _ in range(5):
            init_future = init_client.call_async(tracker.init_request(SCENE.truth(0), sent[-3]))
            start = time.monotonic()
            stop_future = stop_client.call_async(Trigger.Request())
            tracker.client.wait_until(stop_future.done, 10, "stop")
            stop_times.append(time.monotonic() - start)
            tracker.client.wait_until(init_future.done, 10, "init")
            init_replies.append(init_future.result())
    finally:
        done.set()
        sender.join()
    assert max(stop_times) < 0.1, f"stop answered after {max(stop_times) * 1e3:.0f} ms"
    for reply in init_replies:
        assert not reply.success and "exceeds the pixel budget" in reply.message, reply.message
    node.destroy_client(init_client)
    node.destroy_client(stop_client)


@pytest.mark.parametrize("box", [(0, 0, 2, 240), (150, 0, 2, 240), (0, 100, 320, 2), (10, 10, 300, 3)])
def test_boxes_the_tracker_cannot_track_are_refused(tracker, box):
    i = next(_index)
    tracker.send_and_wait(good_jpeg(i))
    response = tracker.init(box, frame_stamp_ns(i))
    assert not response.success and "too thin" in response.message, response.message


def test_a_thin_box_within_the_limit_is_tracked(tracker):
    i = next(_index)
    tracker.send_and_wait(good_jpeg(i))
    response = tracker.init((150, 0, 12, 240), frame_stamp_ns(i))
    assert response.success, response.message
    assert tracker.send_and_wait(good_jpeg(next(_index))).track_id == response.track_id
    tracker.stop()


@pytest.mark.parametrize("offset_s", [1.0, 0.3, -5.0])
def test_one_bad_stamp_costs_only_its_own_frame(tracker, offset_s):
    first, track_id = start_track(tracker)
    indices = [next(_index) for _ in range(40)]
    outlier = indices[10]
    for i in indices:
        msg = good_jpeg(i)
        if i == outlier:
            msg.header.stamp = ns_to_time(frame_stamp_ns(i) + int(offset_s * 1e9))
            tracker.publish_image(msg)
        else:
            status = tracker.send_and_wait(msg, timeout=5)
            assert status.track_id == track_id, status.message
    stamps = {s.header.stamp.sec * 10**9 + s.header.stamp.nanosec for s in tracker.statuses()}
    assert {frame_stamp_ns(i) for i in indices if i != outlier} <= stamps
    assert int(tracker.diagnostics()["stamp_outliers"]) >= 1
    tracker.stop()


def test_a_clock_reset_stops_the_track_and_processing_goes_on(tracker):
    _, track_id = start_track(tracker)
    base = frame_stamp_ns(next(_index)) - 100 * 10**9  # the camera restarts 100 s earlier
    tracker.publish_image(compressed(good_jpeg(0).data, base))
    status = tracker.send_and_wait(compressed(good_jpeg(1).data, base + 33_333_333))
    assert status.state == TrackerStatus.IDLE and "clock reset" in status.message
    assert tracker.wait_status(base).state == TrackerStatus.IDLE, "the first frame after the reset is kept"
    assert int(tracker.diagnostics()["clock_resets"]) == 1
    # the new timeline works as any other: init on it and track
    response = tracker.init(SCENE.truth(1), base + 33_333_333)
    assert response.success, response.message
    assert (
        tracker.send_and_wait(compressed(good_jpeg(2).data, base + 66_666_666)).track_id == response.track_id
    )
    # back to the test's timeline for the other tests (another reset)
    tracker.publish_image(good_jpeg(next(_index)))
    tracker.send_and_wait(good_jpeg(next(_index)))
    tracker.stop()


def test_ctrl_c_while_tracking_shuts_down_cleanly(client, tmp_path):
    """SIGINT while the worker is busy tracking and publishing: no error in the log, exit 0."""
    for attempt in range(3):
        node = NodeProcess(f"/sigint{attempt}", {"image_qos_reliability": "reliable"}, tmp_path)
        try:
            t = RemoteTracker(node, client)
            t.send_and_wait(make_image(SCENE.frame(0), frame_stamp_ns(0)))
            assert t.init(SCENE.truth(0), frame_stamp_ns(0)).success
            for i in range(1, 40):
                t.publish_image(make_image(SCENE.frame(i), frame_stamp_ns(i)))
                time.sleep(0.003)  # time is the behaviour: frames keep coming while Ctrl-C lands
                if i == 25 + attempt * 5:
                    node.process.send_signal(signal.SIGINT)
            assert node.wait_for_exit(timeout=15) == 0, node.log()
        finally:
            node.stop()
        log = node.log()
        for bad in ("Traceback", "RCLError", "failed", "ERROR"):
            assert bad not in log, log


def test_sigusr1_writes_every_threads_stack_into_the_log_and_the_node_keeps_running(client, tmp_path):
    """How a node that hangs tells where (the tests send it before killing a node that does not end)."""
    node = NodeProcess("/stacks", {"image_qos_reliability": "reliable"}, tmp_path)
    try:
        t = RemoteTracker(node, client)
        t.send_and_wait(make_image(SCENE.frame(0), frame_stamp_ns(0)))  # active, its worker running
        node.process.send_signal(signal.SIGUSR1)
        # the main thread's stack comes last, and shows node_main's spin
        until(lambda: "in spin_node" in node.log(), 30, "the main thread's stack in the node's log")
        assert "in _work" in node.log(), node.log()  # and the tracking worker's
        t.send_and_wait(make_image(SCENE.frame(1), frame_stamp_ns(1)))
        assert node.alive()
    finally:
        assert node.stop() == 0, node.log()

