"""The lifecycle node `follow_controller`: TrackerStatus in; gimbal rates and a body velocity out.

It publishes at a fixed rate (`rate_hz`), never only when a status arrives, so silence upstream
never leaves a command in force: the control law (hit_tracker_ros.control.follow) outputs zero
unless the newest status is TRACKING, fresh and finite, and the controller is enabled.
"""

from __future__ import annotations

import math
import time

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import TwistStamped, Vector3Stamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.parameter import Parameter
from std_srvs.srv import SetBool

from hit_tracker_ros.msg import TrackerStatus

from ..control.follow import (
    AXES,
    DEFAULT_GAINS,
    FollowCommand,
    FollowController,
    FollowSettings,
    TargetObservation,
)
from ..control.pi_axis import AxisGains
from ..core.stats import RateMeter
from .managed_node import Health, ManagedNode
from .node_main import spin_node
from .parameters import ParameterSpec, defaults

ZERO_ACK_TIMEOUT_S = 0.5  # how long a stop waits for subscribers to acknowledge the zero command
GAIN_FIELDS = {
    "kp": "proportional gain",
    "ki": "integral gain",
    "max_output": "command limit (rad/s or m/s)",
    "max_accel": "slew-rate limit of the command per second",
    "deadband": "error below which the axis does nothing (rad; forward: fraction of the image height)",
    "integral_zone": "the integral accumulates only while |error| is below this",
}
PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("enabled", False, "publish non-zero commands (also the ~/enable service)", False),
    ParameterSpec(
        "rate_hz", 30.0, "command rate; commands are published at this rate whatever arrives", False
    ),
    ParameterSpec(
        "stale_timeout", 0.5, "a status older than this (seconds since arrival) forces zero commands", False
    ),
    ParameterSpec("target_size", 0.3, "wanted box height / image height; drives linear.x", False),
    ParameterSpec(
        "assumed_hfov_deg",
        60.0,
        "horizontal field of view assumed while no camera_info gives bearings",
        False,
    ),
    ParameterSpec("gimbal_frame", "camera_mount", "frame_id of ~/gimbal_rate (the gimbal mount, FLU)", False),
    ParameterSpec("base_frame", "base_link", "frame_id of ~/cmd_vel (the vehicle body, FLU)", False),
    ParameterSpec("autostart", True, "configure and activate on startup", False),
    *(
        ParameterSpec(f"{axis}.{field}", float(getattr(DEFAULT_GAINS[axis], field)), f"{axis}: {text}", False)
        for axis in AXES
        for field, text in GAIN_FIELDS.items()
    ),
)


def parameter_defaults() -> dict[str, object]:
    """Every parameter of the node with its default (launch files and configs are tested against it)."""
    return defaults(PARAMETERS)


class FollowControllerNode(ManagedNode):
    role = "follow controller"
    parameters = PARAMETERS

    def __init__(self, node_name: str = "follow_controller", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._controller = FollowController(self._settings({}))
        self._controller.enabled = bool(self.param("enabled"))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._pubs: dict = {}
        self._timer = None
        self._status_sub = None
        self._last_command = FollowCommand()
        self._loop_rate = RateMeter()
        self._status_rate = RateMeter()
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.start()

    # ------------------------------------------------------------------ parameters
    def _settings(self, new: dict) -> FollowSettings:
        gains = {
            axis: AxisGains(**{field: float(self.param(f"{axis}.{field}", new)) for field in GAIN_FIELDS})
            for axis in AXES
        }
        return FollowSettings(
            gains=gains,
            target_size=float(self.param("target_size", new)),
            stale_timeout=float(self.param("stale_timeout", new)),
            assumed_hfov=math.radians(float(self.param("assumed_hfov_deg", new))),
        )

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        new = {p.name: p.value for p in params}
        if "rate_hz" in new and not float(new["rate_hz"]) > 0:
            return SetParametersResult(successful=False, reason="rate_hz must be > 0")
        try:
            settings = self._settings(new)
            settings.validate()
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._controller.configure(settings)
        if "enabled" in new:
            self._controller.enabled = bool(new["enabled"])
            self.get_logger().info("enabled" if new["enabled"] else "disabled: commands are zero")
        if "rate_hz" in new and self._timer is not None:
            self._start_timer(float(new["rate_hz"]))
        return SetParametersResult(successful=True)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        result = self.set_parameters([Parameter("enabled", value=bool(request.data))])[0]
        response.success = result.successful
        response.message = ("enabled" if request.data else "disabled") if result.successful else result.reason
        return response

    # ------------------------------------------------------------------ lifecycle
    def configure(self) -> None:
        self._pubs = {
            "gimbal_rate": self.create_lifecycle_publisher(Vector3Stamped, "~/gimbal_rate", 10),
            "cmd_vel": self.create_lifecycle_publisher(TwistStamped, "~/cmd_vel", 10),
        }

    def activate(self) -> None:
        self._status_sub = self.create_subscription(TrackerStatus, "status", self._on_status, 10)
        self._start_timer(float(self.param("rate_hz")))
        self.get_logger().info(f"active: following {self._status_sub.topic_name}")

    def release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}

    def halt(self, reason: str = "stopped") -> None:
        """Stop the loop and leave a zero command behind (deactivate, shutdown, Ctrl-C)."""
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        if self._status_sub is not None:
            self.destroy_subscription(self._status_sub)
            self._status_sub = None
        if self._pubs and self.context.ok():
            self._publish(FollowCommand(reason="stopped"))
            # the zero must reach the vehicle before the process goes (at Ctrl-C it exits next)
            for pub in self._pubs.values():
                pub.wait_for_all_acked(Duration(seconds=ZERO_ACK_TIMEOUT_S))

    def _start_timer(self, rate_hz: float) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
        self._timer = self.create_timer(1.0 / rate_hz, self._tick)

    # ------------------------------------------------------------------ loop
    def _on_status(self, msg: TrackerStatus) -> None:
        self._status_rate.tick()
        self._controller.observe(
            TargetObservation(
                tracking=msg.state == TrackerStatus.TRACKING,
                error_x=float(msg.error_x),
                error_y=float(msg.error_y),
                image_size=(int(msg.image_width), int(msg.image_height)),
                box_height=float(msg.bbox.size_y),
                received=time.monotonic(),
                angles=(float(msg.angle_x), float(msg.angle_y)) if msg.has_angles else None,
            )
        )

    def _tick(self) -> None:
        self._loop_rate.tick()
        command = self._controller.update(time.monotonic())
        if command.reason.startswith("status with") and command.reason != self._last_command.reason:
            self.get_logger().warning(f"commands zero: {command.reason}")
        self._publish(command)

    def _publish(self, command: FollowCommand) -> None:
        self._last_command = command
        stamp = self.get_clock().now().to_msg()
        gimbal = Vector3Stamped()
        gimbal.header.stamp, gimbal.header.frame_id = stamp, str(self.param("gimbal_frame"))
        gimbal.vector.y, gimbal.vector.z = command.gimbal_pitch_rate, command.gimbal_yaw_rate
        twist = TwistStamped()
        twist.header.stamp, twist.header.frame_id = stamp, str(self.param("base_frame"))
        twist.twist.angular.z = command.yaw_rate
        twist.twist.linear.z = command.climb_rate
        twist.twist.linear.x = command.forward_speed
        self._pubs["gimbal_rate"].publish(gimbal)
        self._pubs["cmd_vel"].publish(twist)

    def health(self) -> Health:
        c = self._last_command
        level = DiagnosticStatus.OK if c.active or c.reason in ("disabled",) else DiagnosticStatus.WARN
        summary = f"{self.lifecycle}, " + ("following" if c.active else f"zero: {c.reason}")
        values = {
            "enabled": self._controller.enabled,
            "active": c.active,
            "zero_reason": c.reason,
            "loop_rate_hz": self._loop_rate.rate(),
            "status_rate_hz": self._status_rate.rate(),
            "gimbal_yaw_rate": c.gimbal_yaw_rate,
            "gimbal_pitch_rate": c.gimbal_pitch_rate,
            "yaw_rate": c.yaw_rate,
            "climb_rate": c.climb_rate,
            "forward_speed": c.forward_speed,
        }
        return Health(level, summary, "follow", values)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C (`ros2 run hit_tracker_ros follow_controller`)."""
    return spin_node(FollowControllerNode, FollowControllerNode.halt, args, publish_on_exit=True)
