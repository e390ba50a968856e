"""A plain DDS client for tests and tools: its own rclpy context and executor thread, topics
listened to and published, waits on conditions, service calls."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy

BACK_PRESSURE_S = 30.0
BACK_PRESSURE_POLL_S = 0.01


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
        """Stop the executor thread, then destroy the node and the context. Destroyed while that
        thread still held their handles in its wait, they were torn down by the thread's release
        of the last handle, with the GIL held: once (a replay through the node, at its end) that
        thread ran at 100 % CPU for minutes and no other thread of the process ran again."""
        self.executor.shutdown()
        self._thread.join(timeout=30)  # the shutdown wakes its wait at once
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    # -- topics
    def listen(self, topic: str, msg_type, qos: QoSProfile | int = 50) -> None:
        """Store `topic`'s messages from now on; listening again changes nothing (a second
        subscription would store each message twice)."""
        if topic in self._subscriptions:
            return

        def store(msg) -> None:
            received_ns = time.time_ns()
            with self._arrived:
                self.messages[topic].append(msg)
                self.arrivals[topic].append(received_ns)
                self._arrived.notify_all()

        self._subscriptions[topic] = self.node.create_subscription(msg_type, topic, store, qos)

    def wait_for_publishers(self, topic: str, timeout: float = 30.0) -> None:
        """Wait until our subscription to `topic` has matched a publisher. The publisher may match
        our reader a little later, and a volatile publisher's messages of that moment are lost to
        us: listen with TRANSIENT_LOCAL to a publisher that keeps its history (the tracker's
        statuses), or wait for a message rather than for the match."""
        subscription = self._subscriptions[topic]
        self.wait_until(lambda: subscription.get_publisher_count() > 0, timeout, f"publisher of {topic}")

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
        self._publish_through_back_pressure(topic, data)

    def publish(self, topic: str, msg, reliable: bool = True) -> None:
        self.advertise(topic, type(msg), reliable)
        self._publish_through_back_pressure(topic, msg)

    def _publish_through_back_pressure(self, topic: str, msg) -> None:
        """Publish; while the writer refuses, publish again until BACK_PRESSURE_S has passed.
        A reliable writer whose history is full of samples its readers have not acknowledged
        blocks (Fast DDS: up to its max_blocking_time) and then refuses the sample ("cannot
        publish data"); that is back-pressure from a slower reader, not a broken topic, and the
        sample goes through once the reader has caught up (ros2/rmw#209)."""
        deadline = time.monotonic() + BACK_PRESSURE_S
        while True:
            try:
                self._publishers[topic].publish(msg)
                return
            except _rclpy.RCLError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(BACK_PRESSURE_POLL_S)  # no event says when the writer has room again

    def subscription_count(self, topic: str) -> int:
        """How many subscriptions our publisher of `topic` has matched."""
        return self._publishers[topic].get_subscription_count()

    def wait_for_subscribers(self, topic: str, timeout: float = 15.0) -> None:
        """Wait until our publisher of `topic` has matched a subscriber. From then on a reliable
        reader gets what we publish (the writer keeps it until the reader, once it has matched us
        too, acknowledges it); a best-effort reader may still miss the first messages, so
        lock-step sends repeat until answered."""
        self.wait_until(
            lambda: self.subscription_count(topic) > 0, timeout, f"subscriber on {topic}"
        )

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
    def call(self, srv_type, name: str, request, timeout: float = 15.0, idempotent: bool = False):
        """The response of service `name` to `request`. idempotent: send the request again every
        LOST_RESPONSE_S while no response has come. Fast DDS drops a response when the server has
        not yet discovered the new client's reader (it waits 100 ms: "failed to send response
        (timeout): client will not receive response"), which happens on a loaded machine even
        after wait_for_service; only a request that may be repeated can be recovered so."""
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available")
            deadline = time.monotonic() + timeout
            futures = [client.call_async(request)]
            answered = lambda: any(f.done() for f in futures)  # noqa: E731
            while not answered():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for response of {name}")
                try:
                    wait = min(remaining, LOST_RESPONSE_S) if idempotent else remaining
                    self.wait_until(answered, wait, f"response of {name}")
                except TimeoutError:
                    if idempotent:
                        futures.append(client.call_async(request))
            return next(f for f in futures if f.done()).result()
        finally:
            self.node.destroy_client(client)


LOST_RESPONSE_S = 3.0  # a response not there by then was dropped (an idempotent call asks again)
