"""Gimbal control over MAVLink without MAVROS: the bridge sends the follow controller's gimbal rates
to the autopilot's gimbal manager as GIMBAL_MANAGER_SET_PITCHYAW (rates, NaN angles, MAVLink's
signs: pitch positive up, yaw positive right). Closed loop over real DDS and UDP: the simulated
pan-tilt camera of test_follow_closed_loop turns only by the MAVLink commands a stand-in gimbal
manager receives. The target is centred, and the rates are zero while the target is LOST, after
stop, and when the controller falls silent (stale)."""

from __future__ import annotations

import math
import threading
import time
import uuid

import numpy as np
import pytest
from geometry_msgs.msg import Vector3Stamped
from hit_tracker_ros.msg import TrackerStatus
from pymavlink import mavutil
from ros_harness import NodeProcess, RemoteTracker, free_udp_port
from std_srvs.srv import SetBool
from test_follow_closed_loop import (
    END_AT,
    OCCLUDE_AT,
    SCENARIO_TIMEOUT_S,
    STOP_AT,
    Simulator,
    assert_zero_while_lost_and_after_stop,
)
from waiting import until

from hit_tracker_ros.mavlink.camera_protocol import mav

pytestmark = pytest.mark.ros


class GimbalManager:
    """The autopilot's gimbal manager (system 1, component 1) as the link sees it: it obeys
    GIMBAL_MANAGER_SET_PITCHYAW addressed to it and records every one (arrival as time.time(),
    pitch rate, yaw rate)."""

    def __init__(self, port: int, on_rates=None) -> None:
        self.conn = mavutil.mavlink_connection(
            f"udpin:127.0.0.1:{port}", source_system=1, source_component=1, dialect="common"
        )
        self.on_rates = on_rates or (lambda pitch_up, yaw_right: None)
        self.commands: list[tuple[float, float, float]] = []
        self.bad: list = []  # commands that break the contract (angles, wrong address)
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        last_beat = 0.0
        while self._running:
            if time.monotonic() - last_beat > 1.0:
                self.conn.mav.heartbeat_send(
                    mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, mav.MAV_STATE_ACTIVE
                )
                last_beat = time.monotonic()
            msg = self.conn.recv_match(type="GIMBAL_MANAGER_SET_PITCHYAW", blocking=True, timeout=0.1)
            if msg is None:
                continue
            if (msg.target_system, msg.target_component, msg.gimbal_device_id) != (1, 1, 0) or not (
                math.isnan(msg.pitch) and math.isnan(msg.yaw)
            ):
                self.bad.append(msg)
                continue
            self.commands.append((time.time(), msg.pitch_rate, msg.yaw_rate))
            self.on_rates(msg.pitch_rate, msg.yaw_rate)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.conn.close()


def test_gimbal_over_mavlink_centres_the_target_and_fails_to_zero(client, tmp_path):
    ns = f"/gim{uuid.uuid4().hex[:6]}"
    port = free_udp_port()
    tracker_proc = NodeProcess(ns, {"image_qos_reliability": "reliable"}, tmp_path)
    controller = NodeProcess(
        ns,
        {"rate_hz": 30.0},
        tmp_path,
        "follow_controller",
        "follow_controller",
        remaps={"status": f"{ns}/hit_tracker/status"},
    )
    bridge = NodeProcess(
        ns,
        {
            "mavlink_url": f"udpout:127.0.0.1:{port}",
            "tracker": f"{ns}/hit_tracker",
            "gimbal_output": "mavlink",
            "gimbal_rate_topic": f"{controller.name}/gimbal_rate",
        },
        tmp_path,
        "mavlink_bridge",
        "mavlink_bridge",
    )
    procs = [tracker_proc, controller, bridge]
    sim = None
    try:
        tracker = RemoteTracker(tracker_proc, client)
        sim = Simulator(client, ns, f"{ns}/unused_rate_topic", tracker)  # turned only by MAVLink below

        def obey(pitch_up: float, yaw_right: float) -> None:
            sim.rate = (-yaw_right, -pitch_up)  # MAVLink's signs -> REP-103 (yaw left +, pitch down +)

        gimbal = GimbalManager(port, obey)
        sim.init_target()
        init_time = sim.now()
        assert client.call(SetBool, f"{controller.name}/enable", SetBool.Request(data=True)).success
        client.wait_until(lambda: sim.now() >= STOP_AT, SCENARIO_TIMEOUT_S, "the stop moment")
        assert tracker.stop().success
        stop_time = sim.now()
        client.wait_until(lambda: sim.now() >= END_AT, SCENARIO_TIMEOUT_S, "the end")
        sim.stop()
        alive = tracker_proc.alive() and bridge.alive()
    finally:
        if sim is not None:
            sim.stop()
        for p in procs:
            p.stop()
    assert alive, "\n".join(p.log() for p in procs)
    gimbal.close()
    assert not gimbal.bad, gimbal.bad[:3]

    statuses = sim.statuses()
    settled = [
        s for t, s, _ in statuses if s.state == TrackerStatus.TRACKING and init_time + 3.0 <= t < OCCLUDE_AT
    ]
    assert settled, "TRACKING after settling"
    worst = max(max(abs(s.error_x), abs(s.error_y)) for s in settled)
    assert worst < 0.1, f"|error| up to {worst:.3f} after 3 s: the MAVLink gimbal centres the target"
    moving = [c for c in gimbal.commands if c[1] != 0 or c[2] != 0]
    assert moving, "the gimbal was commanded"
    zeros = [(arrival, pitch == 0 and yaw == 0) for arrival, pitch, yaw in gimbal.commands]
    assert_zero_while_lost_and_after_stop(statuses, zeros, stop_time)


def test_a_silent_controller_stops_the_gimbal(client, tmp_path):
    """Stale: rates stop coming (the controller died) while the gimbal moves: within
    gimbal_timeout the bridge sends zero rates itself."""
    ns = f"/gst{uuid.uuid4().hex[:6]}"
    port = free_udp_port()
    topic = f"{ns}/rates"
    bridge = NodeProcess(
        ns,
        {
            "mavlink_url": f"udpout:127.0.0.1:{port}",
            "tracker": f"{ns}/hit_tracker",
            "gimbal_output": "mavlink",
            "gimbal_rate_topic": topic,
            "gimbal_timeout": 0.5,
        },
        tmp_path,
        "mavlink_bridge",
        "mavlink_bridge",
    )
    gimbal = GimbalManager(port)
    publisher = client.node.create_publisher(Vector3Stamped, topic, 10)
    try:
        until(lambda: publisher.get_subscription_count() > 0, 20, "the bridge subscribed")
        rate = Vector3Stamped()
        rate.vector.y, rate.vector.z = 0.2, -0.3  # REP-103: pitch down, yaw right
        until(lambda: publisher.publish(rate) or gimbal.commands, 20, "the first command", poll=0.03)
        last = gimbal.commands[-1]
        assert last[1:] == pytest.approx((-0.2, 0.3)), "MAVLink signs: pitch up +, yaw right +"
        stopped = time.time()
        until(
            lambda: any(c[0] > stopped and c[1:] == (0.0, 0.0) for c in gimbal.commands),
            10,
            "zero rates after the controller fell silent (gimbal_timeout 0.5 s)",
        )
        assert bridge.alive()
    finally:
        client.node.destroy_publisher(publisher)
        gimbal.close()
        bridge.stop()
    assert np.isfinite([c[1:] for c in gimbal.commands]).all()
