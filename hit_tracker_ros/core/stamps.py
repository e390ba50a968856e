"""Image stamps as integer nanoseconds, the one representation the package computes with:
conversions from and to (sec, nanosec) pairs (builtin_interfaces/Time) and seconds, and how
they are written in logs and messages."""

from __future__ import annotations

NS_PER_S = 1_000_000_000


def to_ns(sec: int, nanosec: int) -> int:
    """(sec, nanosec) of a builtin_interfaces/Time -> nanoseconds."""
    return int(sec) * NS_PER_S + int(nanosec)


def to_parts(stamp_ns: int) -> tuple[int, int]:
    """Nanoseconds -> (sec, nanosec)."""
    return stamp_ns // NS_PER_S, stamp_ns % NS_PER_S


def seconds_to_ns(seconds: float) -> int:
    return int(round(float(seconds) * NS_PER_S))


def format_stamp(stamp_ns: int) -> str:
    """'1700000000.033333333': exact, as the stamp appears in `ros2 topic echo`."""
    sec, nanosec = to_parts(stamp_ns)
    return f"{sec}.{nanosec:09d}"


def parse_stamp(text: str) -> int:
    """'1700000000.033' (seconds, up to nanosecond digits) -> nanoseconds, without float rounding."""
    sec, _, frac = text.strip().partition(".")
    if not sec.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a stamp in seconds: '{text}'")
    return to_ns(int(sec), int((frac + "000000000")[:9]))
