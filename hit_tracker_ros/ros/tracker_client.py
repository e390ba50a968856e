"""One client of a tracker node's services: `~/init`, `~/stop`, `~/remove` and its
`lost_threshold` parameter, for the MAVLink bridge (worker threads), the operator page (asyncio)
and the tools and tests. One implementation builds the requests, waits for discovery, applies the
timeout and words the failures; the async face runs it on a worker thread.

The calls block their thread until the answer (or the timeout): never call the sync face from
the executor thread that spins the node (its responses would never be taken).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import numpy as np
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from std_srvs.srv import Trigger

from hit_tracker_ros.srv import InitTarget, RemoveTarget

from .conversions import ns_to_time, xywh_to_bbox

TIMEOUT_S = 3.0  # for an answer, once the service is there
DISCOVERY_S = 1.0  # for the service to appear (discovery may still be under way)


@dataclass(frozen=True)
class Answer:
    """A service's answer, or why there is none (success False, message the reason)."""

    success: bool
    message: str
    track_id: str = ""


def init_request(box, stamp_ns: int = 0, label: str = "", track_id: str = "") -> InitTarget.Request:
    """The InitTarget request for [x, y, w, h] on the image stamped `stamp_ns` (0: the newest)."""
    request = InitTarget.Request()
    request.header.stamp = ns_to_time(stamp_ns)
    request.bbox = xywh_to_bbox(np.asarray(box, dtype=np.float64))
    request.label = label
    request.track_id = track_id
    return request


def threshold_request(value: float) -> SetParameters.Request:
    request = SetParameters.Request()
    request.parameters = [
        Parameter(
            name="lost_threshold",
            value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=float(value)),
        )
    ]
    return request


class TrackerClient:
    """The services of the tracker node `tracker` (fully qualified name), called from `node`."""

    def __init__(
        self, node, tracker: str, timeout_s: float = TIMEOUT_S, discovery_s: float = DISCOVERY_S
    ) -> None:
        self.node, self.tracker = node, tracker.rstrip("/")
        self.timeout_s, self.discovery_s = timeout_s, discovery_s
        self._clients = {
            "init": node.create_client(InitTarget, f"{self.tracker}/init"),
            "stop": node.create_client(Trigger, f"{self.tracker}/stop"),
            "remove": node.create_client(RemoveTarget, f"{self.tracker}/remove"),
            "parameters": node.create_client(SetParameters, f"{self.tracker}/set_parameters"),
        }

    def destroy(self) -> None:
        for client in self._clients.values():
            self.node.destroy_client(client)
        self._clients = {}

    @property
    def reachable(self) -> bool:
        """Whether the tracker's ~/init service is discovered."""
        return bool(self._clients) and self._clients["init"].service_is_ready()

    # ------------------------------------------------------------------ sync face
    def init(self, box, stamp_ns: int = 0, label: str = "", track_id: str = "") -> Answer:
        return self.call("init", init_request(box, stamp_ns, label, track_id))

    def stop(self) -> Answer:
        return self.call("stop", Trigger.Request())

    def remove(self, track_id: str) -> Answer:
        answer = self.call("remove", RemoveTarget.Request(track_id=track_id))
        return Answer(answer.success, answer.message, track_id)

    def set_lost_threshold(self, value: float) -> Answer:
        return self.call("parameters", threshold_request(value))

    def call(self, name: str, request) -> Answer:
        """The one implementation: discovery, the call, the timeout, the wording."""
        client = self._clients[name]
        if not client.service_is_ready() and not client.wait_for_service(timeout_sec=self.discovery_s):
            return Answer(False, f"the tracker ({client.srv_name}) is not reachable")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.timeout_s):
            client.remove_pending_request(future)
            return Answer(
                False, f"the tracker ({client.srv_name}) did not answer within {self.timeout_s:g} s"
            )
        return _answer(future.result())

    # ------------------------------------------------------------------ async face
    async def init_async(self, box, stamp_ns: int = 0, label: str = "", track_id: str = "") -> Answer:
        return await self.call_async("init", init_request(box, stamp_ns, label, track_id))

    async def stop_async(self) -> Answer:
        return await self.call_async("stop", Trigger.Request())

    async def remove_async(self, track_id: str) -> Answer:
        answer = await self.call_async("remove", RemoveTarget.Request(track_id=track_id))
        return Answer(answer.success, answer.message, track_id)

    async def set_lost_threshold_async(self, value: float) -> Answer:
        return await self.call_async("parameters", threshold_request(value))

    async def call_async(self, name: str, request) -> Answer:
        """`call` on a worker thread, awaited without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self.call, name, request)


def _answer(response) -> Answer:
    if isinstance(response, SetParameters.Response):
        result = response.results[0]
        return Answer(result.successful, result.reason)
    return Answer(bool(response.success), str(response.message), str(getattr(response, "track_id", "")))
