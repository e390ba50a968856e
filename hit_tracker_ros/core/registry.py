"""Registry of tracker models, selected by name (the node's `model` parameter).

The registry knows no model: each tracker module registers its models when it is imported (as
timm's model files do), and `hit_tracker_ros.trackers` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tracker import DEFAULT_SCORE_THRESHOLD, Tracker

TrackerFactory = Callable[..., Tracker]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model. `factory(checkpoint, backend, score_threshold, **options)` returns a
    Tracker; it resolves backend "auto", explains a missing checkpoint and refuses unknown options
    with the valid names. `family` is the network family of network models (None for CSRT)."""

    name: str
    factory: TrackerFactory
    description: str
    backends: tuple[str, ...]
    needs_checkpoint: bool
    family: Any = None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"model '{spec.name}' is already registered")
    _REGISTRY[spec.name] = spec


def available_models() -> dict[str, ModelSpec]:
    """All registered models by name."""
    return dict(_REGISTRY)


def model_spec(model: str) -> ModelSpec:
    if model not in _REGISTRY:
        raise ValueError(f"unknown model '{model}'; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[model]


def build_tracker(
    model: str,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    **options: Any,
) -> Tracker:
    """Create a tracker by model name. `backend="auto"` picks the fastest verified backend;
    `options` are the model's tracker options and the backend options (device, fp16, engine cache,
    TensorRT settings); unknown ones are refused with the valid names."""
    spec = model_spec(model)
    # a backend, or one of its named candidates (torch-cuda-graph, onnxruntime-cuda, tensorrt-fp32)
    if backend != "auto" and backend.split("-")[0] not in spec.backends:
        raise ValueError(
            f"model '{model}' has no backend '{backend}'; available: auto, {', '.join(spec.backends)}"
        )
    if not spec.needs_checkpoint and checkpoint:
        raise ValueError(f"model '{model}' uses no checkpoint, got '{checkpoint}'")
    return spec.factory(checkpoint=checkpoint, backend=backend, score_threshold=score_threshold, **options)
