"""Safe loading of the authors' training checkpoints.

Their files are training pickles: `{'net': state_dict, 'settings': <training class>, ...}`.
They are read with PyTorch's weights-only unpickler. Every non-tensor global the file names
(training classes, and anything a malicious file might name, such as `os.system`) is allowed only
as an inert stand-in class that records its arguments and runs nothing. So no code from the file
ever executes, and the tensors come out intact.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from ..core.errors import InputError

STATE_DICT_KEYS = ("net", "model", "state_dict")


class CheckpointError(InputError, RuntimeError):
    """A checkpoint that cannot be read or does not fit the network."""


class _Inert:
    """Stand-in for a global named by a checkpoint: keeps what it is given, does nothing."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state) -> None:
        self.state = state


def _inert_class(qualified_name: str) -> type:
    module, _, name = qualified_name.rpartition(".")
    return type(name or "Inert", (_Inert,), {"__module__": module or "inert"})


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict inside `path` (a training pickle with 'net'/'model'/'state_dict', or a bare
    state dict), loaded without executing pickled code. Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a PyTorch zip checkpoint (torch >= 1.6 format); legacy pickles are not read"
        )
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        stand_ins = [(_inert_class(name), name) for name in unsafe]
        with torch.serialization.safe_globals(stand_ins):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any reader failure the same way
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    return _state_dict_of(obj, path)


def _state_dict_of(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and len(tensors) == len(obj):
            return {k.removeprefix("module."): v for k, v in tensors.items()}
    raise CheckpointError(
        f"{path} holds no state dict (expected a dict of tensors, or one under {'/'.join(STATE_DICT_KEYS)})"
    )


def load_state_dict_strict(net: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """load_state_dict(strict=True) with a readable report of missing / unexpected / mis-shaped keys."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source} does not fit {type(net).__name__}: "
            + "; ".join(
                f"{label} ({len(keys)}): {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
                if keys
            )
        )
    net.load_state_dict(dict(state_dict), strict=True)
