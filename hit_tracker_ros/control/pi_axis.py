"""One PI axis with deadband, anti-windup, output and slew-rate limits."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AxisGains:
    """kp, ki: proportional and integral gains (output per unit error, per unit error-second);
    max_output: |command| limit; max_accel: |change of command| per second (slew rate);
    deadband: errors smaller than this are treated as zero (and larger ones shifted by it, so
    the command does not jump at the edge); integral_zone: the integral only accumulates while
    |error| is below it, so a large initial error (a new target far off-centre) does not wind it
    up into an overshoot, while the small lag of a moving target is still integrated away."""

    kp: float = 1.0
    ki: float = 0.0
    max_output: float = 1.0
    max_accel: float = math.inf
    deadband: float = 0.0
    integral_zone: float = math.inf

    def validate(self, name: str) -> None:
        for field, value in vars(self).items():
            if math.isnan(value) or value < 0:
                raise ValueError(f"{name}.{field} must be >= 0, got {value}")


class PiAxis:
    """u = kp·e + ki·∫e, clamped to ±max_output, changing at most max_accel per second.

    Anti-windup: the integral only grows while the output is not saturated in the direction of
    the error and the error is inside the integral zone, and its contribution never exceeds
    max_output on its own."""

    def __init__(self, gains: AxisGains) -> None:
        self.gains = gains
        self._integral = 0.0
        self._output = 0.0

    @property
    def output(self) -> float:
        return self._output

    def reset(self) -> None:
        """Forget the integral and the last output (the next command starts from zero)."""
        self._integral = 0.0
        self._output = 0.0

    def update(self, error: float, dt: float) -> float:
        g = self.gains
        error = math.copysign(max(abs(error) - g.deadband, 0.0), error)
        unclamped = g.kp * error + g.ki * self._integral
        saturated = abs(unclamped) >= g.max_output and unclamped * error > 0
        if g.ki > 0 and not saturated and abs(error) < g.integral_zone:
            self._integral += error * dt
            limit = g.max_output / g.ki
            self._integral = max(-limit, min(limit, self._integral))
        wanted = max(-g.max_output, min(g.max_output, g.kp * error + g.ki * self._integral))
        step = g.max_accel * dt if math.isfinite(g.max_accel) else math.inf
        self._output = max(self._output - step, min(self._output + step, wanted))
        return self._output
