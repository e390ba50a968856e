"""hit_tracker_ros: single-target visual tracking for ROS 2.

Public API (ROS-free): `build_tracker(model, checkpoint=None, backend="auto", **params)` returns a
tracker with `initialize(frame, box)` and `track(frame)` -> `TrackResult` (`.box` [x, y, w, h]
pixels, `.score`, `.state`); frames are H x W x 3 uint8 RGB arrays.
`build_multi_tracker(model, checkpoint=None, backend="auto", max_targets=8, **params)` tracks
several targets with one network call per frame (`add`, `remove`, `track` -> {track_id: result}).
"""

# The generated interfaces (hit_tracker_ros.msg / .srv) live in the colcon install space; let
# them be found when this source tree comes first on sys.path.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from . import trackers  # noqa: E402, F401  (registers the models)
from .core.registry import available_models, build_tracker  # noqa: E402
from .core.tracker import Tracker  # noqa: E402
from .core.types import TrackResult, TrackState  # noqa: E402
from .trackers.multi import MultiTracker, build_multi_tracker  # noqa: E402

__all__ = [
    "MultiTracker",
    "TrackResult",
    "TrackState",
    "Tracker",
    "available_models",
    "build_multi_tracker",
    "build_tracker",
]
__version__ = "0.1.0"
