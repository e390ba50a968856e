"""Several targets: batched (one network call per frame) against sequential (one call per target,
the same network), and the cost of a re-acquisition frame. No ROS.

  python -m hit_tracker_ros.tools.benchmark_targets --model hit_tiny --checkpoint random \\
      --backend onnxruntime --targets 1,2,4,8 --json out/targets_hit_tiny.json

Per target count: ms per frame for every target together, batched and sequential, and the
speed-up (median of --repeats runs over --frames frames, the two kinds of run interleaved).
Re-acquisition: ms per frame of one LOST target scoring --windows windows besides its own search,
against a normal frame (interleaved too).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.errors import cli
from ..core.reacquire import ReacquireSettings
from ..core.registry import build_tracker, model_spec
from ..core.session import TrackingSession
from ..core.synthetic import SceneConfig, SyntheticScene
from ..core.targets import TargetSet
from ..trackers.multi import batch_needed
from .cli import checkpoint_of


def boxes(n: int, width: int, height: int) -> list[list[float]]:
    """n target boxes spread over the frame (a grid), 48 x 40 px each."""
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    return [
        [width * (c + 0.5) / cols - 24, height * (r + 0.5) / rows - 20, 48.0, 40.0]
        for r in range(rows)
        for c in range(cols)
    ][:n]


def median_ms(steps: dict[str, object], frames: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Median ms per frame of each step over `repeats` runs, the steps' runs interleaved, so that
    a slow spell of a shared machine hits all of them alike."""
    for step in steps.values():
        step(frames[0])  # warm-up (a graph capture, an ONNX Runtime arena)
    runs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for frame in frames:
                step(frame)
            runs[name].append((time.perf_counter() - start) / len(frames) * 1e3)
    return {name: float(np.median(times)) for name, times in runs.items()}


def measure(args: argparse.Namespace, checkpoint: str | None) -> dict:
    scene = SyntheticScene(SceneConfig(width=args.width, height=args.height, n_frames=args.frames + 1))
    frames = [scene.frame(i) for i in range(args.frames + 1)]
    counts = [int(n) for n in args.targets.split(",")]
    base = dict(checkpoint=checkpoint, backend=args.backend, device=args.device)
    tracker = build_tracker(args.model, max_batch=batch_needed(max(counts), ReacquireSettings()), **base)
    rows = []
    for n in counts:
        targets = TargetSet(tracker, max_targets=n)
        for box in boxes(n, args.width, args.height):
            targets.start(frames[0], np.array(box))
        singles = [tracker.spawn() for _ in range(n)]
        for single, box in zip(singles, boxes(n, args.width, args.height), strict=True):
            single.initialize(frames[0], box)
        medians = median_ms(
            {"batched": targets.step, "sequential": lambda f, singles=singles: [s.track(f) for s in singles]},
            frames[1:],
            args.repeats,
        )
        batched, sequential = medians["batched"], medians["sequential"]
        rows.append(
            {
                "targets": n,
                "batched_ms": round(batched, 2),
                "sequential_ms": round(sequential, 2),
                "speedup": round(sequential / batched, 2),
            }
        )
        print(
            f"{n} targets: batched {batched:.1f} ms, sequential {sequential:.1f} ms per frame",
            file=sys.stderr,
        )
    return {
        "model": args.model,
        "backend": tracker.backend,
        "image": f"{args.width}x{args.height}",
        "rows": rows,
        "reacquisition": reacquisition_cost(args, tracker, frames),
    }


def reacquisition_cost(args: argparse.Namespace, tracker, frames: list[np.ndarray]) -> dict:
    """One target kept LOST (thresholds 1) on every frame, without and with --windows windows per
    frame (re-acquisition threshold 1: it searches every frame and never moves)."""
    steps = {}
    for name, windows in (("normal_frame_ms", 0), ("reacquisition_frame_ms", args.windows)):
        single = tracker.spawn()
        settings = ReacquireSettings(
            after_frames=1 if windows else 0, windows_per_frame=max(windows, 1), threshold=1.0
        )
        session = TrackingSession(single, reacquire=settings)
        session.start(frames[0], np.array(boxes(1, args.width, args.height)[0]))
        single.score_threshold = single.recover_threshold = 1.0
        steps[name] = session.step
    result = {name: round(ms, 2) for name, ms in median_ms(steps, frames[1:], args.repeats).items()}
    result["windows"] = args.windows
    return result


@cli
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--checkpoint", default=None, help="checkpoint, or 'random' (speed only)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--device", default="cpu")
    p.add_argument("--targets", default="1,2,4,8", help="comma-separated target counts")
    p.add_argument("--windows", type=int, default=4, help="re-acquisition windows per frame")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        model_spec(args.model)
    except ValueError as exc:
        p.error(str(exc))
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = checkpoint_of(args.model, args.checkpoint, Path(folder))
        result = measure(args, checkpoint)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
