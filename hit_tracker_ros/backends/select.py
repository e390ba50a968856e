"""Backend selection for `backend: auto`, and verification of accelerated backends.

The chains are in build.py. The first candidate that is installed, is created without error and
passes verification is used. Every skipped candidate is reported with the reason, also one that
fails while it is verified: ONNX Runtime's TensorRT EP builds its engine at the first run() of a
graph with dynamic axes, so a failed build or a refused shape shows there.
Verification runs fixed inputs through the candidate and an FP32 CPU reference and compares the
predicted boxes (in fractions of the search crop). A candidate is accepted when its IoU with the
reference reaches `min_iou`, or when every box coordinate agrees within BOX_DIFF_TOLERANCE: IoU is
ill-conditioned for boxes near zero size (seen on a GPU: HiT-Tiny CUDA boxes 2.5e-5 from the CPU
ones gave IoU 0.97 with weights that predict ~zero widths).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.boxes import iou_rows

BOX_DIFF_TOLERANCE = 2e-4  # of the search crop: 0.05 px at 256 px
# outputs -> (N, 4) x1, y1, x2, y2 in fractions of the search crop
BoxDecoder = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Built:
    """A created runner, and the cached engine it runs (TensorRT) when there is one."""

    runner: object
    engine: Any = None  # engine_cache.Entry


@dataclass
class Candidate:
    """One backend option: `unavailable()` says why it cannot be used (None: it can); `create()`
    returns the runner (or a Built with its engine)."""

    name: str
    unavailable: Callable[[], str | None]
    create: Callable[[], object]
    verify: bool = True  # accelerated/lower-precision paths are checked against the reference


@dataclass
class Selection:
    runner: object
    name: str
    skipped: list[str] = field(default_factory=list)  # "name: reason"
    verification: dict[str, float] | None = None
    engine: Any = None  # engine_cache.Entry of a TensorRT runner

    def report(self) -> str:
        return "; ".join(self.skipped) if self.skipped else "first choice"

    def info(self) -> dict[str, str]:
        """What diagnostics show about the choice."""
        info = {"backend_selection": self.report()}
        if self.verification:
            info["verification_iou"] = f"{self.verification['iou']:.4f}"
            info["verification_max_box_diff"] = f"{self.verification['max_box_diff']:.3g}"
        providers = getattr(self.runner, "providers", None)
        if providers:  # what ONNX Runtime actually runs, read back from the session
            info["onnxruntime_providers"] = ", ".join(providers)
        nodes = getattr(self.runner, "node_providers", None)
        if nodes:  # which provider ran how many nodes (profiled first run)
            info["onnxruntime_nodes"] = ", ".join(f"{p}: {n}" for p, n in nodes.items())
        if self.engine is not None:
            how = "rebuilt: " + self.engine.reason if self.engine.rebuilt else "cache hit"
            info["engine"] = f"{self.engine.path} ({how})"
        return info


def verify_against(
    runner, reference, inputs: list[dict[str, np.ndarray]], decode: BoxDecoder
) -> dict[str, float]:
    """Max |box difference| and minimum IoU of `runner` vs `reference` over `inputs`."""
    diffs, ious = [], []
    for feed in inputs:
        a, b = decode(runner.run(feed)), decode(reference.run(feed))
        diffs.append(float(np.abs(a - b).max()))
        ious.append(float(iou_rows(a, b).min()))
    return {"max_box_diff": max(diffs), "iou": min(ious)}


def select_backend(
    candidates: list[Candidate],
    reference: Callable[[], object],
    inputs: list[dict[str, np.ndarray]],
    decode: BoxDecoder,
    min_iou: float = 0.98,
    on_verified: Callable[[str, Built, dict[str, float], bool], None] | None = None,
) -> Selection:
    """The first usable and verified candidate, with the reasons the others were skipped."""
    skipped: list[str] = []
    reference_runner = None
    for candidate in candidates:
        reason = candidate.unavailable()
        if reason:
            skipped.append(f"{candidate.name}: {reason}")
            continue
        try:
            built = candidate.create()
        except Exception as exc:  # noqa: BLE001 - any failure moves on to the next backend
            skipped.append(f"{candidate.name}: failed to start ({exc})")
            continue
        built = built if isinstance(built, Built) else Built(built)
        runner = built.runner
        verification = None
        if candidate.verify:
            reference_runner = reference_runner or reference()
            try:
                verification = verify_against(runner, reference_runner, inputs, decode)
            except Exception as exc:  # noqa: BLE001 - e.g. an engine built (and failing) at first run
                skipped.append(f"{candidate.name}: failed during verification: {exc}")
                continue
            accepted = verification["iou"] >= min_iou or verification["max_box_diff"] <= BOX_DIFF_TOLERANCE
            if on_verified:
                on_verified(candidate.name, built, verification, accepted)
            if not accepted:
                skipped.append(
                    f"{candidate.name}: refused, verification IoU {verification['iou']:.4f} < {min_iou} "
                    f"and max box diff {verification['max_box_diff']:.3g} > {BOX_DIFF_TOLERANCE}"
                )
                continue
        return Selection(runner, candidate.name, skipped, verification, built.engine)
    raise RuntimeError("no usable backend: " + "; ".join(skipped))
