"""Test helpers for the real-DDS tests (nodes are driven by hit_tracker_ros.ros.tools: a node
process, a DDS client, a scene camera, a remote tracker)."""

from __future__ import annotations

import numpy as np
from hit_tracker_ros.msg import TrackerStatus

from hit_tracker_ros.ros.conversions import bbox_to_xywh, ns_to_time
from hit_tracker_ros.ros.tools.dds_client import Client
from hit_tracker_ros.ros.tools.node_process import NodeProcess
from hit_tracker_ros.ros.tools.remote_tracker import RemoteTracker, make_bbox
from hit_tracker_ros.ros.tools.scene_camera import SceneCamera, make_image

__all__ = ["Client", "NodeProcess", "RemoteTracker", "SceneCamera", "make_bbox", "make_image", "ns_to_time"]

STAMP_BASE_NS = 1_700_000_000 * 1_000_000_000
FRAME_PERIOD_NS = 33_333_333


def frame_stamp_ns(i: int) -> int:
    """Stamp of synthetic frame i (30 Hz)."""
    return STAMP_BASE_NS + i * FRAME_PERIOD_NS


def status_box(status: TrackerStatus) -> np.ndarray:
    """[x, y, w, h] of a TrackerStatus."""
    return bbox_to_xywh(status.bbox)


def free_udp_port() -> int:
    """A UDP port free on the loopback now (a MAVLink link of one test)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stamp_of(status: TrackerStatus) -> int:
    """A status's image stamp in nanoseconds."""
    return status.header.stamp.sec * 10**9 + status.header.stamp.nanosec
