"""The lifecycle shape all our nodes share (after ros2/demos' lifecycle talker): members created in
`configure`, work started in `activate`, stopped in `halt` (deactivate, shutdown, Ctrl-C) and freed
in `release` (cleanup); the state label diagnostics show; `autostart`."""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn


class ManagedNode(LifecycleNode):
    """Subclasses implement the four hooks; call `start()` at the end of their __init__."""

    def __init__(self, node_name: str, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.lifecycle = "unconfigured"  # unconfigured | inactive | active | finalized
        self.config_error = ""

    def start(self) -> None:
        """Configure and activate now when the `autostart` parameter says so."""
        if self.get_parameter("autostart").value:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # hooks
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
