"""rosbag2 input and output without ROS (the `rosbags` library): image frames in, tracker results out.

Both storage formats (sqlite3, mcap) are read; results are written as vision_msgs/Detection2DArray
and hit_tracker_ros/TrackerStatus with the source images' header stamps, so `ros2 bag play` can
replay them next to the camera bag.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.boxes import InvalidBoxError, centre_size_to_xywh, xywh_to_cxcywh
from ..core.images import decode_compressed, decode_raw
from ..core.session import StepOutcome
from ..core.stamps import to_ns, to_parts
from .bag_format import DEFAULT_BAG_VERSION, finish_metadata, writer_version

LOG = logging.getLogger("hit_tracker_ros.bags")

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
DETECTIONS_TYPE = "vision_msgs/msg/Detection2DArray"
DETECTION_TYPE = "vision_msgs/msg/Detection2D"
STATUS_TYPE = "hit_tracker_ros/msg/TrackerStatus"

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _msg_dirs(package: str) -> list[Path]:
    """Where the .msg files of `package` may be: the ament prefixes, then this source tree."""
    dirs = [
        Path(p) / "share" / package / "msg"
        for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
        if p
    ]
    dirs += [_PACKAGE_ROOT / "env" / package / "msg"] if package == "vision_msgs" else [_PACKAGE_ROOT / "msg"]
    return dirs


def typestore():
    """ROS 2 Kilted types plus vision_msgs and hit_tracker_ros/TrackerStatus."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for package in ("vision_msgs", "hit_tracker_ros"):
        folder = next((d for d in _msg_dirs(package) if d.is_dir() and any(d.glob("*.msg"))), None)
        if folder is None:
            raise FileNotFoundError(
                f"no .msg definitions of {package} found (looked in {_msg_dirs(package)})"
            )
        for path in sorted(folder.glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
    store.register(types)
    return store


def build(store, msgtype: str, **fields: Any):
    """A message of `msgtype` with every field at its default, then `fields` set."""
    from rosbags.typesys.base import Nodetype

    cls = store.types[msgtype]
    values = {}
    for name, (kind, detail) in store.fielddefs[msgtype][1]:
        if name in fields:
            values[name] = fields[name]
        elif kind == Nodetype.NAME:
            values[name] = build(store, detail)
        elif kind == Nodetype.BASE:
            values[name] = "" if detail[0] == "string" else (False if detail[0] == "bool" else 0)
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            (inner_kind, inner), length = detail
            if inner_kind == Nodetype.BASE and inner[0] != "string":
                dtype = (
                    np.float64
                    if inner[0].startswith("float")
                    else np.dtype(inner[0].replace("byte", "uint8").replace("char", "uint8"))
                )
                values[name] = np.zeros(length if kind == Nodetype.ARRAY else 0, dtype=dtype)
            else:
                values[name] = (
                    [] if kind == Nodetype.SEQUENCE else [build(store, inner) for _ in range(length)]
                )
    return cls(**values)


def time_msg(store, stamp_ns: int):
    """builtin_interfaces/Time of the typestore for a stamp in nanoseconds."""
    sec, nanosec = to_parts(stamp_ns)
    return build(store, "builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


@dataclass(frozen=True)
class BagFrame:
    index: int
    stamp_ns: int  # header stamp
    log_ns: int  # bag receive time
    frame_id: str
    rgb: np.ndarray
    msgtype: str  # sensor_msgs/msg/Image or CompressedImage
    raw: bytes  # the serialized (CDR) message as recorded
    read_at: float = 0.0  # time.perf_counter() when it was read from the bag (processing latency)


def image_topics(bag: str | Path) -> dict[str, str]:
    """Image topics of a bag and their types."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)], default_typestore=typestore()) as reader:
        return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}


def read_frames(bag: str | Path, topic: str) -> tuple[int, Iterator[BagFrame]]:
    """(number of messages, iterator over the decoded frames of `topic` in bag order)."""
    from rosbags.highlevel import AnyReader

    reader = AnyReader([Path(bag)], default_typestore=typestore())
    reader.open()
    connections = [c for c in reader.connections if c.topic == topic]
    if not connections:
        found = {c.topic: c.msgtype for c in reader.connections}
        reader.close()
        raise ValueError(f"topic {topic} not in {bag}; topics: {found}")
    if connections[0].msgtype not in IMAGE_TYPES:
        reader.close()
        raise ValueError(f"{topic} is {connections[0].msgtype}, not one of {IMAGE_TYPES}")
    total = sum(c.msgcount for c in connections)

    def frames() -> Iterator[BagFrame]:
        try:
            for index, (connection, log_ns, raw) in enumerate(reader.messages(connections=connections)):
                read_at = time.perf_counter()
                msg = reader.deserialize(raw, connection.msgtype)
                if connection.msgtype == IMAGE_TYPES[1]:
                    rgb = decode_compressed(msg.data, msg.format)
                else:
                    rgb = decode_raw(
                        msg.data, msg.width, msg.height, msg.step, msg.encoding, bool(msg.is_bigendian)
                    )
                stamp_ns = to_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)
                yield BagFrame(
                    index, stamp_ns, log_ns, msg.header.frame_id, rgb, connection.msgtype, bytes(raw), read_at
                )
        finally:
            reader.close()

    return total, frames()


def read_boxes(bag: str | Path, topic: str) -> dict[int, np.ndarray]:
    """{header stamp ns: [x, y, w, h]} from a Detection2D or Detection2DArray topic (first
    detection); rotated or NaN boxes are skipped with a warning (core.boxes.centre_size_to_xywh)."""
    from rosbags.highlevel import AnyReader

    boxes: dict[int, np.ndarray] = {}
    skipped: list[str] = []
    with AnyReader([Path(bag)], default_typestore=typestore()) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise ValueError(f"topic {topic} not in {bag}")
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            dets = msg.detections if connection.msgtype == DETECTIONS_TYPE else [msg]
            if not dets:
                continue
            b = dets[0].bbox
            stamp = to_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)
            try:
                boxes[stamp] = centre_size_to_xywh(
                    b.center.position.x, b.center.position.y, b.size_x, b.size_y, b.center.theta
                )
            except InvalidBoxError as exc:  # a rotated or NaN box is no truth for that frame
                skipped.append(f"{stamp}: {exc}")
    if skipped:
        LOG.warning("%s: %d boxes skipped (%s)", topic, len(skipped), "; ".join(skipped[:3]))
    return boxes


def open_writer(path: str | Path, storage: str, version: int):
    """A rosbags Writer for `storage` (mcap or sqlite3) that will carry metadata `version` once
    close_writer has run."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    return Writer(Path(path), version=writer_version(version), storage_plugin=plugin)


def close_writer(writer, version: int) -> None:
    writer.close()
    finish_metadata(writer.path, version)


def result_qos():
    """The QoS the node's result topics are offered with (reliable, volatile, keep last 10), so
    that `ros2 bag play` offers them the same way; durations 0: the middleware's defaults."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(sec=0, nsec=0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=10,
        reliability=QosReliability.RELIABLE,
        durability=QosDurability.VOLATILE,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.SYSTEM_DEFAULT,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


class ResultBagWriter:
    """Writes one Detection2DArray and one TrackerStatus per processed frame, stamped like it;
    metadata `version` 5 (default: Humble and newer read it) or 9 (see bag_format)."""

    def __init__(
        self,
        path: str | Path,
        namespace: str = "/hit_tracker",
        storage: str = "mcap",
        version: int = DEFAULT_BAG_VERSION,
    ) -> None:
        self.store = typestore()
        self.version = version
        self._writer = open_writer(path, storage, version)
        self._writer.open()
        qos = [result_qos()]
        self._detections = self._writer.add_connection(
            f"{namespace}/detections", DETECTIONS_TYPE, typestore=self.store, offered_qos_profiles=qos
        )
        self._status = self._writer.add_connection(
            f"{namespace}/status", STATUS_TYPE, typestore=self.store, offered_qos_profiles=qos
        )

    def write(self, frame: BagFrame, outcome: StepOutcome, fields: dict) -> None:
        """Detections and the status of one frame; `fields`: hit_tracker_ros.core.status."""
        s = self.store
        header = build(
            s,
            "std_msgs/msg/Header",
            frame_id=frame.frame_id,
            stamp=time_msg(s, frame.stamp_ns),
        )
        bbox = self._bbox(outcome.box)
        detections = []
        if outcome.box is not None and outcome.state.name == "TRACKING":
            hypothesis = build(
                s,
                "vision_msgs/msg/ObjectHypothesisWithPose",
                hypothesis=build(
                    s, "vision_msgs/msg/ObjectHypothesis", class_id=outcome.label, score=float(outcome.score)
                ),
            )
            detections.append(
                build(s, DETECTION_TYPE, header=header, results=[hypothesis], bbox=bbox, id=outcome.track_id)
            )
        status = build(s, STATUS_TYPE, header=header, bbox=bbox, **fields)
        array = build(s, DETECTIONS_TYPE, header=header, detections=detections)
        self._writer.write(self._detections, frame.log_ns, s.serialize_cdr(array, DETECTIONS_TYPE))
        self._writer.write(self._status, frame.log_ns, s.serialize_cdr(status, STATUS_TYPE))

    def _bbox(self, box: np.ndarray | None):
        s = self.store
        cx, cy, w, h = (float(v) for v in xywh_to_cxcywh(box)) if box is not None else (0.0, 0.0, 0.0, 0.0)
        center = build(s, "vision_msgs/msg/Pose2D", position=build(s, "vision_msgs/msg/Point2D", x=cx, y=cy))
        return build(s, "vision_msgs/msg/BoundingBox2D", center=center, size_x=w, size_y=h)

    def close(self) -> None:
        close_writer(self._writer, self.version)


def write_image_bag(
    path: str | Path,
    frames: list[np.ndarray],
    stamps_ns: list[int],
    topic: str = "/camera/image_raw",
    storage: str = "mcap",
    compressed: bool = False,
    encoding: str = "rgb8",
    extra: dict[str, list[tuple[int, Any, str]]] | None = None,
    version: int = DEFAULT_BAG_VERSION,
) -> Path:
    """A camera bag from RGB frames (raw in `encoding`, or JPEG when compressed); `extra` adds
    {topic: [(stamp_ns, message, msgtype)]}. Used by the demo and the tests."""
    import cv2

    from ..core.images import encode_raw

    s = typestore()
    msgtype = IMAGE_TYPES[1] if compressed else IMAGE_TYPES[0]
    with open_writer(path, storage, version) as writer:
        conn = writer.add_connection(topic + ("/compressed" if compressed else ""), msgtype, typestore=s)
        for rgb, stamp in zip(frames, stamps_ns, strict=True):
            header = build(
                s,
                "std_msgs/msg/Header",
                frame_id="camera",
                stamp=time_msg(s, stamp),
            )
            if compressed:
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                msg = build(
                    s, msgtype, header=header, format="jpeg", data=np.frombuffer(jpeg.tobytes(), np.uint8)
                )
            else:
                data, step = encode_raw(rgb, encoding)
                msg = build(
                    s,
                    msgtype,
                    header=header,
                    height=rgb.shape[0],
                    width=rgb.shape[1],
                    encoding=encoding,
                    step=step,
                    data=np.frombuffer(data, np.uint8),
                )
            writer.write(conn, stamp, s.serialize_cdr(msg, msgtype))
        for extra_topic, items in (extra or {}).items():
            conn = writer.add_connection(extra_topic, items[0][2], typestore=s)
            for stamp, msg, extra_type in items:
                writer.write(conn, stamp, s.serialize_cdr(msg, extra_type))
    finish_metadata(path, version)
    return Path(path)
