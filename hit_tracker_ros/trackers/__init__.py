"""Tracker families. Importing this package registers every model (each module registers its own
models, as timm's model files do); the registry in hit_tracker_ros.core knows none of them."""

from . import asymtrack, compresstracker, csrt, ettrack, hit, mixformer  # noqa: F401  (registration)
