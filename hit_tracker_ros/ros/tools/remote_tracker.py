"""A running tracker node seen from a DDS client: its outputs collected, images sent (lock-step
when wanted), its services called through the one tracker client, its diagnostics read."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray

from hit_tracker_ros.msg import TrackerStatus

from ..conversions import stamp_to_ns, xywh_to_bbox
from ..tracker_client import Answer, TrackerClient, init_request
from .dds_client import Client
from .node_process import NodeProcess

RESEND_AFTER_S = 2.0
# what the tracker node's ~/status publisher offers (TRANSIENT_LOCAL): statuses published while
# discovery completes are delivered when it does
STATUS_QOS = QoSProfile(
    depth=50, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
SERVICE_TIMEOUT_S = 15.0


def make_bbox(box, theta: float = 0.0) -> BoundingBox2D:
    """[x, y, w, h] -> BoundingBox2D with the given theta (tests use theta != 0)."""
    bbox = xywh_to_bbox(np.asarray(box, dtype=np.float64))
    bbox.center.theta = float(theta)
    return bbox


class RemoteTracker:
    """A running tracker node plus a client listening to all of its outputs."""

    def __init__(self, node: NodeProcess, client: Client, wait_for_outputs: bool = True) -> None:
        """wait_for_outputs: block until the node's status publisher exists (created when the node
        configures; pass False for a node expected to fail configuring)."""
        self.node = node
        self.client = client
        self.ns = node.namespace.rstrip("/")
        self.image_topic = f"{self.ns}/image"
        self.status_topic = f"{node.name}/status"
        self.detection_topic = f"{node.name}/detection"
        self.detections_topic = f"{node.name}/detections"
        client.listen(self.status_topic, TrackerStatus, STATUS_QOS)  # the node keeps its latest statuses
        client.listen(self.detection_topic, Detection2D)
        client.listen(self.detections_topic, Detection2DArray)
        client.listen("/diagnostics", DiagnosticArray)
        self.tracker = TrackerClient(client.node, node.name, SERVICE_TIMEOUT_S, SERVICE_TIMEOUT_S)
        if wait_for_outputs:
            client.wait_for_publishers(self.status_topic)

    def publish_image(self, msg: Image | CompressedImage, reliable: bool = True) -> None:
        topic = self.image_topic + ("/compressed" if isinstance(msg, CompressedImage) else "")
        if self.client.advertise(topic, type(msg), reliable):
            self.client.wait_for_subscribers(topic)
        self.client.publish(topic, msg, reliable)

    def send_serialized_and_wait(
        self, data: bytes, compressed: bool, stamp_ns: int, timeout: float = 30.0
    ) -> TrackerStatus:
        """Publish a serialized image (raw or compressed) and wait for its status (back-pressure)."""
        topic = self.image_topic + ("/compressed" if compressed else "")
        msg_type = CompressedImage if compressed else Image
        if self.client.advertise(topic, msg_type):
            self.client.wait_for_subscribers(topic)
        return self._until_status(
            lambda: self.client.publish_serialized(topic, msg_type, data), stamp_ns, timeout
        )

    def statuses(self) -> list[TrackerStatus]:
        return self.client.received(self.status_topic)

    def wait_status(self, stamp_ns: int, timeout: float = 15.0) -> TrackerStatus:
        """The status published for the image stamped `stamp_ns`."""
        found: list[TrackerStatus] = []

        def seen() -> bool:
            found[:] = [s for s in self.statuses() if stamp_to_ns(s.header.stamp) == stamp_ns]
            return bool(found)

        self.client.wait_until(seen, timeout, f"status for stamp {stamp_ns}")
        return found[0]

    def send_and_wait(self, msg: Image, timeout: float = 15.0) -> TrackerStatus:
        """Publish one image and wait for its status (lock-step: no frame is dropped)."""
        return self._until_status(lambda: self.publish_image(msg), stamp_to_ns(msg.header.stamp), timeout)

    def _until_status(self, send: Callable[[], None], stamp_ns: int, timeout: float) -> TrackerStatus:
        """Send, and send again every RESEND_AFTER_S until the status for `stamp_ns` arrives (a
        duplicate stamp is ignored and counted by the node); this covers a message lost while
        discovery completes on a loaded machine."""
        deadline = time.monotonic() + timeout
        while True:
            send()
            remaining = deadline - time.monotonic()
            try:
                return self.wait_status(stamp_ns, max(min(RESEND_AFTER_S, remaining), 0.01))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise

    @staticmethod
    def init_request(box=(0, 0, 1, 1), stamp_ns: int = 0, label: str = "target", theta: float = 0.0):
        """The InitTarget request (theta != 0: a rotated box, which the node refuses)."""
        request = init_request(box, stamp_ns, label)
        request.bbox = make_bbox(box, theta)
        return request

    def init(self, box, stamp_ns: int = 0, label: str = "target", theta: float = 0.0) -> Answer:
        return self.tracker.call("init", self.init_request(box, stamp_ns, label, theta))

    def stop(self) -> Answer:
        return self.tracker.stop()

    def change_state(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition = Transition(id=transition_id)
        return self.client.call(ChangeState, f"{self.node.name}/change_state", request).success

    def diagnostics(self, timeout: float = 5.0) -> dict[str, str]:
        """Key/values of the newest /diagnostics status of this node received after the call."""
        start = len(self.client.received("/diagnostics"))
        result: dict[str, str] = {}

        def ours() -> bool:
            for array in self.client.received("/diagnostics")[start:]:
                for status in array.status:
                    if status.name == f"{self.node.name}: tracker":
                        result.clear()
                        result.update({kv.key: kv.value for kv in status.values})
                        level = status.level
                        result["_level"] = str(level[0] if isinstance(level, bytes) else level)
                        result["_message"] = status.message
                        result["_name"] = status.name
            return bool(result)

        self.client.wait_until(ours, timeout, "diagnostics")
        return result
