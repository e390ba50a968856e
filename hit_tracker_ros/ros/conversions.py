"""Conversions between ROS messages and the core's numpy types."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D, ObjectHypothesisWithPose

from ..core.boxes import centre_size_to_xywh, xywh_to_cxcywh
from ..core.images import DEFAULT_MAX_IMAGE_PIXELS, check_raw, compressed_size, decode_compressed, decode_raw
from ..core.stamps import to_ns, to_parts


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return to_ns(stamp.sec, stamp.nanosec)


def ns_to_time(stamp_ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    sec, nanosec = to_parts(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def image_to_rgb(msg: Image | CompressedImage, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a raw or compressed image message to RGB uint8 (ImageDecodeError on bad data)."""
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.data, msg.format, max_pixels)
    return decode_raw(
        msg.data, msg.width, msg.height, msg.step, msg.encoding, bool(msg.is_bigendian), max_pixels
    )


def image_size(msg: Image | CompressedImage, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) of an image message from its header alone, checked as `image_to_rgb` would
    check it; cheap enough for a service callback."""
    if isinstance(msg, CompressedImage):
        return compressed_size(msg.data, msg.format, max_pixels)
    check_raw(len(msg.data), msg.width, msg.height, msg.step, msg.encoding, max_pixels)
    return msg.width, msg.height


def rgb_to_image(rgb: np.ndarray, header: Header) -> Image:
    """RGB uint8 array -> sensor_msgs/Image (rgb8)."""
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg


def bbox_to_xywh(bbox: BoundingBox2D) -> np.ndarray:
    """BoundingBox2D (centre + size, pixels) -> [x, y, w, h]; rejects rotated boxes and NaN."""
    c = bbox.center
    return centre_size_to_xywh(c.position.x, c.position.y, bbox.size_x, bbox.size_y, c.theta)


def xywh_to_bbox(box: np.ndarray | None) -> BoundingBox2D:
    """[x, y, w, h] -> BoundingBox2D (all zero for None)."""
    bbox = BoundingBox2D()
    if box is None:
        return bbox
    cx, cy, w, h = (float(v) for v in xywh_to_cxcywh(np.asarray(box, dtype=np.float64)))
    bbox.center.position.x, bbox.center.position.y = cx, cy
    bbox.size_x, bbox.size_y = w, h
    return bbox


def make_detection(header: Header, box: np.ndarray, score: float, label: str, track_id: str) -> Detection2D:
    """One tracked target as vision_msgs/Detection2D (id = track id, class_id = label)."""
    det = Detection2D()
    det.header = header
    det.id = track_id
    det.bbox = xywh_to_bbox(box)
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = label
    hyp.hypothesis.score = float(score)
    hyp.pose.pose.position.x = det.bbox.center.position.x
    hyp.pose.pose.position.y = det.bbox.center.position.y
    det.results = [hyp]
    return det
