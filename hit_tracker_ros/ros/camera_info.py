"""sensor_msgs/CameraInfo -> the core's CameraModel (bearings)."""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo

from ..core.bearing import CameraModel


def camera_model(msg: CameraInfo, rectified: bool) -> CameraModel:
    """Raises CameraModelError for a camera_info that cannot give bearings (zeros, NaN, ...)."""
    return CameraModel.from_camera_info(
        int(msg.width),
        int(msg.height),
        list(msg.k),
        list(msg.d),
        msg.distortion_model,
        p=list(msg.p),
        binning=(int(msg.binning_x), int(msg.binning_y)),
        roi=(int(msg.roi.x_offset), int(msg.roi.y_offset), int(msg.roi.width), int(msg.roi.height)),
        rectified=rectified,
    )
