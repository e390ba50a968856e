"""Registry of tracker models, selected by name (the node's `model` parameter)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tracker import Tracker

TrackerFactory = Callable[..., Tracker]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its factory and what it needs."""

    name: str
    factory: TrackerFactory
    description: str
    backends: tuple[str, ...]
    needs_checkpoint: bool


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    factory: TrackerFactory,
    description: str,
    backends: tuple[str, ...],
    needs_checkpoint: bool,
) -> None:
    """Add a model; `factory(checkpoint=..., backend=..., **params)` returns a Tracker. The factory
    resolves backend "auto" itself and explains a missing checkpoint."""
    if name in _REGISTRY:
        raise ValueError(f"model '{name}' is already registered")
    _REGISTRY[name] = ModelSpec(name, factory, description, backends, needs_checkpoint)


def available_models() -> dict[str, ModelSpec]:
    """All registered models by name."""
    _load_builtin_models()
    return dict(_REGISTRY)


def build_tracker(
    model: str,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    **params: Any,
) -> Tracker:
    """Create a tracker by model name.

    `backend="auto"` picks the model's preferred backend; `params` go to the model's factory
    (e.g. `score_threshold`). Raises ValueError with the valid choices on a bad name.
    """
    models = available_models()
    if model not in models:
        raise ValueError(f"unknown model '{model}'; available: {', '.join(sorted(models))}")
    spec = models[model]
    if backend != "auto" and backend not in spec.backends:
        raise ValueError(
            f"model '{model}' has no backend '{backend}'; available: auto, {', '.join(spec.backends)}"
        )
    if not spec.needs_checkpoint and checkpoint:
        raise ValueError(f"model '{model}' uses no checkpoint, got '{checkpoint}'")
    return spec.factory(checkpoint=checkpoint, backend=backend, **params)


_BUILTINS_LOADED = False


def _load_builtin_models() -> None:
    """Register the built-in models (once)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from ..pipeline.compresstracker import COMPRESSTRACKER
    from ..pipeline.ettrack import ETTRACK
    from ..pipeline.factory import register_family
    from ..pipeline.hit import HIT
    from ..pipeline.mixformer import MIXFORMERV2
    from . import csrt  # noqa: F401

    register_family(HIT)
    register_family(MIXFORMERV2)
    register_family(COMPRESSTRACKER)
    register_family(ETTRACK)
