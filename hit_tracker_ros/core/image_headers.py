"""Image dimensions read from JPEG and PNG headers, before any pixel is decoded.

A compressed frame is a few bytes that can declare any size: libjpeg fills a truncated 30000 x
30000 JPEG with grey, and a 109 KB PNG inflates to gigabytes. Reading the declared size first is
what lets the pixel budget refuse such frames without allocating them.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"

# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic).
# 0xC4 (DHT), 0xC8 (JPG extension) and 0xCC (DAC) share the range but are not frame headers.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
_SOS = 0xDA


class HeaderError(ValueError):
    """Bytes that are not a JPEG or PNG image with a readable size."""


def compressed_dimensions(data: bytes | memoryview) -> tuple[str, int, int]:
    """(format, width, height) declared by a JPEG or PNG header; HeaderError otherwise."""
    head = bytes(data[:8])
    if head.startswith(PNG_SIGNATURE):
        return ("png", *_png_dimensions(data))
    if head.startswith(JPEG_SOI):
        return ("jpeg", *_jpeg_dimensions(data))
    raise HeaderError("not a JPEG or PNG image (the formats compressed image transports send)")


def _png_dimensions(data: bytes | memoryview) -> tuple[int, int]:
    # Signature, then the IHDR chunk: length (4), type (4), width (4), height (4).
    if len(data) < 24:
        raise HeaderError("truncated PNG header")
    if bytes(data[12:16]) != b"IHDR":
        raise HeaderError("PNG without an IHDR chunk first")
    width, height = struct.unpack(">II", bytes(data[16:24]))
    return width, height


def _jpeg_dimensions(data: bytes | memoryview) -> tuple[int, int]:
    """Walk the marker segments up to the first start-of-frame header (O(segments), no decoding)."""
    pos, size = 2, len(data)
    while True:
        while pos < size and data[pos] != 0xFF:  # garbage between segments: libjpeg skips it too
            pos += 1
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            raise HeaderError("JPEG without a frame header (SOF)")
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if pos + 2 > size:
            raise HeaderError("truncated JPEG segment")
        (length,) = struct.unpack(">H", bytes(data[pos : pos + 2]))
        if length < 2:
            raise HeaderError(f"JPEG segment 0x{marker:02X} with invalid length {length}")
        if marker in _SOF_MARKERS:
            if pos + 7 > size:
                raise HeaderError("truncated JPEG frame header")
            height, width = struct.unpack(">HH", bytes(data[pos + 3 : pos + 7]))
            if height == 0:
                raise HeaderError("JPEG whose height is defined later (DNL marker) is not supported")
            return width, height
        if marker == _SOS:
            raise HeaderError("JPEG scan before any frame header (SOF)")
        pos += length
