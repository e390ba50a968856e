"""A simulated pan-tilt camera (no ROS): a spherical world wider than the field of view, rendered
through a pinhole camera whose yaw and pitch integrate the commanded rates (REP-103: yaw about
+z up, positive left; pitch about +y left, positive down), with a textured target that moves
over the world and an occluder that can hide it."""

from __future__ import annotations

import math

import cv2
import numpy as np

from hit_tracker_ros.core.synthetic import paste, target_texture

WIDTH, HEIGHT = 320, 240
FX = FY = 300.0
K = np.array([[FX, 0, WIDTH / 2], [0, FY, HEIGHT / 2], [0, 0, 1.0]])
PANORAMA = (2048, 1024)  # equirectangular: 360 x 180 degrees


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def direction(azimuth: float, elevation: float) -> np.ndarray:
    """World (FLU) unit vector: azimuth positive left, elevation positive up."""
    return np.array(
        [
            math.cos(elevation) * math.cos(azimuth),
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
        ]
    )


class PanTiltCamera:
    """Renders frame after frame while `step(yaw_rate, pitch_rate, dt)` moves the camera."""

    def __init__(self, seed: int = 3) -> None:
        self.yaw = 0.0
        self.pitch = 0.0
        rng = np.random.default_rng(seed)
        small = rng.integers(70, 190, size=(PANORAMA[1] // 16, PANORAMA[0] // 16, 3), dtype=np.uint8)
        self._world = cv2.GaussianBlur(
            cv2.resize(small, PANORAMA, interpolation=cv2.INTER_CUBIC), (0, 0), 3
        ) + rng.integers(0, 12, size=(PANORAMA[1], PANORAMA[0], 3), dtype=np.uint8)
        self._target = target_texture(40, 32)  # the demo's textured target
        u, v = np.meshgrid(np.arange(WIDTH, dtype=np.float64), np.arange(HEIGHT, dtype=np.float64))
        optical = np.stack([(u - K[0, 2]) / FX, (v - K[1, 2]) / FY, np.ones_like(u)], axis=-1)
        flu = np.stack([optical[..., 2], -optical[..., 0], -optical[..., 1]], axis=-1)
        self._rays = flu / np.linalg.norm(flu, axis=-1, keepdims=True)

    def rotation(self) -> np.ndarray:
        """Camera (FLU) to world (FLU): yaw about the world's up axis, then pitch about the new left."""
        return _rot_z(self.yaw) @ _rot_y(self.pitch)

    def step(self, yaw_rate: float, pitch_rate: float, dt: float) -> None:
        self.yaw += yaw_rate * dt
        self.pitch = float(np.clip(self.pitch + pitch_rate * dt, -1.2, 1.2))

    def project(self, world_dir: np.ndarray) -> tuple[float, float] | None:
        """Pixel of a world direction, or None behind the camera."""
        x, y, z = self.rotation().T @ world_dir  # camera FLU
        if x <= 1e-6:
            return None
        return K[0, 2] + FX * (-y / x), K[1, 2] + FY * (-z / x)

    def render(
        self, target: tuple[float, float], target_size: float, occluded: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(RGB frame, truth box [x, y, w, h] of the target; NaN when it is not in view).
        target = (azimuth, elevation) in radians, target_size its angular width in radians."""
        rays = self._rays @ self.rotation().T
        azimuth = np.arctan2(rays[..., 1], rays[..., 0])
        elevation = np.arcsin(np.clip(rays[..., 2], -1, 1))
        map_x = ((math.pi - azimuth) / (2 * math.pi) * PANORAMA[0]).astype(np.float32)
        map_y = ((math.pi / 2 - elevation) / math.pi * PANORAMA[1]).astype(np.float32)
        frame = cv2.remap(self._world, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        centre = self.project(direction(*target))
        if centre is None:
            return frame, np.full(4, np.nan)
        w = FX * target_size
        h = w * self._target.shape[0] / self._target.shape[1]
        box = np.array([centre[0] - w / 2, centre[1] - h / 2, w, h])
        x0, y0 = int(round(box[0])), int(round(box[1]))
        patch = cv2.resize(self._target, (max(int(round(w)), 2), max(int(round(h)), 2)))
        paste(frame, patch, x0, y0)
        if occluded:
            cv2.rectangle(
                frame,
                (x0 - 12, y0 - 12),
                (x0 + patch.shape[1] + 12, y0 + patch.shape[0] + 12),
                (90, 90, 90),
                -1,
            )
        return frame, box
