"""Drive a tracker node over DDS from Python: start it as a process from the colcon install space,
publish images, call its services and collect its outputs (used by the demo, the tests and tools)."""

from __future__ import annotations

import os
import shutil
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
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray

from hit_tracker_ros.msg import TrackerStatus
from hit_tracker_ros.srv import InitTarget

from ...core.images import encode_raw
from ..conversions import ns_to_time, stamp_to_ns, xywh_to_bbox

DISCOVERY_SETTLE_S = 0.5
RESEND_AFTER_S = 2.0


def node_executable(executable: str = "tracker_node") -> str:
    """An executable of the install space on AMENT_PREFIX_PATH (as `ros2 run` would find it)."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "lib" / "hit_tracker_ros" / executable
        if prefix and candidate.exists():
            return str(candidate)
    found = shutil.which(executable)
    if found:
        return found
    raise FileNotFoundError(
        f"{executable} not found: build the package (scripts/setup) and source its install space"
    )


def make_bbox(box, theta: float = 0.0) -> BoundingBox2D:
    """[x, y, w, h] -> BoundingBox2D with the given theta (tests use theta != 0)."""
    bbox = xywh_to_bbox(np.asarray(box, dtype=np.float64))
    bbox.center.theta = float(theta)
    return bbox


def make_image(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "camera") -> Image:
    """An RGB frame as sensor_msgs/Image in `encoding`."""
    msg = Image()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding = encoding
    data, msg.step = encode_raw(rgb, encoding)
    msg.data = data
    return msg


class NodeProcess:
    """A node of the package as a child process (by default `tracker_node`, named hit_tracker)."""

    def __init__(
        self,
        namespace: str,
        params: dict[str, Any],
        log_dir: Path,
        executable: str = "tracker_node",
        node_name: str = "hit_tracker",
        remaps: dict[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.name = f"{namespace}/{node_name}"
        args = [node_executable(executable), "--ros-args", "-r", f"__ns:={namespace}"]
        for source, target in (remaps or {}).items():
            args += ["-r", f"{source}:={target}"]
        for key, value in params.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        self.log_path = log_dir / f"{namespace.strip('/')}-{executable}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )

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
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)  # notified on every received message
        self.messages: dict[str, list] = defaultdict(list)
        self.arrivals: dict[str, list[int]] = defaultdict(list)  # time.time_ns() of each message
        self._publishers: dict[str, Any] = {}
        self._subscriptions: dict[str, Any] = {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    # -- topics
    def listen(self, topic: str, msg_type, qos: QoSProfile | int = 50) -> None:
        def store(msg) -> None:
            received_ns = time.time_ns()
            with self._arrived:
                self.messages[topic].append(msg)
                self.arrivals[topic].append(received_ns)
                self._arrived.notify_all()

        self._subscriptions[topic] = self.node.create_subscription(msg_type, topic, store, qos)

    def wait_for_publishers(self, topic: str, timeout: float = 30.0) -> None:
        """Wait until our subscription to `topic` has matched a publisher, then let discovery
        settle: the publisher may match our reader later than we match it, and what it publishes
        in between is lost (for a status, the node would then drop our resent frame as a repeat)."""
        subscription = self._subscriptions[topic]
        self.wait_until(lambda: subscription.get_publisher_count() > 0, timeout, f"publisher of {topic}")
        time.sleep(DISCOVERY_SETTLE_S)

    def received(self, topic: str) -> list:
        with self._lock:
            return list(self.messages[topic])

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.arrivals.clear()

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

    def publish_serialized(self, topic: str, msg_type, data: bytes, reliable: bool = True) -> None:
        """Publish an already serialized (CDR) message, e.g. straight from a bag."""
        self.advertise(topic, msg_type, reliable)
        self._publishers[topic].publish(data)

    def publish(self, topic: str, msg, reliable: bool = True) -> None:
        self.advertise(topic, type(msg), reliable)
        self._publishers[topic].publish(msg)

    def wait_for_subscribers(self, topic: str, timeout: float = 15.0) -> None:
        """Wait until `topic` has a subscriber, then let discovery settle: our writer sees the
        reader before the reader has matched our writer, and data sent in between is lost."""
        self.wait_until(
            lambda: self._publishers[topic].get_subscription_count() > 0, timeout, f"subscriber on {topic}"
        )
        time.sleep(DISCOVERY_SETTLE_S)

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until `predicate()` holds, re-checking on every received message (and every 10 ms,
        for service responses)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
                self._arrived.wait(min(remaining, 0.01))

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


class SceneCamera:
    """A camera for tests and benchmarks: publishes a synthetic scene on `topic` at `rate_hz`
    from its own thread, stamped with the wall clock, and remembers the truth it showed, by stamp
    and by the (monotonic) time it was shown."""

    def __init__(self, client: Client, topic: str, scene, rate_hz: float = 30.0) -> None:
        self.client, self.topic, self.scene, self.period = client, topic, scene, 1.0 / rate_hz
        self._shown: list[tuple[float, int, np.ndarray]] = []  # (shown at, stamp, truth)
        self._by_stamp: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        client.advertise(topic, Image)
        client.wait_for_subscribers(topic)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            k, stamp = i % len(self.scene), time.time_ns()
            truth = self.scene.truth(k)
            with self._lock:  # before publishing: a status may come back before we return
                self._shown.append((time.monotonic(), stamp, truth))
                self._by_stamp[stamp] = truth
            self.client.publish(self.topic, make_image(self.scene.frame(k), stamp))
            i += 1
            self._stop.wait(self.period)

    def newest(self) -> np.ndarray:
        """The truth box of the newest frame published."""
        with self._lock:
            return self._shown[-1][2]

    def truth_at(self, t: float) -> np.ndarray:
        """The truth box of the newest frame shown at or before monotonic time `t`."""
        with self._lock:
            return next(box for shown, _, box in reversed(self._shown) if shown <= t)

    def truth_of(self, stamp_ns: int) -> np.ndarray:
        """The truth box of the frame stamped `stamp_ns`."""
        with self._lock:
            return self._by_stamp[stamp_ns]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class RemoteTracker:
    """A running tracker node plus a client listening to all of its outputs."""

    def __init__(self, node: NodeProcess, client: Client, wait_for_outputs: bool = True) -> None:
        """wait_for_outputs: block until the node's status publisher exists (created when the node
        configures; pass False for a node expected to fail configuring)."""
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
        request = InitTarget.Request()
        request.header.stamp = ns_to_time(stamp_ns)
        request.bbox = make_bbox(box, theta)
        request.label = label
        return request

    def init(self, box, stamp_ns: int = 0, label: str = "target", theta: float = 0.0):
        request = self.init_request(box, stamp_ns, label, theta)
        return self.client.call(InitTarget, f"{self.node.name}/init", request)

    def stop(self):
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
