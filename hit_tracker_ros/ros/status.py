"""Builds TrackerStatus and /diagnostics messages."""

from __future__ import annotations

import math

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from hit_tracker_ros.msg import TrackerStatus

from ..core.boxes import normalized_fields
from ..core.session import StepOutcome
from .conversions import xywh_to_bbox

STAGES = ("decode", "preprocess", "inference", "postprocess", "publish")


def make_status(
    header: Header,
    outcome: StepOutcome,
    image_size: tuple[int, int],
    score_threshold: float,
    model: str,
    backend: str,
    processing_latency_ms: float,
    stamp_latency_ms: float,
    bearing: tuple[float, float] | None = None,
) -> TrackerStatus:
    """TrackerStatus for one processed frame (MAVLink-style normalized fields included);
    `bearing` = (angle_x, angle_y) of the box centre when a camera model is known."""
    width, height = image_size
    msg = TrackerStatus()
    msg.header = header
    msg.state = int(outcome.state)
    msg.state_name = outcome.state.name
    msg.track_id = outcome.track_id
    msg.label = outcome.label
    msg.score = float(outcome.score)
    msg.score_threshold = float(score_threshold)
    msg.frames_tracked = outcome.frames_tracked
    msg.frames_lost = outcome.frames_lost
    msg.image_width, msg.image_height = int(width), int(height)
    msg.bbox = xywh_to_bbox(outcome.box)
    for key, value in normalized_fields(outcome.box, width, height).items():
        setattr(msg, key, value)
    msg.model, msg.backend = model, backend
    msg.processing_latency_ms = float(processing_latency_ms)
    msg.stamp_latency_ms = float(stamp_latency_ms)
    msg.message = outcome.message
    if bearing is not None:
        msg.has_angles = True
        msg.angle_x, msg.angle_y = (float(a) for a in bearing)
    return msg


def make_diagnostics(
    stamp,
    name: str,
    level: bytes,
    summary: str,
    hardware_id: str,
    values: dict[str, object],
) -> DiagnosticArray:
    """One DiagnosticStatus wrapped in a DiagnosticArray; floats formatted, NaN as 'nan'."""
    status = DiagnosticStatus()
    status.level = level
    status.name = name
    status.message = summary
    status.hardware_id = hardware_id
    status.values = [KeyValue(key=k, value=_fmt(v)) for k, v in values.items()]
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)
