"""The follow controller node over real DDS: fixed-rate commands with REP-103 signs, and zero
commands whenever it must not steer (disabled, not TRACKING, stale or NaN statuses, deactivated,
Ctrl-C)."""

from __future__ import annotations

import math
import signal
import time
import uuid

import numpy as np
import pytest
from geometry_msgs.msg import TwistStamped, Vector3Stamped
from hit_tracker_ros.msg import TrackerStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import NodeProcess
from std_srvs.srv import SetBool

pytestmark = pytest.mark.ros


class Controller:
    """A follow_controller process, fed statuses and listened to by the test's client."""

    def __init__(self, client, log_dir, **params) -> None:
        self.ns = f"/fc{uuid.uuid4().hex[:8]}"
        self.node = NodeProcess(self.ns, params, log_dir, "follow_controller", "follow_controller")
        self.client = client
        self.gimbal = f"{self.node.name}/gimbal_rate"
        self.cmd_vel = f"{self.node.name}/cmd_vel"
        self.status_topic = f"{self.ns}/status"
        client.listen(self.gimbal, Vector3Stamped)
        client.listen(self.cmd_vel, TwistStamped)
        client.advertise(self.status_topic, TrackerStatus)
        client.wait_for_publishers(self.gimbal)
        client.wait_for_subscribers(self.status_topic)

    def status(self, state=TrackerStatus.TRACKING, ex=0.4, ey=0.3, height=40.0, angles=None) -> None:
        msg = TrackerStatus(state=state, error_x=ex, error_y=ey, image_width=320, image_height=240)
        msg.bbox.size_y = height
        if angles:
            msg.has_angles, (msg.angle_x, msg.angle_y) = True, angles
        self.client.publish(self.status_topic, msg)

    def feed_until(self, predicate, what: str, timeout: float = 20.0, **status) -> None:
        """Publish statuses at about 30 Hz (a tracker's rate) until `predicate()` holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            self.status(**status)
            try:
                self.client.wait_until(predicate, 0.03, what)  # the feed's period, or done sooner
            except TimeoutError:
                pass

    def commands_after(self, since: float, n: int, what: str, **status) -> list:
        """The commands stamped after `since` (time.time()), once there are `n`, feeding the
        given status meanwhile."""
        self.feed_until(lambda: len(self.commands(since)) >= n, what, **status)
        return self.commands(since)

    def commands_once_zero(self, since: float, n: int, what: str, **status) -> list:
        """`n` commands from the first zero one stamped after `since`, feeding the given status
        meanwhile: when the controller learns of a change depends on delivery (slow under load),
        so the tests assert that the commands go to zero and stay there."""
        self.feed_until(lambda: len(self.from_first_zero(since)) >= n, what, **status)
        return self.from_first_zero(since)

    def from_first_zero(self, since: float) -> list:
        commands = self.commands(since)
        first = next((i for i, c in enumerate(commands) if is_zero(c)), len(commands))
        return commands[first:]

    def commands(self, since: float = 0.0) -> list[tuple[Vector3Stamped, TwistStamped]]:
        """(gimbal, twist) pairs (published together, one stamp) stamped at or after `since`:
        the controller's stamps, not arrivals, so a delivery delay cannot move a command."""
        twists = {stamp_s(t): t for t in self.client.received(self.cmd_vel)}
        pairs = [(g, twists.get(stamp_s(g))) for g in self.client.received(self.gimbal)]
        return [(g, t) for g, t in pairs if t is not None and stamp_s(g) >= since]

    def enable(self, on: bool = True) -> None:
        request = SetBool.Request(data=on)
        assert self.client.call(SetBool, f"{self.node.name}/enable", request, idempotent=True).success

    def set_parameter(self, name: str, value: float) -> bool:
        request = SetParameters.Request()
        request.parameters = [
            Parameter(
                name=name, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
            )
        ]
        return (
            self.client.call(SetParameters, f"{self.node.name}/set_parameters", request, idempotent=True)
            .results[0]
            .successful
        )


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def is_zero(pair) -> bool:
    gimbal, twist = pair
    values = (
        gimbal.vector.x,
        gimbal.vector.y,
        gimbal.vector.z,
        twist.twist.angular.z,
        twist.twist.linear.x,
        twist.twist.linear.z,
    )
    return all(v == 0.0 for v in values)


@pytest.fixture
def controller(client, tmp_path):
    c = Controller(client, tmp_path, rate_hz=30.0)
    yield c
    alive = c.node.alive()
    c.node.stop()
    assert alive, c.node.log()


def moving(controller: Controller) -> bool:
    """Whether the newest command is not zero (False before any command)."""
    commands = controller.commands()
    return bool(commands) and not is_zero(commands[-1])


def rate_hz(commands: list) -> float:
    """The command rate from the commands' own stamps (median period)."""
    stamps = [stamp_s(gimbal) for gimbal, _ in commands]
    return 1.0 / float(np.median(np.diff(stamps)))


def test_commands_are_published_at_a_fixed_rate_and_zero_until_enabled(controller):
    commands = controller.commands_after(time.time() + 0.2, 24, "24 commands")
    assert all(is_zero(c) for c in commands), "disabled by default: zero"
    assert 24 <= rate_hz(commands) <= 36, "30 Hz"
    assert (
        commands[-1][0].header.frame_id == "camera_mount" and commands[-1][1].header.frame_id == "base_link"
    )


def test_signs_and_silence_upstream(controller):
    controller.enable()
    status = dict(ex=0.4, ey=0.3, height=30.0)  # right, below, far
    controller.feed_until(lambda: moving(controller), "a command", **status)
    gimbal, twist = controller.commands()[-1]
    assert gimbal.vector.z < 0 and gimbal.vector.y > 0, "turn right, tilt down"
    assert twist.twist.angular.z < 0 and twist.twist.linear.z < 0 and twist.twist.linear.x > 0
    silent = time.time()  # no status from now on: stale after 0.5 s, the commands keep coming, zero
    controller.client.wait_until(lambda: len(controller.from_first_zero(silent)) >= 10, 20, "zero commands")
    late = controller.from_first_zero(silent)
    assert all(is_zero(c) for c in late), "once stale, zero until a status comes"
    assert stamp_s(late[0][0]) - silent < 5.0, "stale after 0.5 s (generous: the last status may arrive late)"


@pytest.mark.parametrize(
    "status",
    [
        {"state": TrackerStatus.LOST},
        {"state": TrackerStatus.IDLE, "ex": 0.0, "ey": 0.0},
        {"ex": math.nan},
        {"angles": (math.inf, 0.0)},
    ],
    ids=["lost", "idle", "nan-error", "inf-angle"],
)
def test_commands_fail_to_zero(controller, status):
    controller.enable()
    controller.feed_until(lambda: moving(controller), "a non-zero command")
    switched = time.time()
    after = controller.commands_once_zero(switched, 12, "zero commands after the switch", **status)
    assert all(is_zero(c) for c in after)
    assert controller.node.alive()


def test_disable_deactivate_and_gains_at_run_time(controller):
    controller.enable()
    turning = dict(angles=(0.2, 0.0))
    controller.feed_until(lambda: moving(controller), "a command", **turning)
    before = controller.commands()[-1][0].vector.z
    assert controller.set_parameter("gimbal_yaw.kp", 4.0)
    assert not controller.set_parameter("gimbal_yaw.kp", -1.0), "invalid gains are refused"
    changed = time.time()
    controller.feed_until(  # a higher gain turns faster
        lambda: any(c[0].vector.z < before for c in controller.commands(changed)), "a faster turn", **turning
    )
    controller.enable(False)
    off = time.time()  # the controller applied it before it answered: every command stamped later is zero
    assert all(is_zero(c) for c in controller.commands_after(off, 8, "commands", **turning))
    controller.enable()
    controller.feed_until(lambda: moving(controller), "a command again", **turning)
    request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_DEACTIVATE))
    assert controller.client.call(ChangeState, f"{controller.node.name}/change_state", request).success
    # deactivating leaves a zero command behind
    controller.client.wait_until(lambda: not moving(controller), 10, "the zero command")


def test_ctrl_c_leaves_a_zero_command(client, tmp_path):
    c = Controller(client, tmp_path)
    c.enable()
    c.feed_until(lambda: moving(c), "a command")
    c.node.process.send_signal(signal.SIGINT)
    assert c.node.wait_for_exit(timeout=10) == 0, c.node.log()
    # the last command published is zero (it may still be on its way)
    c.client.wait_until(lambda: not moving(c), 10, "the zero command")
    c.node.stop()
