"""Bearings of image points from a calibrated camera (the fields of sensor_msgs/CameraInfo).

A pixel error is meaningless to a gimbal with a zoom lens: the same 100 px are 10 degrees at wide
angle and 1 degree zoomed in. The bearing of the target, through the intrinsics and the lens
distortion, is what a controller needs, so that a zoom change moves the bearing and not the gains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# distortion model -> number of coefficients OpenCV takes (ROS names, sensor_msgs/distortion_models)
_DISTORTION_MODELS = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}


class CameraModelError(ValueError):
    """A camera_info that cannot give bearings (zeros, NaN, unknown distortion model)."""


@dataclass(frozen=True)
class CameraModel:
    """Pinhole camera with optional distortion, for images of `image_size` = (width, height).

    `scale` and `offset` map an image pixel to the calibrated sensor pixel (binning and region of
    interest, as CameraInfo describes them)."""

    image_size: tuple[int, int]
    camera_matrix: np.ndarray  # 3x3 K
    distortion: np.ndarray  # coefficients in OpenCV order
    distortion_model: str
    scale: tuple[float, float] = (1.0, 1.0)
    offset: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_camera_info(
        cls,
        width: int,
        height: int,
        k: list[float] | np.ndarray,
        d: list[float] | np.ndarray,
        distortion_model: str,
        p: list[float] | np.ndarray | None = None,
        binning: tuple[int, int] = (0, 0),
        roi: tuple[int, int, int, int] = (0, 0, 0, 0),
        rectified: bool = False,
    ) -> CameraModel:
        """Validate CameraInfo fields. `rectified`: the images are rectified (image_rect), so the
        projection matrix P applies and there is no distortion. roi = (x, y, width, height)."""
        matrix = np.asarray(p if rectified else k, dtype=np.float64).reshape(-1)
        if matrix.size not in (9, 12):
            raise CameraModelError(f"camera matrix has {matrix.size} values")
        matrix = matrix.reshape(3, -1)[:, :3]
        fx, fy = matrix[0, 0], matrix[1, 1]
        if not np.all(np.isfinite(matrix)) or fx <= 0 or fy <= 0:
            raise CameraModelError(f"camera_info has no valid focal length (fx={fx:g}, fy={fy:g})")
        if width <= 0 or height <= 0:
            raise CameraModelError(f"camera_info has no image size ({width}x{height})")
        coefficients = np.zeros(0) if rectified else np.asarray(d, dtype=np.float64).reshape(-1)
        model = "" if rectified or not np.any(coefficients) else distortion_model
        if model and model not in _DISTORTION_MODELS:
            supported = ",".join(_DISTORTION_MODELS)
            raise CameraModelError(
                f"unsupported distortion model '{distortion_model}'; supported: {supported}"
            )
        if not np.all(np.isfinite(coefficients)):
            raise CameraModelError("distortion coefficients are not finite")
        if model:
            wanted = _DISTORTION_MODELS[model]
            coefficients = np.pad(coefficients, (0, max(wanted - coefficients.size, 0)))[:wanted]
        bx, by = (max(int(b), 1) for b in binning)
        rx, ry, rw, rh = (int(v) for v in roi)
        full_w, full_h = (rw, rh) if rw > 0 and rh > 0 else (width, height)
        return cls(
            image_size=(full_w // bx, full_h // by),
            camera_matrix=matrix,
            distortion=coefficients,
            distortion_model=model,
            scale=(float(bx), float(by)),
            offset=(float(rx), float(ry)),
        )

    def bearing(self, u: float, v: float) -> tuple[float, float]:
        """(azimuth, elevation) in radians of the ray through image pixel (u, v): +x right, +y down."""
        sensor = np.array(
            [[[u * self.scale[0] + self.offset[0], v * self.scale[1] + self.offset[1]]]], dtype=np.float64
        )
        if self.distortion_model == "equidistant":
            normalized = cv2.fisheye.undistortPoints(sensor, self.camera_matrix, self.distortion)
        elif self.distortion_model:
            normalized = cv2.undistortPoints(sensor, self.camera_matrix, self.distortion)
        else:
            fx, fy = self.camera_matrix[0, 0], self.camera_matrix[1, 1]
            cx, cy = self.camera_matrix[0, 2], self.camera_matrix[1, 2]
            normalized = np.array([[[(sensor[0, 0, 0] - cx) / fx, (sensor[0, 0, 1] - cy) / fy]]])
        x, y = (float(c) for c in normalized[0, 0])
        return math.atan2(x, 1.0), math.atan2(y, math.hypot(x, 1.0))

    def describe(self) -> str:
        w, h = self.image_size
        return f"{w}x{h}, {self.distortion_model or 'no distortion'}"
