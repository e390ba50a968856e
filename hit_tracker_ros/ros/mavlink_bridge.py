"""The lifecycle node `mavlink_bridge`: the tracker as a MAVLink camera (Camera Protocol v2).

A ground station (QGroundControl's tracking UI) or an autopilot talks to it as to any MAVLink
camera: HEARTBEAT, CAMERA_INFORMATION with the tracking capabilities, MAV_CMD_CAMERA_TRACK_* and
STOP_TRACKING answered with COMMAND_ACK, CAMERA_TRACKING_IMAGE_STATUS streamed while a track is
active. Commands become calls of the tracker node's `~/init` and `~/stop`.

Threads: the executor (main thread) receives the tracker's statuses; a reader thread parses the
link and answers what needs no tracker; a command thread calls the tracker's services one
command at a time (each command gets exactly one ACK); a sender thread keeps the heartbeat and
the status stream going. The ROS-free protocol is hit_tracker_ros.mavlink.camera_protocol.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus

from hit_tracker_ros.msg import TrackerStatus

from ..mavlink import camera_protocol as protocol
from ..mavlink.camera_protocol import IntervalRequest, Reply, StopRequest, TrackRequest, TrackView, mav
from ..mavlink.link import MavlinkLink
from .conversions import stamp_to_ns
from .managed_node import Health, ManagedNode
from .node_main import spin_node
from .parameters import ParameterSpec, defaults
from .refusals import NO_IMAGE_YET, NOT_ACTIVE
from .tracker_client import TrackerClient

SERVICE_TIMEOUT_S = 3.0
COMMAND_QUEUE = 2000  # a burst beyond this is answered TEMPORARILY_REJECTED at once
STREAM_TAIL_S = 1.0  # keep streaming this long after a track ends, so the GCS sees IDLE
HISTORY_S = 10.0  # statuses remembered for video_latency

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "mavlink_url",
        "udpout:127.0.0.1:14550",
        "pymavlink connection: udpin:/udpout:/tcp:/tcpin:host:port or /dev/tty,baud",
    ),
    ParameterSpec(
        "tracker", "/hit_tracker", "fully qualified name of the tracker node (its init, stop, status)"
    ),
    ParameterSpec("system_id", 1, "MAVLink system id (the vehicle's)"),
    ParameterSpec("component_id", 100, "MAVLink component id (100: MAV_COMP_ID_CAMERA)"),
    ParameterSpec(
        "status_rate_hz",
        20.0,
        "CAMERA_TRACKING_IMAGE_STATUS rate while tracking (SET_MESSAGE_INTERVAL changes it)",
    ),
    ParameterSpec(
        "video_latency",
        0.0,
        "seconds the ground station's video lags the camera; commands apply to that older frame",
    ),
    ParameterSpec(
        "point_box_fraction",
        0.1,
        "box side, as a fraction of the image width, for a track point without radius",
    ),
    ParameterSpec(
        "status_timeout", 1.0, "no tracker status for this long during a track: tracking_status ERROR"
    ),
    ParameterSpec("autostart", True, "configure and activate on startup"),
)


def parameter_defaults() -> dict[str, object]:
    """Every parameter of the node with its default (launch files and configs are tested against it)."""
    return defaults(PARAMETERS)


@dataclass(frozen=True)
class _Seen:
    """A tracker status as the bridge saw it."""

    status: TrackerStatus
    arrival: float  # time.monotonic()


class MavlinkBridge(ManagedNode):
    role = "mavlink bridge"
    parameters = PARAMETERS

    def __init__(self, node_name: str = "mavlink_bridge", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._lock = threading.Lock()
        self._stream_lock = threading.Lock()
        self._link: MavlinkLink | None = None
        self._threads: list[threading.Thread] = []
        self._running = threading.Event()
        self._commands: queue.Queue = queue.Queue(COMMAND_QUEUE)
        self._latest: _Seen | None = None
        self._history: deque[_Seen] = deque()
        self._modes: dict[str, int] = {}
        self._was_active = False
        self._active_until = 0.0
        self._last_stream = 0.0
        self._credit, self._last_credit = 1.0, 0.0  # token bucket of the status stream
        self._interval: float | None = None  # None: status_rate_hz; 0: off; else seconds
        self._stream_always = False  # a GCS asked for the stream with SET_MESSAGE_INTERVAL
        self._statustext_id = 0
        self._results: Counter[str] = Counter()
        self._last_result = ""
        self._subs: list = []
        self._tracker: TrackerClient | None = None
        self.start()

    # ------------------------------------------------------------------ lifecycle
    def configure(self) -> None:
        for name in ("status_rate_hz", "status_timeout", "point_box_fraction"):
            if not float(self.param(name)) > 0:
                raise ValueError(f"{name} must be > 0")
        if float(self.param("video_latency")) < 0:
            raise ValueError("video_latency must be >= 0")
        if not float(self.param("point_box_fraction")) <= 1:
            raise ValueError("point_box_fraction must be <= 1")
        for name in ("system_id", "component_id"):
            if not 1 <= int(self.param(name)) <= 255:
                raise ValueError(f"{name} must lie in 1..255")
        self._link = MavlinkLink(
            str(self.param("mavlink_url")),
            int(self.param("system_id")),
            int(self.param("component_id")),
            self.get_logger(),
        )
        self._tracker = TrackerClient(self, str(self.param("tracker")), SERVICE_TIMEOUT_S)

    def activate(self) -> None:
        tracker = str(self.param("tracker")).rstrip("/")
        self._subs = [self.create_subscription(TrackerStatus, f"{tracker}/status", self._on_status, 10)]
        self._running.set()
        self._threads = [
            threading.Thread(target=self._read_loop, name="mavlink_reader", daemon=True),
            threading.Thread(target=self._command_loop, name="mavlink_commands", daemon=True),
            threading.Thread(target=self._send_loop, name="mavlink_sender", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.get_logger().info(f"active: MAVLink camera on {self._link.url} for tracker {tracker}")

    def release(self) -> None:
        if self._tracker is not None:
            self._tracker.destroy()
            self._tracker = None

    def halt(self, reason: str = "stopped") -> None:
        """Stop the threads and close the link."""
        self._running.clear()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._link is not None:
            self._link.close()

    # ------------------------------------------------------------------ tracker side
    def _on_status(self, msg: TrackerStatus) -> None:
        seen = _Seen(msg, time.monotonic())
        with self._lock:
            self._latest = seen
            self._history.append(seen)
            while self._history and seen.arrival - self._history[0].arrival > HISTORY_S:
                self._history.popleft()
            active = msg.state != TrackerStatus.IDLE
            self._was_active = active
            if active:
                self._active_until = seen.arrival + STREAM_TAIL_S
        self._stream_if_due(seen.arrival)

    def _view(self, now: float) -> TrackView:
        with self._lock:
            latest, was_active = self._latest, self._was_active
        if latest is None or now - latest.arrival > float(self.param("status_timeout")):
            return TrackView("UNREACHABLE" if was_active else "IDLE")
        s = latest.status
        if s.state == TrackerStatus.IDLE:
            return TrackView("IDLE")
        mode = self._modes.get(s.track_id, mav.CAMERA_TRACKING_MODE_RECTANGLE)
        rect = (s.rec_top_x, s.rec_top_y, s.rec_bottom_x, s.rec_bottom_y)
        return TrackView(s.state_name, tuple(float(v) for v in rect), mode)

    def _frame_for_command(self) -> tuple[int, tuple[int, int]] | str:
        """(stamp, image size) of the frame the GCS showed (video_latency ago; 0 = the newest),
        or why there is none."""
        latency = float(self.param("video_latency"))
        now = time.monotonic()
        with self._lock:
            history = list(self._history)
        if not history or now - history[-1].arrival > float(self.param("status_timeout")):
            return "tracker is not publishing (inactive, no images or not running)"
        if history[-1].status.image_width == 0:
            return f"tracker has {NO_IMAGE_YET}"
        if latency == 0:
            newest = history[-1].status
            return 0, (newest.image_width, newest.image_height)
        shown = next((s for s in reversed(history) if s.arrival <= now - latency), history[0])
        return stamp_to_ns(shown.status.header.stamp), (shown.status.image_width, shown.status.image_height)

    def _execute(self, action: TrackRequest | StopRequest) -> tuple[int, str]:
        """(MAV_RESULT, reason) of a command that needs the tracker."""
        if isinstance(action, StopRequest):
            response = self._tracker.stop()
        else:
            frame = self._frame_for_command()
            if isinstance(frame, str):
                return mav.MAV_RESULT_TEMPORARILY_REJECTED, frame
            stamp_ns, size = frame
            response = self._tracker.init(protocol.pixel_box(action, size), stamp_ns, "mavlink")
        if not response.success and response.message.startswith("the tracker ("):
            return mav.MAV_RESULT_TEMPORARILY_REJECTED, response.message  # not reachable, no answer
        if response.success:
            if isinstance(action, TrackRequest):
                with self._lock:  # active from now on, even before its first status arrives
                    self._was_active = True
                    self._active_until = time.monotonic() + STREAM_TAIL_S
                self._modes[response.track_id] = action.mode
                while len(self._modes) > 64:
                    self._modes.pop(next(iter(self._modes)))
            return mav.MAV_RESULT_ACCEPTED, ""
        if response.message.startswith(NOT_ACTIVE) or NO_IMAGE_YET in response.message:
            return mav.MAV_RESULT_TEMPORARILY_REJECTED, response.message
        return mav.MAV_RESULT_FAILED, response.message

    # ------------------------------------------------------------------ MAVLink side
    def _read_loop(self) -> None:
        system_id, component_id = int(self.param("system_id")), int(self.param("component_id"))
        fraction = float(self.param("point_box_fraction"))
        while self._running.is_set():
            msg = self._link.recv(0.2)
            command = protocol.command_of(msg, system_id, component_id) if msg is not None else None
            if command is None:
                continue
            try:
                action = protocol.interpret(command, fraction)
            except Exception as exc:  # noqa: BLE001 - a command we mis-read must still be answered
                action = Reply(mav.MAV_RESULT_FAILED, f"internal error: {exc!r}")
            if isinstance(action, Reply):
                self._answer(command, action.result, action.text)
                self._send_requested(action.then)
            elif isinstance(action, IntervalRequest):
                self._interval = action.interval_s
                self._stream_always = bool(action.interval_s)
                self._answer(command, mav.MAV_RESULT_ACCEPTED)
            else:
                try:
                    self._commands.put_nowait((command, action))
                except queue.Full:
                    self._answer(
                        command, mav.MAV_RESULT_TEMPORARILY_REJECTED, "camera busy: too many commands"
                    )

    def _command_loop(self) -> None:
        while self._running.is_set():
            try:
                command, action = self._commands.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                result, reason = self._execute(action)
            except Exception as exc:  # noqa: BLE001 - every command gets its ACK
                result, reason = mav.MAV_RESULT_FAILED, f"internal error: {exc!r}"
            self._answer(command, result, reason)

    def _send_loop(self) -> None:
        next_heartbeat = 0.0
        while self._running.is_set():
            now = time.monotonic()
            if now >= next_heartbeat:
                next_heartbeat = now + 1.0
                self._link.send(
                    "heartbeat",
                    type=mav.MAV_TYPE_CAMERA,
                    autopilot=mav.MAV_AUTOPILOT_INVALID,
                    base_mode=0,
                    custom_mode=0,
                    system_status=mav.MAV_STATE_ACTIVE,
                )
            self._stream_if_due(now, fill_in=True)
            time.sleep(0.01)

    def _stream_if_due(self, now: float, fill_in: bool = False) -> None:
        """Send the tracking status when the stream is on. A new status goes out at once (lowest
        latency) as long as a token bucket at the stream rate allows (so 30 Hz statuses give 20 Hz
        exactly, not every other one); the sender thread fills in when statuses stop coming (a
        tracker gone silent reads as ERROR)."""
        interval = 1.0 / float(self.param("status_rate_hz")) if self._interval is None else self._interval
        wanted = self._stream_always or now < self._active_until or self._view_is_error(now)
        if interval <= 0 or not wanted:
            return
        with self._stream_lock:
            if fill_in:
                if now - self._last_stream < 1.5 * interval:
                    return
            else:
                self._credit = min(self._credit + (now - self._last_credit) / interval, 2.0)
                self._last_credit = now
                if self._credit < 1.0:
                    return
                self._credit -= 1.0
            self._last_stream = now
        self._send_tracking_status(now)

    def _view_is_error(self, now: float) -> bool:
        return self._view(now).state == "UNREACHABLE"

    def _send_tracking_status(self, now: float) -> None:
        self._link.send("camera_tracking_image_status", **protocol.tracking_status(self._view(now)))

    def _send_requested(self, message: str) -> None:
        if message == "camera_information":
            with self._lock:
                latest = self._latest
            size = (latest.status.image_width, latest.status.image_height) if latest else (0, 0)
            self._link.send(
                "camera_information",
                time_boot_ms=int(time.monotonic() * 1000) % 2**32,
                vendor_name=protocol.fixed_bytes("hit_tracker_ros", 32),
                model_name=protocol.fixed_bytes(latest.status.model if latest else "tracker", 32),
                firmware_version=0,
                focal_length=math.nan,
                sensor_size_h=math.nan,
                sensor_size_v=math.nan,
                resolution_h=int(size[0]),
                resolution_v=int(size[1]),
                lens_id=0,
                flags=protocol.CAPABILITIES,
                cam_definition_version=0,
                cam_definition_uri=b"",
            )
        elif message == "tracking_status":
            self._send_tracking_status(time.monotonic())

    def _answer(self, command: protocol.Command, result: int, reason: str = "") -> None:
        """COMMAND_ACK to the sender, and the reason as STATUSTEXT when the command failed."""
        name = mav.enums["MAV_RESULT"][result].name.removeprefix("MAV_RESULT_")
        self._results[name] += 1
        entry = mav.enums["MAV_CMD"].get(command.command)
        self._last_result = f"{entry.name if entry else command.command}: {name} {reason}".strip()
        self._link.send(
            "command_ack",
            command=command.command,
            result=result,
            progress=0,
            result_param2=0,
            target_system=command.source[0],
            target_component=command.source[1],
        )
        if reason and result != mav.MAV_RESULT_ACCEPTED:
            chunks = protocol.statustext_chunks(reason)
            self._statustext_id = self._statustext_id % 65535 + 1
            for text, seq in chunks:
                self._link.send(
                    "statustext",
                    severity=mav.MAV_SEVERITY_WARNING,
                    text=text,
                    id=self._statustext_id if len(chunks) > 1 else 0,
                    chunk_seq=seq,
                )

    # ------------------------------------------------------------------ diagnostics
    def health(self) -> Health:
        link_stats = dict(self._link.stats) if self._link else {}
        level = DiagnosticStatus.OK if self.lifecycle == "active" else DiagnosticStatus.WARN
        summary = f"{self.lifecycle}, {self._view(time.monotonic()).state}"
        values = {
            "mavlink_url": str(self.param("mavlink_url")),
            "tracker": str(self.param("tracker")),
            "tracker_reachable": self._tracker is not None and self._tracker.reachable,
            "queued_commands": self._commands.qsize(),
            "last_command": self._last_result,
            **{f"ack_{k.lower()}": v for k, v in self._results.items()},
            **{f"link_{k}": v for k, v in link_stats.items()},
        }
        return Health(level, summary, "mavlink", values)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C (`ros2 run hit_tracker_ros mavlink_bridge`)."""
    return spin_node(MavlinkBridge, MavlinkBridge.halt, args)
