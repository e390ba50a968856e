"""What the command-line tools share besides error reporting (core.errors.cli): `--checkpoint
random`, randomly initialized weights for trying a tool or measuring speed without the authors'
files."""

from __future__ import annotations

from pathlib import Path

RANDOM = "random"


def random_checkpoint(model: str, folder: Path) -> Path:
    """A state dict of randomly initialized weights for `model` (timings do not depend on values)."""
    import torch

    from ..trackers.network import family_of

    path = Path(folder) / f"{model}-random.pth"
    torch.manual_seed(0)
    torch.save(family_of(model).build_network(model).state_dict(), path)
    return path


def checkpoint_of(model: str, value: str | Path | None, folder: Path) -> Path | None:
    """The checkpoint a `--checkpoint` argument names: a file, or 'random' (written into `folder`)."""
    if value is None:
        return None
    return random_checkpoint(model, folder) if str(value) == RANDOM else Path(value)
