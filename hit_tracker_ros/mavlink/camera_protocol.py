"""MAVLink Camera Protocol v2 (tracking part) as pure functions: which commands are ours, what
they ask, how a tracker status reads as CAMERA_TRACKING_IMAGE_STATUS.

LOST has no MAVLink equivalent. We report it as ACTIVE | COASTING (the track is alive, the target
is obscured) with target_data 0 and NaN coordinates: the box of a LOST track is the tracker's
guess, not a target, and anything that steers on this status must not follow it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import common as mav

from ..core.boxes import point_box

MSG_CAMERA_INFORMATION = mav.MAVLINK_MSG_ID_CAMERA_INFORMATION
MSG_TRACKING_STATUS = mav.MAVLINK_MSG_ID_CAMERA_TRACKING_IMAGE_STATUS
# What REQUEST_MESSAGE may ask for, and the message sent after the ACK. Ground stations ask for
# the camera's settings, storage and capture status whatever the capability flags say (QGC at
# connection, MAVSDK every 5 s): they get minimal truthful answers (a video camera, no storage,
# not capturing), so nothing is refused and nothing is logged.
REQUESTABLE = {
    MSG_CAMERA_INFORMATION: "camera_information",
    MSG_TRACKING_STATUS: "tracking_status",
    mav.MAVLINK_MSG_ID_CAMERA_SETTINGS: "camera_settings",
    mav.MAVLINK_MSG_ID_STORAGE_INFORMATION: "storage_information",
    mav.MAVLINK_MSG_ID_CAMERA_CAPTURE_STATUS: "camera_capture_status",
}
CAPABILITIES = mav.CAMERA_CAP_FLAGS_HAS_TRACKING_POINT | mav.CAMERA_CAP_FLAGS_HAS_TRACKING_RECTANGLE
STATUSTEXT_CHUNK = 50  # characters per STATUSTEXT (longer texts are sent in chunks with an id)

# Which parameter of each command names the target camera (0 or absent: all cameras).
_CAMERA_ID_PARAM = {
    mav.MAV_CMD_CAMERA_TRACK_POINT: 3,
    mav.MAV_CMD_CAMERA_TRACK_RECTANGLE: 4,
    mav.MAV_CMD_CAMERA_STOP_TRACKING: 0,
}


@dataclass(frozen=True)
class Command:
    """A COMMAND_LONG or COMMAND_INT, reduced to what the camera needs."""

    command: int
    params: tuple[float, ...]  # param1..param7 (COMMAND_INT: x and y as floats)
    source: tuple[int, int]  # (system, component) to answer to
    confirmation: int = 0  # > 0: a retransmission of the same command
    other_camera: int = 0  # addressed to this component but naming another camera id (0: none)


@dataclass(frozen=True)
class Reply:
    """An immediate answer: COMMAND_ACK `result`, a STATUSTEXT when `text`, then `then` (a
    message to send after the ack: 'camera_information' or 'tracking_status')."""

    result: int
    text: str = ""
    then: str = ""
    quiet: bool = False  # no STATUSTEXT: a routine refusal clients expect (an unknown message id)


@dataclass(frozen=True)
class TrackRequest:
    """Start tracking. RECTANGLE: `rect` = normalized (x1, y1, x2, y2). POINT: `point` = (x, y)
    and `half_width`, the half-side of the box as a fraction of the image width (MAVLink's
    radius convention)."""

    mode: int
    rect: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    point: tuple[float, float] = (0.0, 0.0)
    half_width: float = 0.0


@dataclass(frozen=True)
class StopRequest:
    pass


@dataclass(frozen=True)
class IntervalRequest:
    """Stream CAMERA_TRACKING_IMAGE_STATUS every `interval_s` (None: the default rate, 0: off)."""

    interval_s: float | None


def command_of(msg: Any, system_id: int, component_id: int) -> Command | None:
    """The command in a COMMAND_LONG/COMMAND_INT addressed to us (or broadcast); None otherwise."""
    kind = msg.get_type()
    if kind not in ("COMMAND_LONG", "COMMAND_INT"):
        return None
    if msg.target_system not in (0, system_id) or msg.target_component not in (0, component_id):
        return None
    if kind == "COMMAND_LONG":
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
    else:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, float(msg.x), float(msg.y), msg.z)
    command = Command(
        int(msg.command), tuple(float(p) for p in params), (msg.get_srcSystem(), msg.get_srcComponent())
    )
    camera_param = _CAMERA_ID_PARAM.get(command.command)
    if camera_param is not None:
        camera = command.params[camera_param]
        if _valid_camera_id(camera) and camera not in (0, component_id):
            if msg.target_component != component_id:
                return None  # broadcast, for another camera of that system
            # sent to us by component id, but for another camera: the sender must hear no
            return Command(command.command, command.params, command.source, other_camera=int(camera))
    if kind == "COMMAND_LONG" and msg.confirmation:
        return Command(command.command, command.params, command.source, int(msg.confirmation))
    return command


def _valid_camera_id(value: float) -> bool:
    return math.isfinite(value) and value == int(value) and 0 <= value <= 255


def interpret(command: Command) -> Reply | TrackRequest | StopRequest | IntervalRequest:
    """What a command asks; a Reply when it can be answered without the tracker."""
    p = command.params
    if command.other_camera:
        return Reply(mav.MAV_RESULT_DENIED, f"camera id {command.other_camera} is not this camera")
    camera_param = _CAMERA_ID_PARAM.get(command.command)
    if camera_param is not None and not (math.isnan(p[camera_param]) or _valid_camera_id(p[camera_param])):
        return Reply(mav.MAV_RESULT_DENIED, f"invalid target camera id {p[camera_param]:g}")
    if command.command == mav.MAV_CMD_CAMERA_TRACK_RECTANGLE:
        rect = p[:4]
        if not all(math.isfinite(v) for v in rect):
            return Reply(mav.MAV_RESULT_DENIED, "track rectangle: NaN or infinite corner")
        if not all(0.0 <= v <= 1.0 for v in rect):
            return Reply(mav.MAV_RESULT_DENIED, "track rectangle: corners must lie in [0, 1]")
        if rect[0] >= rect[2] or rect[1] >= rect[3]:
            return Reply(mav.MAV_RESULT_DENIED, "track rectangle: swapped corners or zero area")
        return TrackRequest(mav.CAMERA_TRACKING_MODE_RECTANGLE, rect=rect)
    if command.command == mav.MAV_CMD_CAMERA_TRACK_POINT:
        x, y, radius = p[:3]
        if not all(math.isfinite(v) for v in (x, y, radius)):
            return Reply(mav.MAV_RESULT_DENIED, "track point: NaN or infinite parameter")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 and 0.0 <= radius <= 1.0):
            return Reply(mav.MAV_RESULT_DENIED, "track point: point and radius must lie in [0, 1]")
        # no radius: the tracker fits the box to the object under the point (core.tap_box)
        return TrackRequest(mav.CAMERA_TRACKING_MODE_POINT, point=(x, y), half_width=radius)
    if command.command == mav.MAV_CMD_CAMERA_STOP_TRACKING:
        return StopRequest()
    if command.command == mav.MAV_CMD_REQUEST_MESSAGE:
        message = REQUESTABLE.get(int(p[0])) if math.isfinite(p[0]) else None
        if message is None:
            text = f"message {p[0]:g} is not provided by this camera"
            return Reply(mav.MAV_RESULT_DENIED, text, quiet=True)
        return Reply(mav.MAV_RESULT_ACCEPTED, then=message)
    if command.command == mav.MAV_CMD_REQUEST_CAMERA_INFORMATION:  # superseded, still sent by GCSs
        if p[0] == 1:
            return Reply(mav.MAV_RESULT_ACCEPTED, then="camera_information")
        if p[0] == 0:
            return Reply(mav.MAV_RESULT_ACCEPTED)
        return Reply(mav.MAV_RESULT_DENIED, "request camera information: param1 must be 0 or 1")
    if command.command == mav.MAV_CMD_SET_MESSAGE_INTERVAL:
        if not math.isfinite(p[0]) or int(p[0]) != MSG_TRACKING_STATUS:
            return Reply(mav.MAV_RESULT_DENIED, "only CAMERA_TRACKING_IMAGE_STATUS intervals can be set")
        interval_us = p[1]
        if not math.isfinite(interval_us) or not (interval_us in (-1, 0) or interval_us > 0):
            return Reply(mav.MAV_RESULT_DENIED, "message interval must be -1, 0 or a positive number of us")
        return IntervalRequest(
            None if interval_us == 0 else (0.0 if interval_us == -1 else interval_us / 1e6)
        )
    return Reply(mav.MAV_RESULT_UNSUPPORTED)


def pixel_box(request: TrackRequest, image_size: tuple[int, int]) -> list[float]:
    """[x, y, w, h] in pixels; a point's box is square in pixels, and a point without a radius a
    box of zero size at the point (InitTarget's request to fit the box to the object there)."""
    width, height = image_size
    if request.mode == mav.CAMERA_TRACKING_MODE_POINT:
        # a point on the far edge (1.0, allowed by the protocol) is the last pixel
        x, y = min(request.point[0] * width, width - 1), min(request.point[1] * height, height - 1)
        if request.half_width == 0:
            return [x, y, 0.0, 0.0]
        return point_box(x, y, 2 * request.half_width * width, image_size).tolist()
    x1, y1, x2, y2 = request.rect
    return [x1 * width, y1 * height, (x2 - x1) * width, (y2 - y1) * height]


@dataclass(frozen=True)
class TrackView:
    """What the bridge knows of the track: state, normalized box, the mode that started it."""

    state: str  # IDLE, TRACKING, LOST, or UNREACHABLE (no fresh status while a track ran)
    rect: tuple[float, float, float, float] = (math.nan,) * 4
    mode: int = mav.CAMERA_TRACKING_MODE_RECTANGLE


def tracking_status(view: TrackView) -> dict[str, float | int]:
    """The fields of CAMERA_TRACKING_IMAGE_STATUS for a track."""
    nan = math.nan
    fields: dict[str, float | int] = dict(
        tracking_status=mav.CAMERA_TRACKING_STATUS_FLAGS_IDLE,
        tracking_mode=mav.CAMERA_TRACKING_MODE_NONE,
        target_data=0,
        point_x=nan,
        point_y=nan,
        radius=nan,
        rec_top_x=nan,
        rec_top_y=nan,
        rec_bottom_x=nan,
        rec_bottom_y=nan,
    )
    if view.state == "UNREACHABLE":
        fields["tracking_status"] = mav.CAMERA_TRACKING_STATUS_FLAGS_ERROR
    elif view.state == "LOST":
        fields["tracking_status"] = (
            mav.CAMERA_TRACKING_STATUS_FLAGS_ACTIVE | mav.CAMERA_TRACKING_STATUS_FLAGS_COASTING
        )
        fields["tracking_mode"] = view.mode
    elif view.state == "TRACKING":
        x1, y1, x2, y2 = view.rect
        fields.update(
            tracking_status=mav.CAMERA_TRACKING_STATUS_FLAGS_ACTIVE,
            tracking_mode=view.mode,
            target_data=mav.CAMERA_TRACKING_TARGET_DATA_IN_STATUS,
            point_x=(x1 + x2) / 2,
            point_y=(y1 + y2) / 2,
            radius=(x2 - x1) / 2,
            rec_top_x=x1,
            rec_top_y=y1,
            rec_bottom_x=x2,
            rec_bottom_y=y2,
        )
    return fields


def statustext_chunks(text: str) -> list[tuple[bytes, int]]:
    """(text, chunk_seq) pieces of at most 50 bytes; MAVLink 2 joins pieces with the same id. A
    chunked text ends with a short chunk (an empty one when its length is a multiple of 50), so
    the receiver knows it is complete."""
    data = text.encode("utf-8", errors="replace")
    pieces = [data[i : i + STATUSTEXT_CHUNK] for i in range(0, max(len(data), 1), STATUSTEXT_CHUNK)]
    if len(pieces) > 1 and len(pieces[-1]) == STATUSTEXT_CHUNK:
        pieces.append(b"")
    return [(piece, seq) for seq, piece in enumerate(pieces)]


def fixed_bytes(text: str, size: int) -> list[int]:
    """A uint8_t[size] field (vendor and model names): zero-padded UTF-8."""
    data = text.encode("utf-8")[:size]
    return list(data) + [0] * (size - len(data))


def requested_fields(message: str, time_boot_ms: int) -> dict[str, Any]:
    """The minimal truthful answers to REQUEST_MESSAGE for what the camera has no use for: a
    video camera (settings unknown), no storage, nothing being captured."""
    if message == "camera_settings":
        return dict(
            time_boot_ms=time_boot_ms, mode_id=mav.CAMERA_MODE_VIDEO, zoomLevel=math.nan, focusLevel=math.nan
        )
    if message == "storage_information":
        return dict(
            time_boot_ms=time_boot_ms,
            storage_id=0,
            storage_count=0,
            status=mav.STORAGE_STATUS_NOT_SUPPORTED,
            total_capacity=0.0,
            used_capacity=0.0,
            available_capacity=0.0,
            read_speed=0.0,
            write_speed=0.0,
        )
    if message == "camera_capture_status":
        return dict(
            time_boot_ms=time_boot_ms,
            image_status=0,
            video_status=0,
            image_interval=0.0,
            recording_time_ms=0,
            available_capacity=0.0,
        )
    raise ValueError(f"no minimal answer for {message}")
