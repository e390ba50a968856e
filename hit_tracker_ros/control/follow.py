"""Follow law: a tracker status in, gimbal rates and vehicle velocities out (REP-103 FLU).

Signs: a target right of centre turns right (negative yaw rate about +z), a target below centre
tilts the gimbal down (positive pitch rate about +y, the left axis) and makes the vehicle descend;
a target smaller than `target_size` (far away) drives forward. The error is the target's
bearing when the camera is calibrated (camera_info), else the normalized image error turned into
an angle through an assumed field of view, so the same gains serve both.

Safety: every output is zero unless the newest status is TRACKING, fresher than
`stale_timeout` and finite, and the controller is enabled; integrators reset whenever the
output is forced to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .pi_axis import AxisGains, PiAxis

AXES = ("gimbal_yaw", "gimbal_pitch", "yaw", "climb", "forward")

# A rate-commanded gimbal is an integrating plant: kp sets the bandwidth (rad/s per rad of
# bearing), ki = kp^2 / 4 makes the loop critically damped, and the integral zone keeps a new,
# far-off target from winding the integral up.
_GIMBAL = AxisGains(kp=2.0, ki=1.0, max_output=1.5, max_accel=6.0, deadband=0.005, integral_zone=0.05)
DEFAULT_GAINS = {
    "gimbal_yaw": _GIMBAL,
    "gimbal_pitch": _GIMBAL,
    "yaw": AxisGains(kp=1.0, ki=0.0, max_output=0.8, max_accel=2.0, deadband=0.01),
    "climb": AxisGains(kp=0.5, ki=0.0, max_output=1.0, max_accel=1.0, deadband=0.02),
    "forward": AxisGains(kp=2.0, ki=0.0, max_output=2.0, max_accel=1.0, deadband=0.02),
}


@dataclass(frozen=True)
class TargetObservation:
    """What the controller needs of one TrackerStatus (`received` on the controller's clock)."""

    tracking: bool
    error_x: float  # normalized [-1, 1], +x right
    error_y: float  # +y down
    image_size: tuple[int, int]
    box_height: float  # pixels
    received: float  # seconds, monotonic
    angles: tuple[float, float] | None = None  # bearing (azimuth, elevation), rad


@dataclass(frozen=True)
class FollowSettings:
    gains: dict[str, AxisGains] = field(default_factory=lambda: dict(DEFAULT_GAINS))
    target_size: float = 0.3  # wanted box height / image height
    stale_timeout: float = 0.5  # s
    assumed_hfov: float = math.radians(60.0)  # when camera_info is unknown

    def validate(self) -> None:
        for name, gains in self.gains.items():
            gains.validate(name)
        if not 0 < self.target_size <= 1:
            raise ValueError(f"target_size must lie in (0, 1], got {self.target_size}")
        if not self.stale_timeout > 0:
            raise ValueError(f"stale_timeout must be > 0, got {self.stale_timeout}")
        if not 0 < self.assumed_hfov < math.pi:
            raise ValueError("assumed_hfov must lie in (0, 180) degrees")


@dataclass(frozen=True)
class FollowCommand:
    gimbal_yaw_rate: float = 0.0  # rad/s about the mount's +z (positive: left)
    gimbal_pitch_rate: float = 0.0  # rad/s about the mount's +y (positive: down)
    yaw_rate: float = 0.0  # rad/s, body +z
    climb_rate: float = 0.0  # m/s, body +z
    forward_speed: float = 0.0  # m/s, body +x
    active: bool = False
    reason: str = "no status yet"  # why the command is zero (empty while active)


class FollowController:
    """Call `update(now)` at a fixed rate; `observe` whenever a status arrives."""

    def __init__(self, settings: FollowSettings | None = None) -> None:
        self.settings = settings or FollowSettings()
        self.settings.validate()
        self.enabled = False
        self._axes = {name: PiAxis(self.settings.gains[name]) for name in AXES}
        self._latest: TargetObservation | None = None
        self._last_time: float | None = None

    def configure(self, settings: FollowSettings) -> None:
        """New gains and limits at run time (integrators keep their state)."""
        settings.validate()
        self.settings = settings
        for name, axis in self._axes.items():
            axis.gains = settings.gains[name]

    def observe(self, observation: TargetObservation) -> None:
        self._latest = observation

    def update(self, now: float) -> FollowCommand:
        dt = 0.0 if self._last_time is None else max(now - self._last_time, 0.0)
        self._last_time = now
        reason = self._zero_reason(now)
        if reason:
            for axis in self._axes.values():
                axis.reset()
            return FollowCommand(reason=reason)
        obs = self._latest
        ex, ey = self._bearing_error(obs)
        size_error = self.settings.target_size - obs.box_height / obs.image_size[1]
        a = self._axes
        return FollowCommand(
            gimbal_yaw_rate=-a["gimbal_yaw"].update(ex, dt),
            gimbal_pitch_rate=a["gimbal_pitch"].update(ey, dt),
            yaw_rate=-a["yaw"].update(ex, dt),
            climb_rate=-a["climb"].update(ey, dt),
            forward_speed=a["forward"].update(size_error, dt),
            active=True,
            reason="",
        )

    def _zero_reason(self, now: float) -> str:
        obs = self._latest
        if not self.enabled:
            return "disabled"
        if obs is None:
            return "no status yet"
        if now - obs.received > self.settings.stale_timeout:
            return f"status stale ({now - obs.received:.2f} s old)"
        if not obs.tracking:
            return "target not TRACKING"
        values = (obs.error_x, obs.error_y, obs.box_height, *(obs.angles or ()))
        if not all(math.isfinite(v) for v in values) or min(obs.image_size) <= 0:
            return "status with non-finite or invalid values"
        return ""

    def _bearing_error(self, obs: TargetObservation) -> tuple[float, float]:
        if obs.angles is not None:
            return obs.angles
        width, height = obs.image_size
        tan_half_h = math.tan(self.settings.assumed_hfov / 2.0)
        tan_half_v = tan_half_h * height / width  # square pixels
        x = obs.error_x * tan_half_h
        y = obs.error_y * tan_half_v
        return math.atan2(x, 1.0), math.atan2(y, math.hypot(x, 1.0))
