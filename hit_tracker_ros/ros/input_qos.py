"""How the nodes subscribe to camera inputs, the way ROS users expect (REP-2003):

* the QoS comes from the node's parameters (image_qos_reliability, image_qos_depth) and can be
  overridden per topic with rclpy's standard `qos_overrides` parameters, e.g.
  `-p qos_overrides./camera/image_raw.subscription.reliability:=reliable` (history, depth and
  reliability; read at start-up, like every rclpy QoS override);
* a publisher whose QoS cannot match (a reliable subscription to a best-effort camera) delivers
  nothing, silently: the incompatible-QoS event is logged, once per topic and policy, and counted
  for /diagnostics.

rclpy's event callbacks live in `rclpy.event_handler` since Iron and in `rclpy.qos_event` in Humble.
"""

from __future__ import annotations

import threading

from rclpy.qos import qos_policy_name_from_kind
from rclpy.qos_overriding_options import QoSOverridingOptions

try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks


def overridable() -> QoSOverridingOptions:
    """History, depth and reliability of a subscription, overridable by qos_overrides parameters."""
    return QoSOverridingOptions.with_default_policies()


class IncompatibleQos:
    """Incompatible-QoS events of a node's input subscriptions: logged and counted."""

    def __init__(self, logger) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()
        self.events = 0
        self.last = ""  # "topic: POLICY"

    def callbacks(self, topic: str) -> SubscriptionEventCallbacks:
        return SubscriptionEventCallbacks(incompatible_qos=lambda info: self._on_event(topic, info))

    def _on_event(self, topic: str, info) -> None:
        policy = qos_policy_name_from_kind(info.last_policy_kind)
        with self._lock:
            self.events += max(int(info.total_count_change), 1)
            self.last = f"{topic}: {policy}"
            first = (topic, policy) not in self._logged
            self._logged.add((topic, policy))
        if first:
            self._logger.warning(
                f"a publisher on {topic} offers a QoS incompatible with this subscription ({policy}): "
                f"nothing from it arrives. Match it (image_qos_reliability, image_qos_depth) or set "
                f"qos_overrides.{topic}.subscription.{policy.lower()}"
            )

    def diagnostics(self) -> dict[str, object]:
        with self._lock:
            return {"incompatible_qos_events": self.events, "incompatible_qos_last": self.last}
