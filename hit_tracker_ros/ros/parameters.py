"""Parameters described once: every node declares its table of ParameterSpecs through
ManagedNode (the same names, defaults and descriptions go to `ros2 param describe`), and tests
check launch files, config/*.yaml and the README's tables against the tables. The tracker node's
table is here; the others live beside their nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.options import BackendOptions
from ..core.images import DEFAULT_MAX_IMAGE_PIXELS

BACKEND_DEFAULTS = BackendOptions()  # the backend parameters' defaults come from here


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any
    description: str
    read_only: bool = True


def defaults(specs: tuple[ParameterSpec, ...]) -> dict[str, Any]:
    """name -> default of a table."""
    return {p.name: p.default for p in specs}


TRACKER_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("model", "csrt", "tracker model (see hit_tracker_ros.available_models())"),
    ParameterSpec("checkpoint", "", "path of the model's checkpoint file (empty: none)"),
    ParameterSpec("backend", "auto", "inference backend: auto, or one the model offers (torch, onnxruntime)"),
    ParameterSpec(
        "search_factor", 0.0, "search crop side / target size, STARK-lineage models (0: the model's default)"
    ),
    ParameterSpec("update_interval", 0, "MixFormerV2 online-template update period in frames (0: default 5)"),
    # device, fp16, engine_cache_dir, trt_precision, trt_workspace_mb, trt_dla_core, min_verification_iou
    *(
        ParameterSpec(name, getattr(BACKEND_DEFAULTS, name), BackendOptions.help(name))
        for name in BackendOptions.names()
    ),
    ParameterSpec("lost_threshold", 0.25, "a score below it enters LOST, in [0, 1]", False),
    ParameterSpec(
        "recover_threshold",
        0.25,
        "a LOST track returns to TRACKING at this score or above (at least lost_threshold), in [0, 1]",
        False,
    ),
    ParameterSpec("score_threshold", -1.0, "deprecated alias of lost_threshold (-1: unset)", False),
    ParameterSpec("max_lost_frames", 0, "a track LOST for this many frames ends (IDLE); 0: never", False),
    ParameterSpec(
        "handoff_policy",
        "best_score",
        "which detection of ~/init_detections becomes the target: best_score, nearest_center, "
        "nearest_previous or label:<class_id>",
        False,
    ),
    ParameterSpec("point_box_size", 64.0, "side in pixels of the box around a ~/init_point click", False),
    ParameterSpec(
        "max_targets",
        1,
        "targets tracked at once, one batched network call per frame (1: an init replaces the track)",
    ),
    ParameterSpec(
        "reacquire_after",
        0,
        "LOST frames after which a grid of windows over the whole image is searched; 0: never",
        False,
    ),
    ParameterSpec("reacquire_windows_per_frame", 4, "re-acquisition windows scored per frame", False),
    ParameterSpec(
        "reacquire_threshold", 0.5, "a window scoring this (in [0, 1]) or more takes the track there", False
    ),
    ParameterSpec(
        "rectified_input",
        False,
        "the images are rectified: bearings use camera_info's P and no distortion (else K and D)",
    ),
    ParameterSpec("autostart", True, "configure and activate on startup"),
    ParameterSpec("use_compressed", False, "subscribe to image/compressed (jpeg/png) instead of image"),
    ParameterSpec("image_qos_reliability", "best_effort", "input QoS: best_effort or reliable"),
    ParameterSpec("image_qos_depth", 5, "input QoS history depth"),
    ParameterSpec(
        "max_image_pixels",
        DEFAULT_MAX_IMAGE_PIXELS,
        "frames whose header declares more pixels are refused before decoding (default 8192x4320)",
    ),
    ParameterSpec("frame_cache_size", 30, "recent frames kept for initializing on a past stamp"),
    ParameterSpec(
        "init_stamp_tolerance", 0.001, "max |init stamp - frame stamp| in seconds to match a frame"
    ),
    ParameterSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages"),
)

PARAMETER_NAMES: frozenset[str] = frozenset(p.name for p in TRACKER_PARAMETERS)


def parameter_defaults() -> dict[str, Any]:
    """Every parameter of the tracker node with its default."""
    return defaults(TRACKER_PARAMETERS)
