"""Builds TrackerStatus and /diagnostics messages."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from hit_tracker_ros.msg import TrackerStatus

from .conversions import xywh_to_bbox


def make_status(header: Header, box: np.ndarray | None, fields: dict[str, Any]) -> TrackerStatus:
    """TrackerStatus from the core's fields (hit_tracker_ros.core.status) and the box."""
    return TrackerStatus(header=header, bbox=xywh_to_bbox(box), **fields)


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
