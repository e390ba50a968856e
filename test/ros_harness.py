"""Test helpers that talk to the tracker node over real DDS: the node runs as a separate process
started from the colcon install space; a client node publishes images and calls services."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray

from hit_tracker_ros.core.images import encode_raw
from hit_tracker_ros.msg import TrackerStatus
from hit_tracker_ros.srv import InitTarget

ROOT = Path(__file__).resolve().parents[1]
NODE_EXECUTABLE = ROOT / ".ws" / "install" / "lib" / "hit_tracker_ros" / "tracker_node"
STAMP_BASE_NS = 1_700_000_000 * 1_000_000_000
FRAME_PERIOD_NS = 33_333_333


def frame_stamp_ns(i: int) -> int:
    """Stamp of synthetic frame i (30 Hz)."""
    return STAMP_BASE_NS + i * FRAME_PERIOD_NS


def ns_to_time(stamp_ns: int):
    from builtin_interfaces.msg import Time

    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def make_image(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "camera") -> Image:
    msg = Image()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding = encoding
    data, msg.step = encode_raw(rgb, encoding)
    msg.data = data
    return msg


def make_bbox(box, theta: float = 0.0) -> BoundingBox2D:
    x, y, w, h = (float(v) for v in box)
    bbox = BoundingBox2D()
    bbox.center.position.x, bbox.center.position.y = x + w / 2, y + h / 2
    bbox.center.theta = theta
    bbox.size_x, bbox.size_y = w, h
    return bbox


def status_box(status: TrackerStatus) -> np.ndarray:
    b = status.bbox
    return np.array(
        [b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y]
    )


class NodeProcess:
    """The tracker node as a child process (`tracker_node` from the install space)."""

    def __init__(self, namespace: str, params: dict[str, Any], log_dir: Path) -> None:
        self.namespace = namespace
        self.name = f"{namespace}/hit_tracker"
        args = [str(NODE_EXECUTABLE), "--ros-args", "-r", f"__ns:={namespace}"]
        for key, value in params.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        self.log_path = log_dir / f"{namespace.strip('/')}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy())

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


class Client:
    """A test-side ROS node with its own context and executor thread."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f"test_client_{uuid.uuid4().hex[:8]}", context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self.messages: dict[str, list] = defaultdict(list)
        self._publishers: dict[str, Any] = {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    # -- topics
    def listen(self, topic: str, msg_type, qos: QoSProfile | int = 50) -> None:
        def store(msg) -> None:
            with self._lock:
                self.messages[topic].append(msg)

        self.node.create_subscription(msg_type, topic, store, qos)

    def received(self, topic: str) -> list:
        with self._lock:
            return list(self.messages[topic])

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def advertise(self, topic: str, msg_type, reliable: bool = True) -> bool:
        """Create the publisher of `topic` if needed; True when it was created now."""
        if topic in self._publishers:
            return False
        qos = QoSProfile(
            depth=100,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        )
        self._publishers[topic] = self.node.create_publisher(msg_type, topic, qos)
        return True

    def publish(self, topic: str, msg, reliable: bool = True) -> None:
        self.advertise(topic, type(msg), reliable)
        self._publishers[topic].publish(msg)

    def wait_for_subscribers(self, topic: str, timeout: float = 15.0) -> None:
        self.wait_until(lambda: self._publishers[topic].get_subscription_count() > 0, timeout, f"subscriber on {topic}")

    @staticmethod
    def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")

    # -- services
    def call(self, srv_type, name: str, request, timeout: float = 15.0):
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available")
            future = client.call_async(request)
            self.wait_until(future.done, timeout, f"response of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)


class TrackerHarness:
    """A running tracker node plus a client listening to all of its outputs."""

    def __init__(self, node: NodeProcess, client: Client) -> None:
        self.node = node
        self.client = client
        self.ns = node.namespace
        self.image_topic = f"{self.ns}/image"
        self.status_topic = f"{node.name}/status"
        self.detection_topic = f"{node.name}/detection"
        self.detections_topic = f"{node.name}/detections"
        client.listen(self.status_topic, TrackerStatus)
        client.listen(self.detection_topic, Detection2D)
        client.listen(self.detections_topic, Detection2DArray)
        client.listen("/diagnostics", DiagnosticArray)
        client.wait_until(
            lambda: client.node.count_publishers(self.status_topic) > 0, 30, f"{self.status_topic}"
        )

    def publish_image(self, msg: Image | CompressedImage, reliable: bool = True) -> None:
        topic = self.image_topic + ("/compressed" if isinstance(msg, CompressedImage) else "")
        if self.client.advertise(topic, type(msg), reliable):
            self.client.wait_for_subscribers(topic)
        self.client.publish(topic, msg, reliable)

    def statuses(self) -> list[TrackerStatus]:
        return self.client.received(self.status_topic)

    def wait_status(self, stamp_ns: int, timeout: float = 15.0) -> TrackerStatus:
        """The status published for the image stamped `stamp_ns`."""
        found: list[TrackerStatus] = []

        def seen() -> bool:
            found[:] = [s for s in self.statuses() if _ns(s.header.stamp) == stamp_ns]
            return bool(found)

        self.client.wait_until(seen, timeout, f"status for stamp {stamp_ns}")
        return found[0]

    def send_and_wait(self, msg: Image, timeout: float = 15.0) -> TrackerStatus:
        """Publish one image and wait for its status (lock-step: no frame is dropped)."""
        self.publish_image(msg)
        return self.wait_status(_ns(msg.header.stamp), timeout)

    def init(self, box, stamp_ns: int = 0, label: str = "target", theta: float = 0.0):
        request = InitTarget.Request()
        request.header.stamp = ns_to_time(stamp_ns)
        request.bbox = make_bbox(box, theta)
        request.label = label
        return self.client.call(InitTarget, f"{self.node.name}/init", request)

    def stop(self):
        from std_srvs.srv import Trigger

        return self.client.call(Trigger, f"{self.node.name}/stop", Trigger.Request())

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


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec
