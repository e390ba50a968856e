"""Closed loop over real DDS: a simulated pan-tilt camera publishes images and camera_info to the
real tracker node (CSRT); the follow controller's gimbal rates turn the camera. The camera runs in
simulated time, in lock-step with the tracker (Simulator). The target must be centred within 3 s
of init and stay centred while it moves; commands must be zero while it is occluded (LOST) and
after stop. Writes the error-vs-time plot (README) to out/follow/."""

from __future__ import annotations

import math
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Vector3Stamped
from hit_tracker_ros.msg import TrackerStatus
from pan_tilt_sim import FX, FY, HEIGHT, WIDTH, K, PanTiltCamera
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import NodeProcess, RemoteTracker
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import SetBool

from hit_tracker_ros.ros.conversions import rgb_to_image, stamp_to_ns

pytestmark = pytest.mark.ros

OUT = Path(__file__).resolve().parents[1] / "out" / "follow"
START = (-0.30, -0.13)  # target azimuth (left +), elevation (up +): right of and below the view
INIT_AT, MOVE_AT, OCCLUDE_AT, REVEAL_AT, STOP_AT, END_AT = 1.0, 4.0, 9.0, 10.5, 11.5, 12.5  # simulated s
DT = 1 / 30  # the camera's frame period (simulated time)
ANSWER_WAIT_S = 2.0  # the longest the camera waits for the tracker's answer to a frame (wall time)
SCENARIO_TIMEOUT_S = 180.0  # wall time for the 12.5 simulated seconds (about 13 s when unloaded)
# Wall time, generous: a zero command's delivery, and the longest gap between commands (30 Hz).
# A fresh-clone run on the 2-core VM once saw 0.92 s without a command right before the status
# that ended the window (the processes starved together); a controller that stopped publishing
# or never zeroed still fails.
ZERO_WITHIN_S, MAX_GAP_S = 2.0, 2.0


def target_at(t: float) -> tuple[float, float]:
    """The target's path: still until MOVE_AT, then a slow loop (below 0.1 rad/s)."""
    s = max(t - MOVE_AT, 0.0)
    return START[0] + 0.18 * math.sin(0.35 * s), START[1] + 0.06 * math.sin(0.6 * s)


class Simulator:
    """The camera as a test-side node, in lock-step with the tracker: each frame is 1/30 s of
    simulated time after the one before (the camera turned meanwhile at the newest commanded
    rate), and is sent (at most 30 a second) once the tracker has answered the one before the
    newest. So a machine too loaded to track at 30 Hz slows the scenario down instead of moving the
    target further between the frames the tracker sees (the run judges the loop, not the machine's
    speed)."""

    def __init__(self, client, ns: str, rate_topic: str, tracker) -> None:
        self.camera = PanTiltCamera()
        self.node = client.node
        self.tracker = tracker
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, f"{ns}/image", qos)
        self.info_pub = self.node.create_publisher(CameraInfo, f"{ns}/camera_info", qos)
        self.rate = (0.0, 0.0)
        self.node.create_subscription(Vector3Stamped, rate_topic, self._on_rate, 10)
        self.lock = threading.Lock()
        # stamp, simulated time, truth box, time.time() when sent
        self.frames: list[tuple[int, float, np.ndarray, float]] = []
        self.sim_time = -DT
        self.timer = self.node.create_timer(DT, self._tick)

    def now(self) -> float:
        """The simulated time of the newest frame sent."""
        return max(self.sim_time, 0.0)

    def _on_rate(self, msg: Vector3Stamped) -> None:
        self.rate = (msg.vector.z, msg.vector.y)

    def _answered(self) -> bool:
        """Whether the tracker has answered the frame before the newest one, or the newest: two
        frames in flight, because the tracker holds a frame stamped off the timeline (over 1.5
        typical periods after the one before, as a late tick here makes it) until the next frame
        shows whether time jumped (core/stamp_policy.py). With one in flight, the camera waited
        ANSWER_WAIT_S for each held frame, and the 2 s gaps kept the next frames off the timeline
        until the median period adapted (seen: 9 frames in a row). After ANSWER_WAIT_S without an
        answer the frame is taken as lost (the first frames may go before the tracker subscribed)."""
        if len(self.frames) < 2:
            return True
        stamp, _, _, sent = self.frames[-2]
        if time.time() - sent > ANSWER_WAIT_S:
            return True
        newest = self.tracker.statuses()[-1:]
        return bool(newest) and stamp_to_ns(newest[0].header.stamp) >= stamp

    def _tick(self) -> None:
        if not self._answered():
            return
        if self.frames:
            self.camera.step(*self.rate, DT)
        self.sim_time += DT
        t = self.sim_time
        frame, box = self.camera.render(target_at(t), 0.12, OCCLUDE_AT <= t < REVEAL_AT)
        msg = rgb_to_image(frame, Image().header)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = "camera_optical"
        info = CameraInfo(header=msg.header, width=WIDTH, height=HEIGHT, distortion_model="plumb_bob")
        info.k = K.reshape(-1).tolist()
        info.d = [0.0] * 5
        info.p = [FX, 0.0, K[0, 2], 0.0, 0.0, FY, K[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
        self.info_pub.publish(info)
        self.image_pub.publish(msg)
        with self.lock:
            self.frames.append((stamp_to_ns(msg.header.stamp), t, box, time.time()))

    def stop(self) -> None:
        self.node.destroy_timer(self.timer)

    def statuses(self) -> list[tuple[float, TrackerStatus, float]]:
        """(simulated time of the image, status, arrival as time.time()) of every status the
        tracker published for a simulated frame."""
        to_sim = {stamp: t for stamp, t, _, _ in self.frames}
        received = zip(
            self.tracker.statuses(), self.tracker.client.arrivals[self.tracker.status_topic], strict=True
        )
        return [
            (to_sim[stamp_to_ns(s.header.stamp)], s, arrival / 1e9)
            for s, arrival in received
            if stamp_to_ns(s.header.stamp) in to_sim
        ]

    def sim_time_at(self, wall_s: float) -> float:
        """The simulated time of the newest frame sent by `wall_s` (time.time())."""
        sent = [f[3] for f in self.frames]
        i = int(np.searchsorted(sent, wall_s, side="right")) - 1
        return self.frames[max(i, 0)][1]

    def newest_frame_processed(self) -> tuple[int, np.ndarray] | None:
        """(stamp, truth box) of the newest frame from INIT_AT on that the tracker has answered
        with a status: an operator draws on a frame the tracker has, and on a loaded machine the
        last frames sent may still be in flight."""
        with self.lock:
            boxes = {stamp: box for stamp, t, box, _ in self.frames if t >= INIT_AT}
        answered = [stamp_to_ns(s.header.stamp) for s in self.tracker.statuses()]
        return next(((stamp, boxes[stamp]) for stamp in reversed(answered) if stamp in boxes), None)

    def init_target(self) -> None:
        """At INIT_AT, select the target on the newest frame the tracker has processed."""
        self.tracker.client.wait_until(self.newest_frame_processed, 60, "a processed frame after INIT_AT")
        stamp, box = self.newest_frame_processed()
        response = self.tracker.init(box, stamp, label="target")
        assert response.success, response.message


def test_closed_loop_centres_and_follows_the_target(client, tmp_path):
    ns = f"/loop{uuid.uuid4().hex[:6]}"
    tracker_proc = NodeProcess(ns, {"image_qos_reliability": "reliable"}, tmp_path)
    controller_proc = NodeProcess(
        ns,
        {"rate_hz": 30.0},
        tmp_path,
        "follow_controller",
        "follow_controller",
        remaps={"status": f"{ns}/hit_tracker/status"},
    )
    procs = [tracker_proc, controller_proc]
    try:
        tracker = RemoteTracker(tracker_proc, client)
        rate_topic = f"{controller_proc.name}/gimbal_rate"
        client.listen(rate_topic, Vector3Stamped)
        client.wait_for_publishers(rate_topic)
        sim = Simulator(client, ns, rate_topic, tracker)
        # the scenario runs in simulated time, as fast as the tracker answers: wait for its moments
        sim.init_target()
        init_time = sim.now()
        assert client.call(SetBool, f"{controller_proc.name}/enable", SetBool.Request(data=True)).success
        client.wait_until(lambda: sim.now() >= STOP_AT, SCENARIO_TIMEOUT_S, "the stop moment")
        assert tracker.stop().success
        stop_time = sim.now()
        client.wait_until(lambda: sim.now() >= END_AT, SCENARIO_TIMEOUT_S, "the end")
        sim.stop()
        alive = [p.alive() for p in procs]
    finally:
        for p in procs:
            p.stop()
    assert all(alive), "\n".join(p.log() for p in procs)

    statuses = sim.statuses()
    commands = list(zip(client.received(rate_topic), client.arrivals[rate_topic], strict=True))
    write_plot(statuses, commands, init_time, stop_time, sim)

    tracking = [(t, s) for t, s, _ in statuses if s.state == TrackerStatus.TRACKING]
    assert all(s.has_angles for _, s in tracking), "camera_info gives bearings"
    settled = [(t, s) for t, s in tracking if init_time + 3.0 <= t < OCCLUDE_AT]
    times = [init_time + 3.0] + [t for t, _ in settled] + [OCCLUDE_AT]
    assert max(np.diff(times)) < 0.5, "statuses all along the settled stretch (no gap over 0.5 s)"
    worst = max(max(abs(s.error_x), abs(s.error_y)) for _, s in settled)
    assert worst < 0.1, f"|error| up to {worst:.3f} after 3 s (while still and while moving)"
    assert any(abs(s.error_x) > 0.4 for t, s in tracking if t < init_time + 0.3), "it started off-centre"

    zeros = [(arrival / 1e9, c.vector.y == 0 and c.vector.z == 0) for c, arrival in commands]
    assert_zero_while_lost_and_after_stop(statuses, zeros, stop_time)


def assert_zero_while_lost_and_after_stop(
    statuses, zeros: list[tuple[float, bool]], stop_time: float
) -> None:
    """While the target is LOST and after stop, the commands (arrival, whether zero) go to zero
    and stay there (the controller publishes at 30 Hz)."""
    lost = [w for t, s, w in statuses if s.state == TrackerStatus.LOST and OCCLUDE_AT <= t < REVEAL_AT]
    assert lost, "the occluded target is reported LOST"
    idle = [w for t, s, w in statuses if s.state == TrackerStatus.IDLE and t >= stop_time]
    assert idle, "stop returns to IDLE"
    assert_zero_from_soon_after(zeros, lost[0], lost[-1], "LOST")
    assert_zero_from_soon_after(zeros, idle[0], idle[-1], "stopped")


def assert_zero_from_soon_after(
    commands: list[tuple[float, bool]], begin: float, end: float, what: str
) -> None:
    """`commands` (arrival, time.time(); whether zero) between `begin` and `end`, the arrivals of
    the first and last status of a state the gimbal must not move in: a zero command soon after
    `begin` (at the controller's next tick; ZERO_WITHIN_S allows for delivery under load), and from
    it on every command zero, with no gap over MAX_GAP_S (they keep coming)."""
    window = [(t, zero) for t, zero in commands if begin <= t <= end]
    first = next((i for i, (_, zero) in enumerate(window) if zero), None)
    assert first is not None and window[first][0] - begin < ZERO_WITHIN_S, f"a zero command soon after {what}"
    rest = window[first:]
    assert all(zero for _, zero in rest), f"every command zero while {what}"
    gaps = np.diff([t for t, _ in rest] + [end])
    assert max(gaps, default=0.0) < MAX_GAP_S, f"commands keep coming while {what}"


def write_plot(statuses, commands, init_time: float, stop_time: float, sim: Simulator) -> None:
    """Error vs time (TRACKING), LOST marks, and the commanded gimbal rates below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    t = np.array([s[0] for s in statuses])
    tracking = np.array([s[1].state == TrackerStatus.TRACKING for s in statuses])
    ex = np.where(tracking, [s[1].error_x for s in statuses], np.nan)
    ey = np.where(tracking, [s[1].error_y for s in statuses], np.nan)
    lost = np.array([s[1].state == TrackerStatus.LOST for s in statuses])
    ct = np.array([sim.sim_time_at(arrival / 1e9) for _, arrival in commands])  # arrival -> simulated time
    fig, (ax, ax_rate) = plt.subplots(2, 1, figsize=(8, 4.6), dpi=110, sharex=True, height_ratios=(2, 1))
    ax.axhspan(-0.1, 0.1, color="0.92", label="|error| < 0.1")
    ax.plot(t, ex, label="error x (right +)", color="tab:blue")
    ax.plot(t, ey, label="error y (down +)", color="tab:orange")
    ax.scatter(t[lost], np.full(lost.sum(), -0.6), s=6, color="tab:red", label="LOST")
    for x, text in ((init_time, "init"), (MOVE_AT, "moves"), (OCCLUDE_AT, "occluded"), (stop_time, "stop")):
        for axis in (ax, ax_rate):
            axis.axvline(x, color="0.4", lw=0.8, ls="--")
        ax.text(x + 0.05, 0.62, text, fontsize=8, color="0.3")
    ax.set(ylabel="normalized error", ylim=(-0.7, 0.7), xlim=(0, END_AT))
    ax.set_title("Closed loop: simulated pan-tilt camera, tracker (CSRT), follow controller", fontsize=9)
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    ax_rate.plot(ct, [c.vector.z for c, _ in commands], color="tab:blue", label="gimbal yaw rate (left +)")
    ax_rate.plot(
        ct, [c.vector.y for c, _ in commands], color="tab:orange", label="gimbal pitch rate (down +)"
    )
    ax_rate.set(xlabel="simulated time (s)", ylabel="rad/s")
    ax_rate.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(OUT / "closed_loop.png")
    plt.close(fig)
