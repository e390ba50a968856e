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
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Vector3Stamped

from hit_tracker_ros.msg import TrackerStatus

from ..mavlink import camera_protocol as protocol
from ..mavlink.camera_protocol import IntervalRequest, Reply, StopRequest, TrackRequest, TrackView, mav
from ..mavlink.command_queue import MAX_AGE_S, CommandQueue
from ..mavlink.link import MavlinkLink
from .conversions import stamp_to_ns
from .managed_node import Health, ManagedNode
from .node_main import spin_node
from .parameters import ParameterSpec, defaults
from .refusals import NO_IMAGE_YET, NOT_ACTIVE
from .tracker_client import TrackerClient

SERVICE_TIMEOUT_S = 3.0
IN_PROGRESS_AFTER_S = 0.3  # a command still running then gets an IN_PROGRESS ACK (clients resend)
AUTOPILOT_LOST_S = 3.0  # no autopilot HEARTBEAT this long: it reconnected when it comes back
ROLES = {"camera": mav.MAV_TYPE_CAMERA, "onboard_controller": mav.MAV_TYPE_ONBOARD_CONTROLLER}
GIMBAL_OUTPUTS = ("none", "mavlink")
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
    ParameterSpec(
        "component_id", 100, "MAVLink component id (100: MAV_COMP_ID_CAMERA; 191: the onboard computer)"
    ),
    ParameterSpec(
        "role",
        "camera",
        "camera: a MAVLink camera (ground stations, ArduPilot's MAVLink camera backend); "
        "onboard_controller: ArduPilot's onboard tracking (CAMx_TRK_*): the heartbeat type "
        "`onboard_heartbeat` and CAMERA_INFORMATION sent unprompted",
    ),
    ParameterSpec(
        "onboard_heartbeat",
        "onboard_controller",
        "heartbeat type in the onboard_controller role: onboard_controller (MAV_TYPE_ONBOARD_CONTROLLER) "
        "or camera (MAV_TYPE_CAMERA), whichever your ArduPilot's AP_Camera_Tracking looks for",
    ),
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
        "status_timeout", 1.0, "no tracker status for this long during a track: tracking_status ERROR"
    ),
    ParameterSpec(
        "gimbal_output",
        "none",
        "mavlink: send the follow controller's gimbal rates to the autopilot's gimbal manager "
        "(GIMBAL_MANAGER_SET_PITCHYAW); none: off",
    ),
    ParameterSpec(
        "gimbal_rate_topic",
        "follow_controller/gimbal_rate",
        "the follow controller's ~/gimbal_rate (Vector3Stamped, REP-103; relative: in this namespace)",
    ),
    ParameterSpec("gimbal_device_id", 0, "GIMBAL_MANAGER_SET_PITCHYAW gimbal_device_id (0: every gimbal)"),
    ParameterSpec(
        "gimbal_target_component", 1, "component of the gimbal manager (1: the autopilot), in system_id"
    ),
    ParameterSpec(
        "gimbal_timeout", 0.5, "no gimbal rate for this long: the gimbal is sent zero rates (fail to zero)"
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
        self._commands = CommandQueue()
        self._latest: _Seen | None = None
        self._history: deque[_Seen] = deque()
        self._modes: dict[str, int] = {}
        self._pending_mode: int | None = None  # the mode of the track being started
        self._was_active = False
        self._active_until = 0.0
        self._last_stream = 0.0
        self._credit, self._last_credit = 1.0, 0.0  # token bucket of the status stream
        # per requester (system, component): the status interval it set (0: off); absent: default
        self._intervals: dict[tuple[int, int], float] = {}
        self._track_owner: tuple[int, int] | None = None  # who started the running track
        self._autopilot_seen = -math.inf  # the autopilot's last HEARTBEAT (onboard_controller role)
        self._autopilot_has_info = False  # it forwarded a command: it has our CAMERA_INFORMATION
        self._gimbal_last = -math.inf  # arrival of the last gimbal rate (gimbal_output mavlink)
        self._gimbal_moving = False  # the last rates sent were not zero
        self._gimbal_sent = 0
        self._statustext_id = 0
        self._results: Counter[str] = Counter()
        self._last_result = ""
        self._subs: list = []
        self._tracker: TrackerClient | None = None
        self.start()

    # ------------------------------------------------------------------ lifecycle
    def configure(self) -> None:
        for name in ("status_rate_hz", "status_timeout"):
            if not float(self.param(name)) > 0:
                raise ValueError(f"{name} must be > 0")
        if float(self.param("video_latency")) < 0:
            raise ValueError("video_latency must be >= 0")
        if not float(self.param("gimbal_timeout")) > 0:
            raise ValueError("gimbal_timeout must be > 0")
        for name in ("system_id", "component_id"):
            if not 1 <= int(self.param(name)) <= 255:
                raise ValueError(f"{name} must lie in 1..255")
        choices_of = {"role": ROLES, "onboard_heartbeat": ROLES, "gimbal_output": GIMBAL_OUTPUTS}
        for name, choices in choices_of.items():
            if str(self.param(name)) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}")
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
        if str(self.param("gimbal_output")) == "mavlink":
            topic = str(self.param("gimbal_rate_topic"))
            self._subs.append(self.create_subscription(Vector3Stamped, topic, self._on_gimbal_rate, 10))
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
        """Stop the threads and close the link (a moving gimbal is stopped first)."""
        if self._gimbal_moving and self._link is not None:
            self._send_gimbal(0.0, 0.0)
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

    def _on_gimbal_rate(self, msg: Vector3Stamped) -> None:
        """The follow controller's rates (REP-103: pitch about +y, positive down; yaw about +z,
        positive left) as MAVLink's (pitch positive up, yaw positive right), at the controller's
        rate. The controller already sends zero on stop, LOST and stale statuses."""
        pitch_up, yaw_right = -float(msg.vector.y), -float(msg.vector.z)
        if not (math.isfinite(pitch_up) and math.isfinite(yaw_right)):
            pitch_up = yaw_right = 0.0  # never forward a NaN to a gimbal
        self._gimbal_last = time.monotonic()
        self._send_gimbal(pitch_up, yaw_right)

    def _send_gimbal(self, pitch_rate: float, yaw_rate: float) -> None:
        self._link.send(
            "gimbal_manager_set_pitchyaw",
            target_system=int(self.param("system_id")),
            target_component=int(self.param("gimbal_target_component")),
            flags=mav.GIMBAL_MANAGER_FLAGS_YAW_IN_VEHICLE_FRAME,
            gimbal_device_id=int(self.param("gimbal_device_id")),
            pitch=math.nan,  # NaN angles: rates only
            yaw=math.nan,
            pitch_rate=pitch_rate,
            yaw_rate=yaw_rate,
        )
        self._gimbal_moving = pitch_rate != 0.0 or yaw_rate != 0.0
        self._gimbal_sent += 1

    def _gimbal_watchdog(self, now: float) -> None:
        """No rate from the controller for gimbal_timeout while the gimbal moves: zero rates."""
        if self._gimbal_moving and now - self._gimbal_last > float(self.param("gimbal_timeout")):
            self._send_gimbal(0.0, 0.0)
            self.get_logger().warning("no gimbal rate from the follow controller: gimbal stopped")

    def _view(self, now: float) -> TrackView:
        with self._lock:
            latest, was_active = self._latest, self._was_active
        if latest is None or now - latest.arrival > float(self.param("status_timeout")):
            return TrackView("UNREACHABLE" if was_active else "IDLE")
        s = latest.status
        if s.state == TrackerStatus.IDLE:
            return TrackView("IDLE")
        mode = self._modes.get(s.track_id, self._pending_mode or mav.CAMERA_TRACKING_MODE_RECTANGLE)
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
            self._pending_mode = action.mode  # statuses of the new track before its id is known
            response = self._tracker.init(protocol.pixel_box(action, size), stamp_ns, "mavlink")
            if response.success:
                self._modes[response.track_id] = action.mode
            self._pending_mode = None  # tracks started elsewhere are not ours to name
        if not response.success and response.message.startswith("the tracker ("):
            return mav.MAV_RESULT_TEMPORARILY_REJECTED, response.message  # not reachable, no answer
        if response.success:
            if isinstance(action, TrackRequest):
                with self._lock:  # active from now on, even before its first status arrives
                    self._was_active = True
                    self._active_until = time.monotonic() + STREAM_TAIL_S
                while len(self._modes) > 64:
                    self._modes.pop(next(iter(self._modes)))
            return mav.MAV_RESULT_ACCEPTED, ""
        if response.message.startswith(NOT_ACTIVE) or NO_IMAGE_YET in response.message:
            return mav.MAV_RESULT_TEMPORARILY_REJECTED, response.message
        return mav.MAV_RESULT_FAILED, response.message

    # ------------------------------------------------------------------ MAVLink side
    def _read_loop(self) -> None:
        system_id, component_id = int(self.param("system_id")), int(self.param("component_id"))
        while self._running.is_set():
            msg = self._link.recv(0.2)
            if msg is None:
                continue
            if msg.get_type() == "HEARTBEAT":
                self._on_heartbeat(msg, system_id)
                continue
            command = protocol.command_of(msg, system_id, component_id)
            if command is not None:
                self._on_command(command)

    def _on_heartbeat(self, msg, system_id: int) -> None:
        """The vehicle's autopilot: after it reconnects it needs CAMERA_INFORMATION again."""
        if msg.get_srcSystem() != system_id or msg.autopilot == mav.MAV_AUTOPILOT_INVALID:
            return
        now = time.monotonic()
        if now - self._autopilot_seen > AUTOPILOT_LOST_S:
            self._autopilot_has_info = False
        self._autopilot_seen = now

    def _on_command(self, command: protocol.Command) -> None:
        if command.source[1] == mav.MAV_COMP_ID_AUTOPILOT1:
            self._autopilot_has_info = True  # it forwards commands only with our capabilities known
        try:
            action = protocol.interpret(command)
        except Exception as exc:  # noqa: BLE001 - a command we mis-read must still be answered
            action = Reply(mav.MAV_RESULT_FAILED, f"internal error: {exc!r}")
        if isinstance(action, Reply):
            self._answer(command, action.result, action.text, quiet=action.quiet)
            self._send_requested(action.then)
        elif isinstance(action, IntervalRequest):
            # under the stream lock, which decides and sends each status: every status that
            # follows this ACK on the link was decided with the new interval
            with self._stream_lock:
                with self._lock:
                    if action.interval_s is None:
                        self._intervals.pop(command.source, None)
                    else:
                        self._intervals[command.source] = action.interval_s
                self._answer(command, mav.MAV_RESULT_ACCEPTED)
        else:
            again = self._commands.retransmission(command)
            if again is not None:  # the same command resent: never run twice
                kind, result, reason = again
                if kind == "in_progress":
                    self._answer(command, mav.MAV_RESULT_IN_PROGRESS, quiet=True)
                else:
                    self._answer(command, result, reason, quiet=True)
                return
            try:
                replaced = self._commands.put(command, action)
            except OverflowError as exc:
                self._answer(command, mav.MAV_RESULT_TEMPORARILY_REJECTED, str(exc))
                return
            for old in replaced:
                self._answer(
                    old.command,
                    mav.MAV_RESULT_TEMPORARILY_REJECTED,
                    "replaced by a newer command from the same sender",
                    quiet=True,
                )

    def _command_loop(self) -> None:
        while self._running.is_set():
            taken = self._commands.take(0.2)
            if taken is None:
                continue
            item, fresh = taken
            if not fresh:
                result, reason = (
                    mav.MAV_RESULT_TEMPORARILY_REJECTED,
                    f"waited over {MAX_AGE_S:g} s behind other commands; send it again",
                )
            else:
                progress = threading.Timer(
                    IN_PROGRESS_AFTER_S,
                    lambda c=item.command: self._answer(c, mav.MAV_RESULT_IN_PROGRESS, quiet=True),
                )
                progress.start()
                try:
                    result, reason = self._execute(item.action)
                except Exception as exc:  # noqa: BLE001 - every command gets its ACK
                    result, reason = mav.MAV_RESULT_FAILED, f"internal error: {exc!r}"
                finally:
                    progress.cancel()
                    progress.join()
                if result == mav.MAV_RESULT_ACCEPTED and isinstance(item.action, TrackRequest):
                    with self._lock:
                        self._track_owner = item.command.source
            self._commands.done(item, result, reason)
            self._answer(item.command, result, reason)

    def _send_loop(self) -> None:
        next_heartbeat = 0.0
        onboard = str(self.param("role")) == "onboard_controller"
        heartbeat_type = ROLES[str(self.param("onboard_heartbeat")) if onboard else "camera"]
        while self._running.is_set():
            now = time.monotonic()
            if now >= next_heartbeat:
                next_heartbeat = now + 1.0
                self._link.send(
                    "heartbeat",
                    type=heartbeat_type,
                    autopilot=mav.MAV_AUTOPILOT_INVALID,
                    base_mode=0,
                    custom_mode=0,
                    system_status=mav.MAV_STATE_ACTIVE,
                )
                if onboard and not self._autopilot_has_info:
                    # ArduPilot's onboard tracking never asks: it must be told, until it has it
                    self._send_requested("camera_information")
            self._stream_if_due(now, fill_in=True)
            self._gimbal_watchdog(now)
            time.sleep(0.01)

    def _stream_interval(self, now: float) -> float | None:
        """Seconds between statuses, None for no stream. A requester's positive interval streams
        always (the shortest wins); otherwise a running track streams at status_rate_hz unless
        the client that started it switched the stream off (interval -1)."""
        with self._lock:
            intervals, owner = dict(self._intervals), self._track_owner
        positive = [v for v in intervals.values() if v > 0]
        if positive:
            return min(positive)
        wanted = now < self._active_until or self._view_is_error(now)
        if wanted and intervals.get(owner) != 0.0:
            return 1.0 / float(self.param("status_rate_hz"))
        return None

    def _stream_if_due(self, now: float, fill_in: bool = False) -> None:
        """Send the tracking status when the stream is on. A new status goes out at once (lowest
        latency) as long as a token bucket at the stream rate allows (so 30 Hz statuses give 20 Hz
        exactly, not every other one); the sender thread fills in when statuses stop coming (a
        tracker gone silent reads as ERROR). Decided and sent under one lock, so that a status
        never follows the ACK of an interval change it was decided before."""
        with self._stream_lock:
            interval = self._stream_interval(now)
            if interval is None:
                return
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
        elif message:
            boot_ms = int(time.monotonic() * 1000) % 2**32
            self._link.send(message, **protocol.requested_fields(message, boot_ms))

    def _answer(self, command: protocol.Command, result: int, reason: str = "", quiet: bool = False) -> None:
        """COMMAND_ACK to the sender, and the reason as STATUSTEXT when the command failed (not for
        `quiet` answers: routine refusals and retransmissions)."""
        name = mav.enums["MAV_RESULT"][result].name.removeprefix("MAV_RESULT_")
        self._results[name] += 1
        entry = mav.enums["MAV_CMD"].get(command.command)
        self._last_result = f"{entry.name if entry else command.command}: {name} {reason}".strip()
        self._link.send(
            "command_ack",
            command=command.command,
            result=result,
            progress=255 if result == mav.MAV_RESULT_IN_PROGRESS else 0,  # 255: progress unknown
            result_param2=0,
            target_system=command.source[0],
            target_component=command.source[1],
        )
        if reason and result != mav.MAV_RESULT_ACCEPTED and not quiet:
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
            "queued_commands": len(self._commands),
            "role": str(self.param("role")),
            "gimbal_output": str(self.param("gimbal_output")),
            "gimbal_commands_sent": self._gimbal_sent,
            "last_command": self._last_result,
            **{f"ack_{k.lower()}": v for k, v in self._results.items()},
            **{f"link_{k}": v for k, v in link_stats.items()},
        }
        return Health(level, summary, "mavlink", values)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C (`ros2 run hit_tracker_ros mavlink_bridge`)."""
    return spin_node(MavlinkBridge, MavlinkBridge.halt, args)
