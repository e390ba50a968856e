"""Input QoS as ROS users expect it, over real DDS: rclpy's standard `qos_overrides` parameters
override the image subscription's QoS, and a camera whose QoS cannot match (best effort into a
reliable subscription: no data would ever flow) is logged and shown in /diagnostics."""

from __future__ import annotations

import time
import uuid

import pytest
from rcl_interfaces.srv import GetParameters
from rclpy.qos import ReliabilityPolicy
from ros_harness import NodeProcess, RemoteTracker
from sensor_msgs.msg import Image
from waiting import until

pytestmark = pytest.mark.ros


def start(client, tmp_path, **params) -> RemoteTracker:
    namespace = f"/q{uuid.uuid4().hex[:8]}"
    params = {key.replace("<ns>", namespace): value for key, value in params.items()}
    node = NodeProcess(namespace, {"model": "csrt", **params}, tmp_path)
    return RemoteTracker(node, client)


def subscription_reliability(client, topic: str, timeout: float = 10.0):
    infos = until(
        lambda: client.node.get_subscriptions_info_by_topic(topic), timeout, f"a subscription on {topic}"
    )
    return infos[0].qos_profile.reliability


def test_qos_overrides_parameters_override_the_image_subscription(client, tmp_path):
    tracker = start(
        client,
        tmp_path,
        image_qos_reliability="best_effort",
        **{"qos_overrides.<ns>/image.subscription.reliability": "reliable"},
    )
    try:
        assert subscription_reliability(client, tracker.image_topic) == ReliabilityPolicy.RELIABLE
        name = f"qos_overrides.{tracker.image_topic}.subscription.reliability"
        reply = client.call(
            GetParameters, f"{tracker.node.name}/get_parameters", GetParameters.Request(names=[name])
        )
        assert reply.values[0].string_value == "reliable"
    finally:
        assert tracker.node.alive()
        tracker.node.stop()


def test_without_overrides_the_parameters_decide(client, tmp_path):
    tracker = start(client, tmp_path, image_qos_reliability="best_effort")
    try:
        assert subscription_reliability(client, tracker.image_topic) == ReliabilityPolicy.BEST_EFFORT
    finally:
        tracker.node.stop()


def test_an_incompatible_camera_is_reported_not_silent(client, tmp_path):
    tracker = start(client, tmp_path, image_qos_reliability="reliable")
    try:
        # a best-effort camera cannot feed a reliable subscription
        client.advertise(tracker.image_topic, Image, reliable=False)

        def reported() -> bool:
            diag = tracker.diagnostics(timeout=3.0)
            return int(diag["incompatible_qos_events"]) >= 1 and diag

        deadline = time.monotonic() + 20
        diag = {}
        while time.monotonic() < deadline and not (diag := reported()):
            pass
        assert diag, "no incompatible-QoS report in /diagnostics"
        assert diag["incompatible_qos_last"] == f"{tracker.image_topic}: RELIABILITY"
        assert diag["_level"] == "1" and "incompatible QoS" in diag["_message"]  # WARN
        assert "offers a QoS incompatible with this subscription (RELIABILITY)" in tracker.node.log()
        assert tracker.node.alive()
    finally:
        tracker.node.stop()
