"""The follow law without ROS: signs (REP-103 FLU), the PI axis (deadband, anti-windup, limits,
slew rate) and the safety rule that every output fails to zero."""

from __future__ import annotations

import math

import pytest

from hit_tracker_ros.control.follow import FollowController, FollowSettings, TargetObservation
from hit_tracker_ros.control.pi_axis import AxisGains, PiAxis


def observation(now: float, ex=0.0, ey=0.0, tracking=True, height=72.0, angles=None) -> TargetObservation:
    return TargetObservation(tracking, ex, ey, (320, 240), height, now, angles)


def active(settings: FollowSettings | None = None) -> FollowController:
    controller = FollowController(settings)
    controller.enabled = True
    return controller


def test_signs_follow_rep_103():
    c = active()
    c.observe(observation(0.0, ex=0.5, ey=0.4, height=24))  # right, below, small (far)
    c.update(0.0)
    command = c.update(0.05)
    assert command.active and command.reason == ""
    assert command.gimbal_yaw_rate < 0 and command.yaw_rate < 0, "target right: turn right (negative z)"
    assert command.gimbal_pitch_rate > 0, "target below: tilt down (positive y)"
    assert command.climb_rate < 0, "target below: descend"
    assert command.forward_speed > 0, "target smaller than target_size: move closer"
    for k in range(2, 20):  # long enough for the slew limit
        c.observe(observation(k * 0.05, ex=-0.5, ey=-0.4, height=200))
        command = c.update(k * 0.05)
    assert command.gimbal_yaw_rate > 0 and command.gimbal_pitch_rate < 0 and command.forward_speed < 0


def test_bearings_are_used_when_known_else_the_assumed_field_of_view():
    settings = FollowSettings(
        gains={
            name: AxisGains(kp=1.0, max_output=10)
            for name in ("gimbal_yaw", "gimbal_pitch", "yaw", "climb", "forward")
        }
    )
    c = active(settings)
    c.observe(observation(0.0, ex=1.0, ey=0.0))  # at the right edge: half the field of view
    c.update(0.0)
    assert c.update(0.01).gimbal_yaw_rate == pytest.approx(-math.radians(30), rel=1e-6)
    c.observe(observation(0.01, ex=1.0, angles=(0.1, -0.05)))  # calibrated: the bearing wins
    command = c.update(0.02)
    assert command.gimbal_yaw_rate == pytest.approx(-0.1) and command.gimbal_pitch_rate == pytest.approx(
        -0.05
    )


def test_pi_axis_drives_a_plant_to_zero_error():
    """Closed loop with an integrating plant (a gimbal: angle' = rate) and a constant disturbance
    (the target moves): PI removes the steady error, P alone would not."""
    for ki, settles in ((0.0, False), (1.0, True)):
        axis = PiAxis(AxisGains(kp=2.0, ki=ki, max_output=2.0))
        error, dt = 0.5, 0.02
        for _ in range(1000):
            rate = axis.update(error, dt)
            error += (0.3 - rate) * dt  # target drifts at 0.3 rad/s
        assert (abs(error) < 1e-3) == settles, error


def test_limits_slew_deadband_and_anti_windup():
    axis = PiAxis(AxisGains(kp=10.0, ki=5.0, max_output=1.0, max_accel=2.0, deadband=0.1))
    assert axis.update(0.05, 0.1) == 0.0, "inside the deadband"
    outputs = [axis.update(1.0, 0.1) for _ in range(10)]
    assert outputs[0] == pytest.approx(0.2) and max(outputs) == pytest.approx(1.0), "slew, then limit"
    for _ in range(200):  # long saturation: the integral must not wind up
        axis.update(1.0, 0.1)
    recovered = [axis.update(-0.3, 0.1) for _ in range(20)]
    assert recovered[-1] < 0, "the sign follows the error within two seconds of unwinding"
    with pytest.raises(ValueError, match="kp must be >= 0"):
        AxisGains(kp=-1).validate("yaw")


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda c: setattr(c, "enabled", False), "disabled"),
        (lambda c: c.observe(observation(1.0, ex=0.5, tracking=False)), "not TRACKING"),
        (lambda c: c.observe(observation(0.3, ex=0.5)), "stale"),
        (lambda c: c.observe(observation(1.0, ex=math.nan)), "non-finite"),
        (lambda c: c.observe(observation(1.0, ex=0.5, angles=(math.inf, 0.0))), "non-finite"),
    ],
)
def test_every_output_fails_to_zero(setup, reason):
    c = active()
    c.observe(observation(0.95, ex=0.5, ey=0.5, height=20))
    assert c.update(0.95).active and c.update(0.99).gimbal_yaw_rate != 0
    setup(c)
    command = c.update(1.0)
    assert not command.active and reason in command.reason
    assert (command.gimbal_yaw_rate, command.gimbal_pitch_rate, command.yaw_rate) == (0, 0, 0)
    assert (command.climb_rate, command.forward_speed) == (0, 0)


def test_integrators_reset_when_tracking_stops():
    c = active(FollowSettings())
    c.observe(observation(0.0, ex=0.5))
    for k in range(50):
        c.update(k * 0.05)
    c.observe(observation(2.5, ex=0.5, tracking=False))
    c.update(2.5)
    c.observe(observation(2.55, ex=0.0))  # tracking again, centred: no leftover integral
    c.update(2.55)
    assert c.update(2.6).gimbal_yaw_rate == pytest.approx(0.0, abs=1e-9)
