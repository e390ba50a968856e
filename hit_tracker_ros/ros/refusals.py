"""Refusal texts of the tracker node that other nodes recognise (the MAVLink bridge maps them to
MAV_RESULT_TEMPORARILY_REJECTED); one definition for the node that says them and those that read."""

from ..core.frame_cache import NO_IMAGE_YET

NOT_ACTIVE = "node is not active"

__all__ = ["NOT_ACTIVE", "NO_IMAGE_YET"]
