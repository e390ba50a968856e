"""Access to ../shared/golden (reference outputs of the authors' implementations under
deterministic weights) and checkpoints in the authors' training-pickle format."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import types
from collections.abc import Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from hit_tracker_ros.core.files import exclusive, replaced_atomically

ROOT = Path(__file__).resolve().parents[1]
# ../shared/golden beside the checkout; HTR_GOLDEN points elsewhere (e.g. a copy on a GPU machine)
GOLDEN = Path(os.environ.get("HTR_GOLDEN") or Path(__file__).resolve().parents[2] / "shared" / "golden")
HIT_GOLDEN = {"hit_base": "HiT_Base", "hit_small": "HiT_Small", "hit_tiny": "HiT_Tiny"}
MIXFORMER_GOLDEN = {"mixformerv2_b": "MixFormerV2_B", "mixformerv2_s": "MixFormerV2_S"}
COMPRESSTRACKER_GOLDEN = {f"compresstracker_{n}": f"CompressTracker_{n}" for n in (2, 3, 4, 6, 8)}
ASYMTRACK_GOLDEN = {
    "asymtrack_tiny": "AsymTrack_T",
    "asymtrack_small": "AsymTrack_S",
    "asymtrack_base": "AsymTrack_B",
}
GOLDEN_NAMES = {
    **HIT_GOLDEN,
    **MIXFORMER_GOLDEN,
    **COMPRESSTRACKER_GOLDEN,
    **ASYMTRACK_GOLDEN,
    "ettrack": "ETTrack",
}
ONE_PER_FAMILY = ("hit_tiny", "mixformerv2_s", "compresstracker_2", "ettrack", "asymtrack_tiny")
# Whole-tracker golden runs: each family's smallest variant (ONE_PER_FAMILY, which the cross-cutting
# tests run too) follows all 16 frames of the sequence. A family's larger variants run the same
# tracker code on more or wider layers, which their network tests prove output by output, so their
# runs end at frame 8, where the target comes within 3 px of the top border: half the CPU of the
# golden-tracker tests (CompressTracker-8 alone: 1.5 s per frame on the 2-core CI machine).
LARGER_VARIANT_FRAMES = 9


def golden_frames(model: str) -> int:
    """How many frames of the golden sequence (the first one initializes) a whole-tracker run of
    `model` covers."""
    return len(sequence()["frames"]) if model in ONE_PER_FAMILY else LARGER_VARIANT_FRAMES


def tracked_frames(model: str, teacher_forced: bool = False) -> list[int]:
    """The frames after the initializing one that a whole-tracker run of `model` tracks. A
    teacher-forced run starts each frame from the drawn box of the frame before, so its frames do
    not depend on one another (in the families without online templates: not MixFormerV2): for a
    larger variant it tracks the first frame and the border frame only (CompressTracker-8: 16
    forward passes down to 10)."""
    n = golden_frames(model)
    return [1, n - 1] if teacher_forced and model not in ONE_PER_FAMILY else list(range(1, n))


def require_golden() -> Path:
    if not (GOLDEN / "golden_weights.py").exists():
        pytest.skip(
            f"golden reference data not found at {GOLDEN} (needs the shared/ folder beside the checkout)"
        )
    return GOLDEN


class Arrays(Mapping):
    """An .npz whose arrays are read once, on first use, and then kept read-only: numpy's NpzFile
    decompresses an array again at every `npz[key]` (the sequence's 16 frames for each frame a
    test tracks: 1.5 % of a profile of the computation tests)."""

    def __init__(self, path: Path) -> None:
        self._npz = np.load(path)
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            array = self._npz[key]
            array.flags.writeable = False
            self._arrays[key] = array
        return self._arrays[key]

    def __contains__(self, key: object) -> bool:
        return key in self._npz.files

    def __iter__(self) -> Iterator[str]:
        return iter(self._npz.files)

    def __len__(self) -> int:
        return len(self._npz.files)


def load_variant(name: str) -> tuple[dict, Arrays, dict[str, np.ndarray]]:
    """(manifest, npz, golden state dict) of golden variant `name`, e.g. 'HiT_Base'."""
    meta, npz, state = _variant(name)
    return meta, npz, dict(state)


@functools.lru_cache(maxsize=8)
def _variant(name: str) -> tuple[dict, Arrays, dict[str, np.ndarray]]:
    """Drawn once per test process: the weights rule takes up to 2 s of CPU for a ViT-B, and a
    worker meets the same variants in many modules."""
    folder = require_golden()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from golden_weights import golden_state_dict

    meta = json.loads((folder / f"{name}.json").read_text())
    npz = Arrays(folder / f"{name}.npz")
    return meta, npz, golden_state_dict(meta, npz)


@functools.lru_cache(maxsize=1)
def sequence() -> Arrays:
    """The golden sequence, once per process (a skip when the data is absent is not cached)."""
    return Arrays(require_golden() / "sequence.npz")


def save_authors_checkpoint(state_dict: dict[str, np.ndarray], path: Path) -> Path:
    """Write `{'net': state_dict, 'settings': <training class>, ...}` like the authors' training
    code does (the class lives in a module that does not exist outside their repository)."""
    import torch

    parts = "lib.train.admin.settings".split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    module = sys.modules["lib.train.admin.settings"]

    class Settings:
        def __init__(self) -> None:
            self.env = {"workspace_dir": "/home/author/workspace"}
            self.script_name = "HiT"

    Settings.__module__ = module.__name__
    Settings.__qualname__ = "Settings"
    module.Settings = Settings
    checkpoint = {
        "epoch": 1500,
        "actor_type": "HiTActor",
        "net_type": "HiT",
        "net": {k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()},
        "settings": Settings(),
    }
    torch.save(checkpoint, path)
    return path


class Golden(NamedTuple):
    """One golden variant: its manifest, arrays, state dict, and a checkpoint of it in the
    authors' format."""

    model: str
    meta: dict
    npz: Arrays
    state: dict[str, np.ndarray]
    checkpoint: Path


def golden_model(model: str, folder: Path | None = None) -> Golden:
    """Golden variant of `model` (e.g. hit_tiny), its checkpoint written into `folder` (default:
    the checkout's shared folder, see shared_folder) once, by whichever process comes first."""
    meta, npz, state = load_variant(GOLDEN_NAMES[model])
    folder = folder or shared_folder() / model
    if model == "ettrack":  # the authors keep E.T.Track's weights under 'state_dict', DataParallel prefix
        checkpoint = folder / "checkpoint_e35.pth"
    else:
        checkpoint = folder / f"{GOLDEN_NAMES[model]}.pth.tar"
    with exclusive(folder / ".checkpoint.lock"):
        if not checkpoint.exists():  # written once: the exports beside it stay valid
            with replaced_atomically(checkpoint) as tmp:
                if model == "ettrack":
                    import torch

                    weights = {f"module.{k}": torch.from_numpy(np.array(v)) for k, v in state.items()}
                    torch.save({"epoch": 35, "state_dict": weights}, tmp)
                else:
                    save_authors_checkpoint(state, tmp)
    return Golden(model, meta, npz, state, checkpoint)


@functools.lru_cache(maxsize=1)
def shared_folder() -> Path:
    """The folder (out/test-cache/<digest>) where golden checkpoints and the ONNX exports made
    beside them are shared by every test process of this checkout: both test workers and the
    Jazzy leg export each network once instead of once per process. The digest covers what an
    export depends on (the package's sources, this file, the golden data, torch and onnx), so a
    change of any of them starts from an empty folder; `prune_shared_folders` drops older ones."""
    digest = hashlib.sha256()
    files = sorted((ROOT / "hit_tracker_ros").rglob("*.py")) + [Path(__file__)]
    files += sorted(GOLDEN.glob("*.json")) + sorted(GOLDEN.glob("*.py"))
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    for dist in ("torch", "onnx", "onnxruntime", "openvino"):
        try:
            digest.update(f"{dist} {version(dist)}".encode())
        except PackageNotFoundError:
            digest.update(f"{dist} absent".encode())
    return ROOT / "out" / "test-cache" / digest.hexdigest()[:16]


def prune_shared_folders() -> None:
    """Drop the shared folders of other source states (each holds up to ~1.5 GB of checkpoints)."""
    current = shared_folder()
    for folder in current.parent.glob("*"):
        if folder.is_dir() and folder != current:
            shutil.rmtree(folder, ignore_errors=True)


def golden_fixture(models):
    """A module-scoped fixture giving a Golden per model of `models` (one test per model), its
    checkpoint in the shared folder (shared_folder), so that the ONNX exports made beside it are
    made once per checkout and source state, not once per test process."""

    @pytest.fixture(scope="module", params=list(models))
    def fixture(request) -> Golden:
        return golden_model(request.param)

    return fixture
