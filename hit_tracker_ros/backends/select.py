"""Backend selection for `backend: auto`, and verification of accelerated backends.

The chains are in build.py. The first candidate that is installed, is created without error and
passes verification is used; except that candidates marked `race` (the CPU runtimes, and
OpenVINO's other devices) are all started and verified, timed for a few calls on the
verification inputs, and the fastest is used, so that `auto` is never slower than the best
runtime installed (each candidate's time is reported). Every skipped candidate is reported with
the reason, also one that fails while it is verified: ONNX Runtime's TensorRT EP builds its engine
at the first run() of a graph with dynamic axes, so a failed build or a refused shape shows there.

Verification runs fixed inputs through the candidate and an FP32 CPU reference and compares the
predicted boxes (in fractions of the search crop). A candidate is accepted when its IoU with the
reference reaches `min_iou`, or when every box coordinate agrees within BOX_DIFF_TOLERANCE: IoU is
ill-conditioned for boxes near zero size (seen on a GPU: HiT-Tiny CUDA boxes 2.5e-5 from the CPU
ones gave IoU 0.97 with weights that predict ~zero widths).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.boxes import iou_rows
from ..core.errors import InputError

BOX_DIFF_TOLERANCE = 2e-4  # of the search crop: 0.05 px at 256 px
# outputs -> (N, 4) x1, y1, x2, y2 in fractions of the search crop
BoxDecoder = Callable[[dict[str, np.ndarray]], np.ndarray]


class NoBackendError(InputError, RuntimeError):
    """No candidate of the chain is installed, starts and passes verification (each reason said)."""


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
    race: bool = False  # one of a group that is timed, the fastest taken (see the module docstring)


@dataclass
class Selection:
    runner: object
    name: str
    skipped: list[str] = field(default_factory=list)  # "name: reason"
    verification: dict[str, float] | None = None
    engine: Any = None  # engine_cache.Entry of a TensorRT runner
    timings_ms: dict[str, float] = field(default_factory=dict)  # the raced candidates' times
    cpu: str = ""  # a CPU runtime's threads and waiting policy, and why (core.cpu)

    def report(self) -> str:
        parts = list(self.skipped)
        if self.timings_ms:
            times = ", ".join(f"{name} {ms:.1f} ms" for name, ms in self.timings_ms.items())
            parts.append(f"measured per call: {times}: {self.name} is the fastest")
        return "; ".join(parts) if parts else "first choice"

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
        if self.cpu:
            info["cpu_threads"] = self.cpu
        if hasattr(self.runner, "loaded_from_cache"):  # OpenVINO's compiled-model cache
            info["compiled_model"] = "loaded from the cache" if self.runner.loaded_from_cache else "compiled"
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


RACE_CALLS = 5  # timed calls per raced candidate (after the verification's warm-up)
RACE_BUDGET_S = 2.0  # and no more time than this for one candidate


def time_per_call(runner, inputs: list[dict[str, np.ndarray]]) -> float:
    """Median ms of a runner's call on the verification inputs (a few calls, bounded)."""
    runner.run(inputs[0])  # warm-up (first-call allocations, lazy compilation)
    times: list[float] = []
    spent = 0.0
    for i in range(RACE_CALLS):
        start = time.perf_counter()
        runner.run(inputs[i % len(inputs)])
        times.append((time.perf_counter() - start) * 1e3)
        spent += times[-1] / 1e3
        if spent > RACE_BUDGET_S:
            break
    return float(np.median(times))


def select_backend(
    candidates: list[Candidate],
    reference: Callable[[], object],
    inputs: list[dict[str, np.ndarray]],
    decode: BoxDecoder,
    min_iou: float = 0.98,
    on_verified: Callable[[str, Built, dict[str, float], bool], None] | None = None,
) -> Selection:
    """The first usable and verified candidate (or the fastest of a racing group), with the
    reasons the others were skipped."""
    skipped: list[str] = []
    reference_runner = None
    racing: list[tuple[Candidate, Built, dict[str, float] | None]] = []

    def start(candidate: Candidate) -> tuple[Built, dict[str, float] | None] | None:
        """The candidate created and verified, or None (the reason recorded)."""
        nonlocal reference_runner
        reason = candidate.unavailable()
        if reason:
            skipped.append(f"{candidate.name}: {reason}")
            return None
        try:
            built = candidate.create()
        except Exception as exc:  # noqa: BLE001 - any failure moves on to the next backend
            skipped.append(f"{candidate.name}: failed to start ({exc})")
            return None
        built = built if isinstance(built, Built) else Built(built)
        verification = None
        if candidate.verify:
            reference_runner = reference_runner or reference()
            try:
                verification = verify_against(built.runner, reference_runner, inputs, decode)
            except Exception as exc:  # noqa: BLE001 - e.g. an engine built (and failing) at first run
                skipped.append(f"{candidate.name}: failed during verification: {exc}")
                return None
            accepted = verification["iou"] >= min_iou or verification["max_box_diff"] <= BOX_DIFF_TOLERANCE
            if on_verified:
                on_verified(candidate.name, built, verification, accepted)
            if not accepted:
                skipped.append(
                    f"{candidate.name}: refused, verification IoU {verification['iou']:.4f} < {min_iou} "
                    f"and max box diff {verification['max_box_diff']:.3g} > {BOX_DIFF_TOLERANCE}"
                )
                return None
        return built, verification

    for candidate in candidates:
        started = start(candidate)
        if candidate.race:
            if started is not None:
                racing.append((candidate, *started))
            continue
        if started is not None:
            built, verification = started
            return Selection(built.runner, candidate.name, skipped, verification, built.engine)
    if racing:
        return _fastest(racing, inputs, skipped)
    raise NoBackendError("no usable backend: " + "; ".join(skipped))


def _fastest(racing: list, inputs: list[dict[str, np.ndarray]], skipped: list[str]) -> Selection:
    """The raced candidate with the lowest time per call (one alone is not timed)."""
    if len(racing) == 1:
        candidate, built, verification = racing[0]
        return Selection(built.runner, candidate.name, skipped, verification, built.engine)
    timings: dict[str, float] = {}
    for candidate, built, _ in racing:
        try:
            timings[candidate.name] = time_per_call(built.runner, inputs)
        except Exception as exc:  # noqa: BLE001 - a runner that fails here is out of the race
            skipped.append(f"{candidate.name}: failed while timed ({exc})")
    if not timings:
        raise NoBackendError("no usable backend: " + "; ".join(skipped))
    winner = min(timings, key=timings.get)
    candidate, built, verification = next(r for r in racing if r[0].name == winner)
    return Selection(built.runner, candidate.name, skipped, verification, built.engine, timings)
