"""Stand-in ArduPilot autopilots for the bridge's tests, written from ArduPilot's AP_Camera sources
(read with the search tool; nothing copied): what the autopilot does on the link, nothing more.

* `MavlinkCameraBackend` (AP_Camera_MAVLinkCamV2, CAMx_TYPE = MAVLink Camera v2): finds the
  camera by a HEARTBEAT of type MAV_TYPE_CAMERA from the configured component id, asks for
  CAMERA_INFORMATION with MAV_CMD_REQUEST_MESSAGE once a second until it arrives from that
  address, and forwards tracking commands to that camera.
* `OnboardTracking` (AP_Camera_Tracking, CAMx_TRK_ENABLE = 1 with CAMx_TRK_SYSID / _COMPID):
  accepts CAMERA_INFORMATION only from the configured address and never asks for it; refuses a
  tracking request when the cached capability flags lack it; finds the tracker's link by its
  HEARTBEAT type and component id (MAV_TYPE_ONBOARD_CONTROLLER in one version of the source,
  MAV_TYPE_CAMERA in another) and refuses when the system id found differs from CAMx_TRK_SYSID;
  sends COMMAND_LONG with confirmation 0, a point as param1/param2 only.

Both send the autopilot's own HEARTBEAT (system 1, component 1) once a second, as ArduPilot does.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pymavlink import mavutil

from hit_tracker_ros.mavlink.camera_protocol import mav

AUTOPILOT = (1, mav.MAV_COMP_ID_AUTOPILOT1)


class Autopilot:
    """The link side every stand-in shares: heartbeats out, every message received recorded."""

    def __init__(self, url: str) -> None:
        self.conn = mavutil.mavlink_connection(
            url, source_system=AUTOPILOT[0], source_component=AUTOPILOT[1], dialect="common"
        )
        self.received: list[tuple[float, Any]] = []
        self.heartbeats: dict[tuple[int, int], tuple[int, float]] = {}  # address -> (type, when)
        self.beating = threading.Event()
        self.beating.set()
        self._cond = threading.Condition()
        self._lock = threading.Lock()
        self._running = True
        self._closed = threading.Event()  # wakes the periodic loops at once on close()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._read, self._beat)]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._running = False
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.conn.close()

    def _beat(self) -> None:
        while self._running:
            if self.beating.is_set():
                with self._lock:
                    self.conn.mav.heartbeat_send(
                        mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, mav.MAV_STATE_ACTIVE
                    )
            self._closed.wait(1.0)  # time is the behaviour: ArduPilot's 1 Hz HEARTBEAT

    def _read(self) -> None:
        while self._running:
            try:
                msg = self.conn.recv_match(blocking=True, timeout=0.1)
            except OSError:
                self._closed.wait(0.05)  # time is the behaviour: back off from a socket error
                continue
            if msg is None or msg.get_type() == "BAD_DATA":
                continue
            address = (msg.get_srcSystem(), msg.get_srcComponent())
            with self._cond:
                if msg.get_type() == "HEARTBEAT":
                    self.heartbeats[address] = (msg.type, time.monotonic())
                self.received.append((time.monotonic(), msg))
                self.handle(msg, address)
                self._cond.notify_all()

    def handle(self, msg: Any, address: tuple[int, int]) -> None:
        """A stand-in's reaction to a message (called with the condition held)."""

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"stand-in autopilot: no {what} within {timeout:g} s")
                self._cond.wait(remaining)

    def find_by_type_and_compid(self, mav_type: int, compid: int) -> int | None:
        """GCS_MAVLINK::find_by_mavtype_and_compid: the system id of a component of that type."""
        with self._cond:
            for (system, component), (kind, _) in self.heartbeats.items():
                if kind == mav_type and component == compid:
                    return system
        return None

    def send_command(self, target: tuple[int, int], command: int, *params: float) -> float:
        p = list(params) + [0.0] * (7 - len(params))
        sent = time.monotonic()
        with self._lock:
            self.conn.mav.command_long_send(target[0], target[1], command, 0, *p)
        return sent

    def ack(self, command: int, since: float, timeout: float = 15.0):
        """The final COMMAND_ACK of `command` after `since` addressed to the autopilot."""

        def found():
            return next(
                (
                    m
                    for t, m in self.received
                    if t >= since
                    and m.get_type() == "COMMAND_ACK"
                    and m.command == command
                    and m.result != mav.MAV_RESULT_IN_PROGRESS
                    and (m.target_system, m.target_component) == AUTOPILOT
                ),
                None,
            )

        return self.wait(found, timeout, f"ACK of command {command}")

    def messages(self, kind: str, since: float = 0.0) -> list:
        with self._cond:
            return [m for t, m in self.received if t >= since and m.get_type() == kind]


class MavlinkCameraBackend(Autopilot):
    """AP_Camera_MAVLinkCamV2 as the link sees it (CAMx_MAVLINK_COMPID = `compid`)."""

    def __init__(self, url: str, compid: int = mav.MAV_COMP_ID_CAMERA) -> None:
        self.compid = compid
        self.camera: tuple[int, int] | None = None
        self.camera_info: Any = None
        self.requests = 0
        super().__init__(url)
        threading.Thread(target=self._find_camera, daemon=True).start()

    def _find_camera(self) -> None:
        """find_camera(): the camera by HEARTBEAT type and component id, then CAMERA_INFORMATION
        requested once a second until it comes."""
        while self._running and self.camera_info is None:
            system = self.find_by_type_and_compid(mav.MAV_TYPE_CAMERA, self.compid)
            if system is not None:
                self.camera = (system, self.compid)
                self.requests += 1
                info = mav.MAVLINK_MSG_ID_CAMERA_INFORMATION
                self.send_command(self.camera, mav.MAV_CMD_REQUEST_MESSAGE, info)
            self._closed.wait(1.0)  # time is the behaviour: find_camera() asks once a second

    def handle(self, msg: Any, address: tuple[int, int]) -> None:
        if msg.get_type() == "CAMERA_INFORMATION" and address == self.camera:
            self.camera_info = msg

    def track_rectangle(self, rect: tuple[float, float, float, float]) -> float:
        return self.send_command(self.camera, mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, *rect)

    def stop_tracking(self) -> float:
        return self.send_command(self.camera, mav.MAV_CMD_CAMERA_STOP_TRACKING)


class OnboardTracking(Autopilot):
    """AP_Camera_Tracking with CAMx_TRK_ENABLE = 1, CAMx_TRK_SYSID = `sysid`, CAMx_TRK_COMPID =
    `compid`, looking for the tracker's HEARTBEAT of type `heartbeat_type`."""

    def __init__(
        self,
        url: str,
        sysid: int = 1,
        compid: int = mav.MAV_COMP_ID_ONBOARD_COMPUTER,
        heartbeat_type: int = mav.MAV_TYPE_ONBOARD_CONTROLLER,
    ) -> None:
        self.tracker, self.heartbeat_type = (sysid, compid), heartbeat_type
        self.cam_info: Any = None  # the cached CAMERA_INFORMATION (flags checked before tracking)
        super().__init__(url)

    def handle(self, msg: Any, address: tuple[int, int]) -> None:
        # handle_message_camera_information: only from the configured tracking device
        if msg.get_type() == "CAMERA_INFORMATION" and address == self.tracker:
            self.cam_info = msg

    def forget(self) -> None:
        """A reboot: the cached CAMERA_INFORMATION is gone."""
        with self._cond:
            self.cam_info = None

    def set_tracking(self, mode: str, top_left=(0.0, 0.0), bottom_right=(0.0, 0.0)) -> float | str:
        """The command sent (its time), or why the autopilot refused to send one."""
        flags = self.cam_info.flags if self.cam_info is not None else 0
        if mode == "point" and not flags & mav.CAMERA_CAP_FLAGS_HAS_TRACKING_POINT:
            return "camera doesn't support track point"
        if mode == "rectangle" and not flags & mav.CAMERA_CAP_FLAGS_HAS_TRACKING_RECTANGLE:
            return "camera doesn't support track rectangle"
        system = self.find_by_type_and_compid(self.heartbeat_type, self.tracker[1])
        if system is None:
            return "could not find any onboard controller registered"
        if system != self.tracker[0]:
            return "found a controller, but not the one declared in the parameters"
        if mode == "point":
            return self.send_command(self.tracker, mav.MAV_CMD_CAMERA_TRACK_POINT, *top_left)
        if mode == "rectangle":
            corners = (*top_left, *bottom_right)
            return self.send_command(self.tracker, mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, *corners)
        return self.send_command(self.tracker, mav.MAV_CMD_CAMERA_STOP_TRACKING)
