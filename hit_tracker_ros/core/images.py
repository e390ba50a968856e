"""Decoding of camera images (ROS sensor_msgs layouts, without ROS) into H x W x 3 RGB uint8.

Every frame is checked against a pixel budget from its header (raw fields, or the JPEG/PNG header)
before anything is allocated, so a frame that declares 30000 x 30000 pixels costs nothing.
"""

from __future__ import annotations

import cv2
import numpy as np

from .image_headers import HeaderError, compressed_dimensions

# 8K DCI (8192 x 4320) also covers 8K UHD (7680 x 4320): about 106 MB as RGB.
DEFAULT_MAX_IMAGE_PIXELS = 8192 * 4320


class ImageDecodeError(ValueError):
    """An image that cannot be decoded (bad encoding, sizes or data)."""


class ImageTooLargeError(ImageDecodeError):
    """An image whose declared size exceeds the pixel budget."""


def check_pixel_budget(width: int, height: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
    """Refuse a declared size over `max_pixels` before any allocation."""
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image of {width}x{height} = {width * height} pixels exceeds the pixel budget of "
            f"{max_pixels} (max_image_pixels)"
        )


# encoding -> (bytes per pixel, conversion to RGB or None for plain channel copies)
_RAW_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "8UC3": (3, cv2.COLOR_BGR2RGB),  # cv_bridge treats 8UC3 as BGR
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "8UC4": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "8UC1": (1, cv2.COLOR_GRAY2RGB),
    "mono16": (2, cv2.COLOR_GRAY2RGB),
    "yuv422": (2, cv2.COLOR_YUV2RGB_UYVY),  # ROS "yuv422" is UYVY byte order
    "uyvy": (2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": (2, cv2.COLOR_YUV2RGB_YUY2),
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_RAW_ENCODINGS)
_YUV_ENCODINGS = {"yuv422", "uyvy", "yuv422_yuy2", "yuyv"}


def check_raw(
    data_length: int,
    width: int,
    height: int,
    step: int,
    encoding: str,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> None:
    """Validate the fields of a sensor_msgs/Image without touching its pixels."""
    if encoding not in _RAW_ENCODINGS:
        raise ImageDecodeError(
            f"unsupported image encoding '{encoding}'; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"zero-size image ({width}x{height})")
    check_pixel_budget(width, height, max_pixels)
    bpp = _RAW_ENCODINGS[encoding][0]
    row_bytes = width * bpp
    if step < row_bytes:
        raise ImageDecodeError(
            f"step {step} is smaller than width x bytes per pixel = {width} x {bpp} = {row_bytes} "
            f"for encoding '{encoding}'"
        )
    if data_length != height * step:
        raise ImageDecodeError(
            f"data length {data_length} does not match height x step = {height} x {step} = {height * step}"
        )
    if encoding in _YUV_ENCODINGS and width % 2:
        raise ImageDecodeError(f"{encoding} needs an even width, got {width}")


def decode_raw(
    data: bytes | bytearray | memoryview | np.ndarray,
    width: int,
    height: int,
    step: int,
    encoding: str,
    is_bigendian: bool = False,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Convert the fields of a sensor_msgs/Image into a C-contiguous RGB uint8 array."""
    buf = np.frombuffer(data, dtype=np.uint8)
    check_raw(buf.size, width, height, step, encoding, max_pixels)
    bpp, conversion = _RAW_ENCODINGS[encoding]
    row_bytes = width * bpp
    rows = buf.reshape(height, step)[:, :row_bytes]
    if encoding == "mono16":
        pixels = rows.reshape(height, width, 2).view(">u2" if is_bigendian else "<u2")[..., 0]
        return np.ascontiguousarray(cv2.cvtColor((pixels >> 8).astype(np.uint8), conversion))
    pixels = rows.reshape(height, width, bpp)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    if bpp == 1:
        pixels = pixels[..., 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def compressed_size(
    data: bytes | bytearray | memoryview | np.ndarray,
    fmt: str = "",
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> tuple[int, int]:
    """(width, height) that a sensor_msgs/CompressedImage payload declares, within the budget."""
    buf = memoryview(np.frombuffer(data, dtype=np.uint8))
    if buf.nbytes == 0:
        raise ImageDecodeError(f"empty compressed image (format '{fmt}')")
    try:
        _, width, height = compressed_dimensions(buf)
    except HeaderError as exc:
        raise ImageDecodeError(
            f"could not decode compressed image (format '{fmt}', {buf.nbytes} bytes): {exc}"
        ) from None
    if width == 0 or height == 0:
        raise ImageDecodeError(f"zero-size image ({width}x{height})")
    check_pixel_budget(width, height, max_pixels)
    return width, height


def decode_compressed(
    data: bytes | bytearray | memoryview | np.ndarray,
    fmt: str = "",
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage payload (JPEG or PNG) into RGB uint8.

    EXIF orientation is ignored, as compressed_image_transport's decoder does: the pixels keep
    the sensor's layout and the header's size."""
    width, height = compressed_size(data, fmt, max_pixels)
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:  # OpenCV's own limits; the budget normally refuses first
        raise ImageDecodeError(f"could not decode compressed image (format '{fmt}'): {exc}") from None
    if bgr is None or bgr.shape[:2] != (height, width):
        raise ImageDecodeError(f"could not decode compressed image (format '{fmt}', {buf.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_raw(rgb: np.ndarray, encoding: str) -> tuple[bytes, int]:
    """Inverse of `decode_raw` for tests and tools: returns (data, step) of an RGB frame."""
    forward = {
        "rgb8": lambda f: f,
        "bgr8": lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2BGR),
        "rgba8": lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2RGBA),
        "bgra8": lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2BGRA),
        "mono8": lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2GRAY),
        "yuv422": lambda f: _rgb_to_packed_yuv(f, uyvy=True),
        "uyvy": lambda f: _rgb_to_packed_yuv(f, uyvy=True),
        "yuv422_yuy2": lambda f: _rgb_to_packed_yuv(f, uyvy=False),
        "yuyv": lambda f: _rgb_to_packed_yuv(f, uyvy=False),
    }
    if encoding not in forward:
        raise ImageDecodeError(f"cannot encode to '{encoding}'")
    out = np.ascontiguousarray(forward[encoding](rgb))
    return out.tobytes(), out.strides[0]


def _rgb_to_packed_yuv(rgb: np.ndarray, uyvy: bool) -> np.ndarray:
    """RGB -> packed 4:2:2 (UYVY or YUYV), BT.601 video range as OpenCV's decoder expects."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b
    u_full = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b
    v_full = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b
    u = (u_full[:, 0::2] + u_full[:, 1::2]) / 2.0
    v = (v_full[:, 0::2] + v_full[:, 1::2]) / 2.0
    h, w = y.shape
    packed = np.empty((h, w // 2, 4), dtype=np.float32)
    order = (u, y[:, 0::2], v, y[:, 1::2]) if uyvy else (y[:, 0::2], u, y[:, 1::2], v)
    for i, plane in enumerate(order):
        packed[..., i] = plane
    return np.clip(np.rint(packed), 0, 255).astype(np.uint8).reshape(h, w * 2)
