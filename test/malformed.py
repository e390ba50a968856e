"""Malformed and hostile images for the hardening tests: decompression bombs and patched headers."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from hit_tracker_ros.core.image_headers import PNG_SIGNATURE


def small_jpeg(side: int = 16) -> bytes:
    rgb = (np.arange(side * side * 3, dtype=np.uint32) % 251).astype(np.uint8).reshape(side, side, 3)
    ok, buf = cv2.imencode(".jpg", rgb)
    assert ok
    return buf.tobytes()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A 16x16 baseline JPEG whose SOF0 header is patched to width x height: libjpeg decodes it
    at that size and fills the missing data (a few hundred bytes that become gigabytes)."""
    data = bytearray(small_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of width x height zeros: ~100 KB for 30000 x 30000."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_declaring(width: int, height: int) -> bytes:
    """A 16x16 PNG whose IHDR (with a correct CRC) declares width x height."""
    ok, buf = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
    assert ok
    data = bytearray(buf.tobytes())
    ihdr = bytes(data[16:29])
    patched = struct.pack(">II", width, height) + ihdr[8:]
    data[8:33] = _chunk(b"IHDR", patched)
    return bytes(data)
