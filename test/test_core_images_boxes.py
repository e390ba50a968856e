"""Image decoding (all supported encodings, every error) and box geometry."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from hit_tracker_ros.core.boxes import InvalidBoxError, clip_to_image, iou, validate_box
from hit_tracker_ros.core.images import ImageDecodeError, decode_compressed, decode_raw, encode_raw


def smooth_frame(width: int = 16, height: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 12 + 20, yy * 20 + 30, np.full_like(xx, 150)], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_color_encodings_round_trip_exactly(encoding):
    rgb = smooth_frame()
    data, step = encode_raw(rgb, encoding)
    np.testing.assert_array_equal(decode_raw(data, 16, 8, step, encoding), rgb)


def test_mono8_gives_grey_rgb():
    rgb = smooth_frame()
    data, step = encode_raw(rgb, "mono8")
    out = decode_raw(data, 16, 8, step, "mono8")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert out.shape == (8, 16, 3) and np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_packed_yuv_encodings(encoding):
    rgb = smooth_frame()
    data, step = encode_raw(rgb, encoding)
    assert step == 16 * 2
    out = decode_raw(data, 16, 8, step, encoding)
    assert np.abs(out.astype(int) - rgb).max() <= 8  # 4:2:2 chroma subsampling


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_mosaics_demosaic_to_the_scene(pattern):
    """A machine-vision camera's mosaic comes back as the colours it sampled (cv_bridge's pattern
    mapping); decoding it as another pattern swaps colours."""
    rgb = np.zeros((8, 16, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 120, 40  # a flat colour demosaics exactly
    data, step = encode_raw(rgb, f"bayer_{pattern}8")
    assert step == 16
    out = decode_raw(data, 16, 8, step, f"bayer_{pattern}8")
    assert np.abs(out[2:-2, 2:-2].astype(int) - rgb[2:-2, 2:-2]).max() <= 1
    other = {"rggb": "bggr", "bggr": "rggb", "gbrg": "grbg", "grbg": "gbrg"}[pattern]
    swapped = decode_raw(data, 16, 8, step, f"bayer_{other}8")
    assert abs(int(swapped[4, 8, 0]) - 40) <= 1 and abs(int(swapped[4, 8, 2]) - 200) <= 1


def test_uyvy_and_yuy2_byte_orders_differ():
    rgb = smooth_frame()
    data, step = encode_raw(rgb, "yuv422")
    wrong = decode_raw(data, 16, 8, step, "yuv422_yuy2")
    assert np.abs(wrong.astype(int) - rgb).max() > 30


def test_padded_rows_are_skipped():
    rgb = smooth_frame()
    data, step = encode_raw(rgb, "rgb8")
    padded = b"".join(data[r * step : (r + 1) * step] + b"\x00" * 4 for r in range(8))
    np.testing.assert_array_equal(decode_raw(padded, 16, 8, step + 4, "rgb8"), rgb)


def test_mono16_scales_like_cv_bridge():
    """16 bits -> 8 bits as cv_bridge's convertTo(CV_8U, 255/65535): rounded, both byte orders."""
    values = np.array([[0, 0x00FF, 0x1234, 0xFFFF]], dtype="<u2")
    expected = [0, 1, 18, 255]  # 0x00FF * 255/65535 = 0.992: rounded, not truncated (>> 8 gives 0)
    assert list(decode_raw(values.tobytes(), 4, 1, 8, "mono16")[0, :, 0]) == expected
    big = decode_raw(values.astype(">u2").tobytes(), 4, 1, 8, "mono16", is_bigendian=True)
    assert list(big[0, :, 0]) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"encoding": "32FC1"}, "unsupported image encoding"),
        ({"width": 0, "height": 0, "step": 0, "data": b""}, "zero-size image"),
        ({"step": 16 * 3 - 1}, "smaller than width"),
        ({"data": bytes(16 * 3 * 8 - 1)}, "does not match height x step"),
        ({"data": bytes(16 * 3 * 8 + 5)}, "does not match height x step"),
        ({"encoding": "yuv422", "width": 15, "step": 30, "data": bytes(30 * 8)}, "even width"),
    ],
)
def test_raw_decode_errors(kwargs, message):
    args = {"data": bytes(16 * 3 * 8), "width": 16, "height": 8, "step": 48, "encoding": "rgb8"}
    args.update(kwargs)
    with pytest.raises(ImageDecodeError, match=message):
        decode_raw(**args)


def test_compressed_jpeg_png_and_garbage():
    rgb = smooth_frame(32, 24)
    for ext in (".png", ".jpg"):
        ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        out = decode_compressed(buf.tobytes(), ext[1:])
        error = np.abs(out.astype(int) - rgb)
        assert out.shape == rgb.shape
        assert error.max() == 0 if ext == ".png" else error.mean() < 8
    with pytest.raises(ImageDecodeError, match="could not decode"):
        decode_compressed(b"\x89PNG garbage", "png")
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_compressed(b"", "jpeg")


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((math.nan, 0, 10, 10), "NaN"),
        ((0, 0, math.inf, 10), "NaN"),
        ((0, 0, -5, 10), "positive"),
        ((0, 0, 10, 0), "positive"),
        ((100, 100, 10, 10), "outside"),
        ((63, 10, 10, 10), "outside"),  # 1 px inside: too little
        ((1, 2, 3), "4 values"),
    ],
)
def test_invalid_boxes(box, message):
    with pytest.raises(InvalidBoxError, match=message):
        validate_box(box, (64, 48))


def test_box_clipping_and_iou():
    np.testing.assert_allclose(validate_box((-5, 40, 20, 20), (64, 48)), [0, 40, 15, 8])
    np.testing.assert_allclose(clip_to_image(np.array([70.0, 0, 5, 5]), (64, 48)), [64, 0, 0, 5])
    assert iou(np.array([0, 0, 10, 10.0]), np.array([5, 0, 10, 10.0])) == pytest.approx(50 / 150)
    assert iou(np.array([0, 0, 10, 10.0]), np.array([20, 20, 5, 5.0])) == 0.0
    assert iou(np.array([0, 0, 0, 0.0]), np.array([0, 0, 0, 0.0])) == 0.0
