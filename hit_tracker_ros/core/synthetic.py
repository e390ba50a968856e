"""Deterministic synthetic camera scene with known truth: a textured target moving over
clutter, a brief occlusion, and optionally the target leaving the image at the end."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SceneConfig:
    """Geometry and timing of the synthetic scene."""

    width: int = 320
    height: int = 240
    n_frames: int = 120
    target_size: tuple[int, int] = (40, 32)
    occlusion_frames: tuple[int, int] = (60, 64)  # [start, end): occluder covers the target
    leave_frames: int = 0  # frames at the end during which the target moves out to the right
    seed: int = 7


class SyntheticScene:
    """Renders frame `i` (RGB uint8) and its truth box [x, y, w, h]; same output on every run."""

    def __init__(self, config: SceneConfig | None = None) -> None:
        self.config = config or SceneConfig()
        rng = np.random.default_rng(self.config.seed)
        self._background = _clutter(self.config.width, self.config.height, rng)
        self._target = target_texture(*self.config.target_size)
        self._noise = SensorNoise(self.config.width, self.config.height, self.config.seed)

    def __len__(self) -> int:
        return self.config.n_frames

    def truth(self, i: int) -> np.ndarray:
        """Box where the target is drawn in frame `i` (may extend beyond the image when leaving)."""
        c = self.config
        tw, th = c.target_size
        moving = c.n_frames - c.leave_frames
        t = min(i, moving - 1) / max(moving - 1, 1)
        cx = c.width * (0.5 + 0.28 * np.sin(2 * np.pi * t))
        cy = c.height * (0.5 + 0.22 * np.sin(4 * np.pi * t + 0.6))
        if i >= moving:
            cx += (i - moving + 1) * (c.width * 0.7 / max(c.leave_frames, 1) + 2)
        return np.array([round(cx - tw / 2), round(cy - th / 2), tw, th], dtype=np.float64)

    def occluded(self, i: int) -> bool:
        """True while the occluder covers the target."""
        start, end = self.config.occlusion_frames
        return start <= i < end

    def frame(self, i: int) -> np.ndarray:
        """RGB frame `i`."""
        img = self._background.copy()
        x, y, w, h = (int(v) for v in self.truth(i))
        paste(img, self._target, x, y)
        if self.occluded(i):
            # A grey bar over nearly all of the target, as a passing pole would: what shows is too
            # little for any tracker to claim it (LOST), enough for CSRT to pick it up again after.
            ox = x + int(w * 0.05)
            paste(img, np.full((h + 24, int(w * 0.9), 3), 128, np.uint8), ox, y - 12)
        return self._noise.add(img, i)


class SensorNoise:
    """Gaussian sensor noise (sigma 3 grey levels), a different field on every frame and the same
    on every run. Drawn once, larger than the image, and cut at an offset that depends on the
    frame: drawing 230,000 normals per frame made the scene, not the tracker, the cost of the
    tests and the demo (8 ms per 320x240 frame, 1 ms now)."""

    MARGIN = 64

    def __init__(self, width: int, height: int, seed: int, sigma: float = 3.0) -> None:
        self.width, self.height, self.seed = width, height, seed
        field = np.random.default_rng(seed * 100003).normal(
            0.0, sigma, (height + self.MARGIN, width + self.MARGIN, 3)
        )
        self._field = np.round(field).astype(np.int16)

    def add(self, img: np.ndarray, i: int) -> np.ndarray:
        """`img` (uint8, this size) with frame `i`'s noise, saturated to 0..255."""
        dy, dx = np.random.default_rng(self.seed * 100003 + i).integers(0, self.MARGIN, 2)
        window = self._field[dy : dy + self.height, dx : dx + self.width]
        return cv2.add(img, window, dtype=cv2.CV_8U)


def _clutter(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([80 + 60 * xx / width, 90 + 50 * yy / height, 120 - 40 * xx / width], axis=-1)
    for _ in range(14):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(8, 30)
        color = rng.uniform(40, 220, size=3)
        mask = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))[..., None]
        img = img * (1 - mask) + color * mask
    return np.clip(img, 0, 255).astype(np.uint8)


def target_texture(width: int, height: int) -> np.ndarray:
    """The textured target (checkerboard, dark frame, bright diagonal stripe) of width x height."""
    yy, xx = np.mgrid[0:height, 0:width]
    checker = ((xx // 6 + yy // 6) % 2).astype(np.float32)
    tex = np.stack([230 * checker + 20, 40 + 60 * checker, 30 + 30 * (1 - checker)], axis=-1)
    stripe = np.abs(xx - yy * width / height) < 3
    tex[stripe] = (250, 240, 60)
    tex = tex.astype(np.uint8)
    cv2.rectangle(tex, (0, 0), (width - 1, height - 1), (15, 15, 15), 2)
    return tex


def paste(img: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Copy `patch` into `img` with its top-left corner at (x, y), cut at the borders."""
    h, w = patch.shape[:2]
    H, W = img.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x2 > x1 and y2 > y1:
        img[y1:y2, x1:x2] = patch[y1 - y : y2 - y, x1 - x : x2 - x]


class JumpScene:
    """The target drifts slowly near `start`, then at `jump_frame` reappears at `after`, far
    outside any search window around its last box (behind a tree, out of the frame and back):
    what local tracking alone never recovers from."""

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        n_frames: int = 80,
        jump_frame: int = 20,
        start: tuple[int, int] = (40, 40),
        after: tuple[int, int] = (240, 170),
        target_size: tuple[int, int] = (40, 32),
        seed: int = 11,
    ) -> None:
        self.width, self.height, self.n_frames, self.jump_frame = width, height, n_frames, jump_frame
        self.start, self.after, self.target_size, self.seed = start, after, target_size, seed
        self._background = _clutter(width, height, np.random.default_rng(seed))
        self._target = target_texture(*target_size)
        self._noise = SensorNoise(width, height, seed)

    def __len__(self) -> int:
        return self.n_frames

    def truth(self, i: int) -> np.ndarray:
        x, y = self.start if i < self.jump_frame else self.after
        drift = (i if i < self.jump_frame else i - self.jump_frame) % 10
        w, h = self.target_size
        return np.array([x + drift, y + drift // 2, w, h], dtype=np.float64)

    def frame(self, i: int) -> np.ndarray:
        img = self._background.copy()
        x, y, _, _ = (int(v) for v in self.truth(i))
        paste(img, self._target, x, y)
        return self._noise.add(img, i)
