"""Read a running ROS graph the way `ros2 node info`, `ros2 lifecycle get` and `ros2 param get` do
(used by the launch tests and the README command test; no test framework in here)."""

from __future__ import annotations

import time

import rclpy
from lifecycle_msgs.srv import GetState
from rcl_interfaces.srv import GetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from waiting import until

from hit_tracker_ros.ros.tools.dds_client import LOST_RESPONSE_S


class GraphProbe:
    """One rclpy node that answers questions about other nodes, waiting for them where needed."""

    def __init__(self, name: str = "graph_probe") -> None:
        self.context = rclpy.Context()  # its own, so that it never meets another test's rclpy.init
        rclpy.init(context=self.context)
        self.node: Node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._clients: dict = {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    def _call(self, srv_type, name: str, request, timeout: float):
        """One request. The client is kept for the next ask: a server that has not yet discovered
        a new client's reader drops its response (Fast DDS: "failed to send response"), and a
        request asked again through the same client, once matched, is answered."""
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} did not appear within {timeout:.0f} s")
        future = client.call_async(request)
        self.executor.spin_until_future_complete(future, timeout_sec=timeout)
        if not future.done():
            client.remove_pending_request(future)
            raise TimeoutError(f"service {name} did not answer within {timeout:.0f} s")
        return future.result()

    def _ask(self, srv_type, name: str, request, timeout: float):
        """An idempotent question: asked again every LOST_RESPONSE_S (the DDS client's: a response
        not there by then was dropped) until answered or `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            ask_s = min(LOST_RESPONSE_S, max(deadline - time.monotonic(), 0.1))
            try:
                return self._call(srv_type, name, request, ask_s)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise

    def lifecycle_state(self, fqn: str, timeout: float = 10.0) -> str:
        return self._ask(GetState, f"{fqn}/get_state", GetState.Request(), timeout).current_state.label

    def wait_active(self, fqn: str, timeout: float = 60.0) -> None:
        """Until the lifecycle node `fqn` reports 'active' (node processes take seconds to import)."""
        deadline = time.monotonic() + timeout
        state = ["not started"]

        def active() -> bool:
            try:
                state[0] = self.lifecycle_state(fqn, timeout=max(1.0, deadline - time.monotonic()))
            except TimeoutError as exc:
                state[0] = str(exc)
            return state[0] == "active"

        try:
            until(active, timeout, f"{fqn} active", poll=0.2)
        except TimeoutError:
            raise AssertionError(f"{fqn} is not active after {timeout:.0f} s ({state[0]})") from None

    def parameters(self, fqn: str, names: list[str], timeout: float = 10.0) -> dict:
        request = GetParameters.Request(names=list(names))
        values = self._ask(GetParameters, f"{fqn}/get_parameters", request, timeout).values
        return {name: parameter_value_to_python(value) for name, value in zip(names, values, strict=True)}

    def _endpoints(self, fqn: str, publishers: bool) -> dict[str, list[str]]:
        namespace, _, name = fqn.rpartition("/")
        query = (
            self.node.get_publisher_names_and_types_by_node
            if publishers
            else self.node.get_subscriber_names_and_types_by_node
        )
        try:
            return dict(query(name, namespace or "/"))
        except RuntimeError:  # rclpy's NodeNameNonExistentError
            return {}  # discovery has not reached this process yet

    def wait_endpoints(
        self, fqn: str, wanted: dict[str, str], publishers: bool, timeout: float = 15.0
    ) -> dict[str, list[str]]:
        """The node's topics (topic -> types) once every `wanted` topic of its type is among them
        (discovery lags the node's services), or what there is after `timeout`."""
        def complete() -> dict[str, list[str]] | None:
            found = self._endpoints(fqn, publishers)
            return found if all(t in found.get(topic, []) for topic, t in wanted.items()) else None

        try:
            return until(complete, timeout, f"{fqn}'s topics", poll=0.1)
        except TimeoutError:
            return self._endpoints(fqn, publishers)

    def lifecycle_nodes(self) -> set[str]:
        """Nodes that offer lifecycle state (as `ros2 lifecycle nodes` finds them)."""
        suffix = "/get_state"
        return {
            name[: -len(suffix)]
            for name, types in self.node.get_service_names_and_types()
            if name.endswith(suffix) and "lifecycle_msgs/srv/GetState" in types
        }
