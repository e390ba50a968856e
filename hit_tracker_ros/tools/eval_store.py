"""Where an evaluation keeps each finished (tracker, sequence) pair as it completes, so that a run
stopped half way (Ctrl-C, a killed machine) resumes where it was, and where a pair that failed
keeps its reason for the report.

  OUT/results/<tracker>/<sequence>.txt   the boxes, one line per frame (the OTB toolkits' format)
  OUT/results/<tracker>/<sequence>.json  {"fps": ..., "lost_frames": [...]}: written last, so it
                                         marks the pair done
  OUT/failures/<tracker>/<sequence>.txt  why the pair failed (removed when it succeeds later)
  OUT/results/<tracker>/tracker.json     what <tracker> was (model, checkpoint, backend): a run
                                         with another tracker under the same name is refused

Files are written to a temporary name and renamed, so an interrupted write never looks done.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..core.errors import InputError


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


class ResultStore:
    def __init__(self, out: Path) -> None:
        self.out = Path(out)

    def _paths(self, tracker: str, sequence: str) -> tuple[Path, Path, Path]:
        folder = self.out / "results" / tracker
        return (
            folder / f"{sequence}.txt",
            folder / f"{sequence}.json",
            self.out / "failures" / tracker / f"{sequence}.txt",
        )

    def claim(self, tracker: str, spec: dict) -> None:
        """Results under `tracker` belong to `spec`; InputError when they belong to another (a
        different checkpoint under the same name would otherwise be resumed silently)."""
        path = self.out / "results" / tracker / "tracker.json"
        if path.exists():
            held = json.loads(path.read_text())
            if held != spec:
                raise InputError(
                    f"{self.out} holds results of another '{tracker}' ({held}); "
                    "use another --out, or remove it to start over"
                )
            return
        _atomic_write(path, json.dumps(spec, sort_keys=True) + "\n")

    def done(self, tracker: str, sequence: str) -> bool:
        return self._paths(tracker, sequence)[1].exists()

    def save(
        self, tracker: str, sequence: str, boxes: np.ndarray, fps: float, lost_frames: list[int] = ()
    ) -> None:
        boxes_path, meta_path, failure_path = self._paths(tracker, sequence)
        rows = "\n".join(",".join(f"{v:.3f}" for v in row) for row in np.asarray(boxes, dtype=np.float64))
        _atomic_write(boxes_path, rows + "\n")
        meta = {"fps": fps if np.isfinite(fps) else None, "lost_frames": [int(i) for i in lost_frames]}
        _atomic_write(meta_path, json.dumps(meta) + "\n")
        failure_path.unlink(missing_ok=True)

    def load(self, tracker: str, sequence: str) -> tuple[np.ndarray, float, list[int]]:
        """Boxes, FPS and the frames the tracker reported LOST."""
        boxes_path, meta_path, _ = self._paths(tracker, sequence)
        boxes = np.loadtxt(boxes_path, delimiter=",", ndmin=2).reshape(-1, 4)
        meta = json.loads(meta_path.read_text())
        fps = float("nan") if meta["fps"] is None else float(meta["fps"])
        return boxes, fps, list(meta.get("lost_frames", []))

    def fail(self, tracker: str, sequence: str, reason: str) -> None:
        _atomic_write(self._paths(tracker, sequence)[2], reason.strip() + "\n")

    def failures(self) -> dict[tuple[str, str], str]:
        """(tracker, sequence) -> reason, for every pair that failed and has not succeeded since."""
        found = {}
        for path in sorted((self.out / "failures").glob("*/*.txt")):
            found[(path.parent.name, path.stem)] = path.read_text().strip()
        return found
