"""The operator's requests, validated strictly: a request the page (or anyone on the network)
sends is refused with a clear reason unless every field is there, of the right type and finite."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


class RequestError(ValueError):
    """A request the server cannot use: refused with `status` (4xx) and this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_json(body: bytes, charset: str | None) -> Any:
    """The one place a body becomes JSON: every way it can fail (an unknown or wrong charset,
    invalid JSON, nesting deeper than the parser's stack) is a RequestError, never a server error."""
    try:
        text = body.decode(charset or "utf-8")
    except LookupError:
        raise RequestError(f"unknown charset '{charset}' (send UTF-8 JSON)", 415) from None
    except UnicodeDecodeError:
        raise RequestError(f"the body is not valid {charset or 'UTF-8'} text", 400) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise RequestError("the JSON is nested too deeply", 400) from None
    except ValueError:
        raise RequestError("the request body is not valid JSON", 400) from None


@dataclass(frozen=True)
class InitRequest:
    stamp_ns: int  # the frame the operator saw (0: the newest)
    box: tuple[float, float, float, float]  # [x, y, w, h] in pixels of that frame
    label: str


@dataclass(frozen=True)
class PointRequest:
    stamp_ns: int
    x: float
    y: float


MAX_LABEL = 64
MAX_TRACK_ID = 32


def _number(data: dict, name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"'{name}' must be a finite number")
    return float(value)


def _stamp(data: dict) -> int:
    value = data.get("stamp_ns", "0")
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isdigit() or len(text) > 20:
        raise RequestError("'stamp_ns' must be the displayed frame's stamp (nanoseconds, as a string)")
    return int(text)


def _object(data: Any) -> dict:
    if not isinstance(data, dict):
        raise RequestError("the request body must be a JSON object")
    return data


def parse_init(data: Any) -> InitRequest:
    data = _object(data)
    box = data.get("box")
    if not isinstance(box, list) or len(box) != 4:
        raise RequestError("'box' must be [x, y, w, h] in pixels")
    values = tuple(_number({"box": v}, "box") for v in box)
    if values[2] <= 0 or values[3] <= 0:
        raise RequestError("the box needs a positive width and height")
    label = data.get("label", "")
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        raise RequestError(f"'label' must be a string of at most {MAX_LABEL} characters")
    if not label.isprintable():  # control characters, lone surrogates: nothing a label shows
        raise RequestError("'label' must be printable text (no control characters)")
    return InitRequest(_stamp(data), values, label)


def parse_point(data: Any) -> PointRequest:
    data = _object(data)
    return PointRequest(_stamp(data), _number(data, "x"), _number(data, "y"))


def parse_threshold(data: Any) -> float:
    value = _number(_object(data), "value")
    if not 0.0 <= value <= 1.0:
        raise RequestError("the score threshold must lie in [0, 1]")
    return value


def parse_remove(data: Any) -> str:
    track_id = _object(data).get("track_id")
    if not isinstance(track_id, str) or not 1 <= len(track_id) <= MAX_TRACK_ID or not track_id.isalnum():
        raise RequestError(f"'track_id' must be a target's id (letters and digits, at most {MAX_TRACK_ID})")
    return track_id
