"""Our image decoder against rosbags-image (a pure-Python cv_bridge equivalent from PyPI) on every
encoding both give a meaning, random pixels, both byte orders. cv_bridge has no wheel and breaks
beside numpy 2 on robots, so we keep our decoder, and this is its proof.

Exact for 8-bit data. For 16-bit data the two differ by at most 1: cv_bridge (and we) scale to
8 bits with rounding, rosbags-image truncates."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest
from rosbags.image import message_to_cvimage
from rosbags.image.image import ENCODINGMAP

from hit_tracker_ros.core.images import SUPPORTED_ENCODINGS, decode_compressed, decode_raw
from hit_tracker_ros.tools.bags import build, typestore

BOTH = sorted(set(SUPPORTED_ENCODINGS) & set(ENCODINGMAP))
STORE = typestore()


def header():
    return build(
        STORE,
        "std_msgs/msg/Header",
        frame_id="camera",
        stamp=build(STORE, "builtin_interfaces/msg/Time", sec=0, nanosec=0),
    )


def test_the_shared_encodings_include_what_cameras_send():
    bayer = {f"bayer_{p}{d}" for p in ("rggb", "bggr", "gbrg", "grbg") for d in (8, 16)}
    assert bayer | {"rgb8", "bgr8", "mono8", "mono16", "yuv422", "uyvy", "yuyv", "rgba8", "bgra8"} <= set(
        BOTH
    )


CASES = [(e, big) for e in BOTH for big in ((False, True) if ENCODINGMAP[e][0] == 16 else (False,))]


@pytest.mark.parametrize(("encoding", "bigendian"), CASES)
def test_raw_decoding_matches_rosbags_image(encoding, bigendian):
    _, _, dtype, channels = ENCODINGMAP[encoding]
    depth = np.dtype(dtype).itemsize
    rng = np.random.default_rng(zlib.crc32(encoding.encode()))
    height, width = 24, 32
    values = rng.integers(0, np.iinfo(dtype).max, (height, width * channels), endpoint=True).astype(dtype)
    data = values.astype(values.dtype.newbyteorder(">" if bigendian else "<")).tobytes()
    msg = build(
        STORE,
        "sensor_msgs/msg/Image",
        header=header(),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=bigendian,
        step=width * channels * depth,
        data=np.frombuffer(data, np.uint8),
    )
    theirs = message_to_cvimage(msg, "rgb8")
    ours = decode_raw(data, width, height, width * channels * depth, encoding, is_bigendian=bigendian)
    assert ours.shape == theirs.shape == (height, width, 3) and ours.dtype == np.uint8
    difference = np.abs(ours.astype(int) - theirs.astype(int)).max()
    assert difference <= (1 if depth == 2 else 0), (encoding, difference)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_decoding_matches_rosbags_image(fmt):
    rng = np.random.default_rng(5)
    bgr = cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (5, 5), 0)
    data = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", bgr)[1].tobytes()
    msg = build(
        STORE,
        "sensor_msgs/msg/CompressedImage",
        header=header(),
        format=fmt,
        data=np.frombuffer(data, np.uint8),
    )
    np.testing.assert_array_equal(decode_compressed(data, fmt), message_to_cvimage(msg, "rgb8"))
