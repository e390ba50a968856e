"""The lifecycle shape all our nodes share (after ros2/demos' lifecycle talker): members created in
`configure`, work started in `activate`, stopped in `halt` (deactivate, shutdown, Ctrl-C) and freed
in `release` (cleanup); the state label; `autostart`; and the node's line in /diagnostics."""

from __future__ import annotations

from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from .parameters import ParameterSpec
from .status import make_diagnostics


@dataclass
class Health:
    """What a node says of itself in /diagnostics; ManagedNode adds the lifecycle state, and a
    configure error overrides level and summary."""

    level: bytes
    summary: str
    hardware_id: str
    values: dict[str, object]


class ManagedNode(LifecycleNode):
    """Subclasses implement the four hooks and `health`, name their `role` (the diagnostics
    entry is "<fully qualified name>: <role>") and their `parameters` (declared here), and call
    `start()` at the end of their __init__."""

    role = "node"
    parameters: tuple[ParameterSpec, ...] = ()

    def __init__(self, node_name: str, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        for spec in self.parameters:
            descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
            self.declare_parameter(spec.name, spec.default, descriptor)
        self.lifecycle = "unconfigured"  # unconfigured | inactive | active | finalized
        self.config_error = ""

    def start(self, diagnostics_period: float = 1.0) -> None:
        """Publish diagnostics every `diagnostics_period` seconds, whatever the lifecycle state;
        configure and activate now when the `autostart` parameter says so."""
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(diagnostics_period, self._publish_health)
        if self.param("autostart"):
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    def param(self, name: str, pending: dict | None = None):
        """A parameter's value: from `pending` (a set-parameters request being checked) when it
        names it, else the current one."""
        if pending and name in pending:
            return pending[name]
        return self.get_parameter(name).value

    def _publish_health(self) -> None:
        health = self.health()
        level, summary = health.level, health.summary
        if self.config_error:
            level, summary = DiagnosticStatus.ERROR, self.config_error
        values = {"lifecycle_state": self.lifecycle, **health.values}
        name = f"{self.get_fully_qualified_name()}: {self.role}"
        stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(make_diagnostics(stamp, name, level, summary, health.hardware_id, values))

    # hooks
    def health(self) -> Health:
        """The node's state for /diagnostics (called at every diagnostics period)."""
        return Health(DiagnosticStatus.OK, self.lifecycle, "", {})

    def configure(self) -> None:
        """Create what the node needs; raise with a clear message when it cannot."""

    def activate(self) -> None:
        """Start the node's work (subscriptions, threads, timers)."""

    def halt(self, reason: str) -> None:
        """Stop the node's work; leave nothing in force (why: `reason`)."""

    def release(self) -> None:
        """Free what `configure` created."""

    # transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.configure()
        except Exception as exc:  # noqa: BLE001 - rclpy would swallow it: say why and stay alive
            self.config_error = f"configure failed: {exc}"
            self.get_logger().error(self.config_error)
            return TransitionCallbackReturn.FAILURE
        self.config_error = ""
        self.lifecycle = "inactive"
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        self.activate()
        self.lifecycle = "active"
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.halt("deactivated")
        self.lifecycle = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self.lifecycle = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.halt("shut down")
        self.lifecycle = "finalized"
        return super().on_shutdown(state)
