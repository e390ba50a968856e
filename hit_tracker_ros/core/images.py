"""Decoding of camera images (ROS sensor_msgs layouts, without ROS) into H x W x 3 RGB uint8.

Every frame is checked against a pixel budget from its header (raw fields, or the JPEG/PNG header)
before anything is allocated, so a frame that declares 30000 x 30000 pixels costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class RawLayout:
    """How a sensor_msgs/Image encoding stores a pixel, and its conversion to RGB (None: the
    channels are R, G, B already). 16-bit data is converted at 16 bits, then scaled to 8 bits with
    rounding (255/65535), as cv_bridge's conversion to rgb8 does."""

    channels: int
    depth: int  # bytes per channel
    to_rgb: int | None

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * self.depth


# cv_bridge's meanings: 8UCn is BGR(A); OpenCV names Bayer patterns by the second row's second and
# third pixels, so ROS bayer_rggb is OpenCV's BayerBG (and so on).
_RAW_ENCODINGS: dict[str, RawLayout] = {
    "rgb8": RawLayout(3, 1, None),
    "bgr8": RawLayout(3, 1, cv2.COLOR_BGR2RGB),
    "8UC3": RawLayout(3, 1, cv2.COLOR_BGR2RGB),
    "rgba8": RawLayout(4, 1, cv2.COLOR_RGBA2RGB),
    "bgra8": RawLayout(4, 1, cv2.COLOR_BGRA2RGB),
    "8UC4": RawLayout(4, 1, cv2.COLOR_BGRA2RGB),
    "mono8": RawLayout(1, 1, cv2.COLOR_GRAY2RGB),
    "8UC1": RawLayout(1, 1, cv2.COLOR_GRAY2RGB),
    "mono16": RawLayout(1, 2, cv2.COLOR_GRAY2RGB),
    "rgb16": RawLayout(3, 2, None),
    "bgr16": RawLayout(3, 2, cv2.COLOR_BGR2RGB),
    "rgba16": RawLayout(4, 2, cv2.COLOR_RGBA2RGB),
    "bgra16": RawLayout(4, 2, cv2.COLOR_BGRA2RGB),
    "yuv422": RawLayout(2, 1, cv2.COLOR_YUV2RGB_UYVY),  # ROS "yuv422" is UYVY byte order
    "uyvy": RawLayout(2, 1, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": RawLayout(2, 1, cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": RawLayout(2, 1, cv2.COLOR_YUV2RGB_YUY2),
    "bayer_rggb8": RawLayout(1, 1, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": RawLayout(1, 1, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": RawLayout(1, 1, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": RawLayout(1, 1, cv2.COLOR_BayerGB2RGB),
    "bayer_rggb16": RawLayout(1, 2, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr16": RawLayout(1, 2, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg16": RawLayout(1, 2, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg16": RawLayout(1, 2, cv2.COLOR_BayerGB2RGB),
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
    bpp = _RAW_ENCODINGS[encoding].bytes_per_pixel
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
    if encoding.startswith("bayer_") and (width < 2 or height < 2):
        raise ImageDecodeError(f"{encoding} needs at least 2x2 pixels, got {width}x{height}")


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
    layout = _RAW_ENCODINGS[encoding]
    rows = buf.reshape(height, step)[:, : width * layout.bytes_per_pixel]
    if layout.depth == 2:
        order = ">u2" if is_bigendian else "<u2"
        pixels = rows.reshape(height, width * layout.channels * 2).view(order).astype(np.uint16)
    else:
        pixels = rows
    pixels = pixels.reshape(height, width, layout.channels)
    if layout.channels == 1:
        pixels = pixels[..., 0]
    if layout.to_rgb is not None:
        pixels = cv2.cvtColor(np.ascontiguousarray(pixels), layout.to_rgb)
    if layout.depth == 2:
        pixels = cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0)
    return np.ascontiguousarray(pixels)


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
        **{f"bayer_{p}8": (lambda f, p=p: _rgb_to_bayer(f, p)) for p in ("rggb", "bggr", "gbrg", "grbg")},
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


def _rgb_to_bayer(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """RGB -> one Bayer mosaic (what a machine-vision camera sends): `pattern` names the colours
    of the top-left 2x2 cell row by row, e.g. rggb."""
    out = np.empty(rgb.shape[:2], dtype=np.uint8)
    channel = {"r": 0, "g": 1, "b": 2}
    for i, colour in enumerate(pattern):
        dy, dx = divmod(i, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, channel[colour]]
    return out
