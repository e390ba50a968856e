"""The fields of a TrackerStatus (msg/TrackerStatus.msg) for one processed frame, computed once:
the node copies them into the rclpy message, the replay into the rosbags one."""

from __future__ import annotations

import math
from typing import Any

from .boxes import normalized_fields
from .session import StepOutcome


def status_fields(
    outcome: StepOutcome,
    image_size: tuple[int, int],
    score_threshold: float,
    model: str,
    backend: str,
    processing_latency_ms: float,
    stamp_latency_ms: float = math.nan,
    bearing: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Every field except `header` and `bbox` (each message type builds those from its own types).

    processing_latency_ms: from the frame reaching the tracker (the node: its reception; a replay:
    its reading from the bag) to its outputs. stamp_latency_ms: from the image's header stamp to
    the outputs, on this host's clock; NaN where no live clock relates the two (a replay)."""
    width, height = image_size
    angle_x, angle_y = bearing if bearing is not None else (0.0, 0.0)
    return {
        "state": int(outcome.state),
        "state_name": outcome.state.name,
        "track_id": outcome.track_id,
        "label": outcome.label,
        "score": float(outcome.score),
        "score_threshold": float(score_threshold),
        "frames_tracked": int(outcome.frames_tracked),
        "frames_lost": int(outcome.frames_lost),
        "image_width": int(width),
        "image_height": int(height),
        **normalized_fields(outcome.box, width, height),
        "has_angles": bearing is not None,
        "angle_x": float(angle_x),
        "angle_y": float(angle_y),
        "model": model,
        "backend": backend,
        "processing_latency_ms": float(processing_latency_ms),
        "stamp_latency_ms": float(stamp_latency_ms),
        "message": outcome.message,
    }
