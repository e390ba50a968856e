"""Typed tracker options: each family's own dataclass, plus the shared BackendOptions. Keyword
options of `build_tracker` are split between the two; an unknown name is refused with the valid
ones."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..backends.options import BackendOptions


@dataclass(frozen=True)
class NoOptions:
    """A tracker without options of its own (CSRT, E.T.Track)."""


@dataclass(frozen=True)
class CropOptions:
    """STARK-lineage crop trackers (HiT, CompressTracker): search_factor overrides the family's
    search-crop side / target size (None: the family's default)."""

    search_factor: float | None = None


@dataclass(frozen=True)
class MixFormerV2Options(CropOptions):
    """update_interval: frames between online-template updates (None: the default 5)."""

    update_interval: int | None = None


def split_options(
    model: str, options: dict[str, Any], kind: type, note: str = ""
) -> tuple[BackendOptions, Any]:
    """(BackendOptions, kind(...)) from keyword options; ValueError naming the unknown and the valid."""
    backend_names = set(BackendOptions.names())
    own_names = {f.name for f in fields(kind)}
    unknown = sorted(set(options) - backend_names - own_names)
    if unknown:
        valid = ", ".join(sorted(backend_names | own_names))
        raise ValueError(
            f"unknown option {', '.join(unknown)} for model '{model}'; valid options: {valid}"
            + (f". {note}" if note else "")
        )
    backend = BackendOptions(**{k: v for k, v in options.items() if k in backend_names})
    return backend, kind(**{k: v for k, v in options.items() if k in own_names})
