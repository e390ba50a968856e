"""The same evaluation on a local process pool and on Ray: wall time, identical metrics, and Ray's
overhead per task, over synthetic flight bags (a ground-truth file beside each).

  python -m hit_tracker_ros.tools.benchmark_eval --bags 20 --frames 40 \\
      --tracker csrt --tracker hit_tiny:random:onnxruntime --tracker asymtrack_tiny:random:onnxruntime

`random` as a checkpoint: random weights (speed only; written once, shared by every task).
Prints a Markdown table and writes --json.
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
from ..core.synthetic import SceneConfig, SyntheticScene
from .bags import write_image_bag
from .cli import checkpoint_of
from .datasets import bag_sequence, find_bags, sidecar_ground_truth
from .eval_executors import InProcess, ProcessPool, RayExecutor
from .evaluate import TrackerSpec, evaluate

TOPIC = "/camera/image_raw"


def write_flights(folder: Path, bags: int, frames: int) -> list[Path]:
    """`bags` synthetic flights of `frames` frames (320x240), each with BAG.gt.txt beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(bags):
        scene = SyntheticScene(SceneConfig(n_frames=3 * frames, seed=100 + k, occlusion_frames=(0, 0)))
        bag = write_image_bag(
            folder / f"flight{k:03d}",
            [scene.frame(i) for i in range(frames)],
            [10**18 + i * 33_000_000 for i in range(frames)],
        )
        np.savetxt(folder / f"{bag.name}.gt.txt", [scene.truth(i) for i in range(frames)], delimiter=",")
    return find_bags([str(folder)])


def scores(report: dict) -> str:
    """Every metric of the report but the speeds, overall and per sequence, as text (NaN, e.g. the
    share of wrong LOST frames of a tracker never LOST, then compares equal to itself)."""
    kept = {
        t: {part: _without_speed(r[part]) for part in ("overall", "per_sequence")}
        for t, r in report["trackers"].items()
    }
    return json.dumps(kept, sort_keys=True)


def _without_speed(value):
    if isinstance(value, dict):
        return {k: _without_speed(v) for k, v in value.items() if not k.startswith("fps")}
    return value


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bags", type=int, default=20)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument(
        "--tracker", action="append", required=True, help="MODEL[:CHECKPOINT|random[:BACKEND]]"
    )
    parser.add_argument("--jobs", type=int, default=2, help="the process pool's size (Ray: every CPU)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        specs = []
        for text in args.tracker:
            spec = TrackerSpec.parse(text)
            if spec.checkpoint == "random":
                spec = TrackerSpec(spec.model, str(checkpoint_of(spec.model, "random", folder)), spec.backend)
            specs.append(spec)
        bags = write_flights(folder / "flights", args.bags, args.frames)
        sequences = [bag_sequence(b, TOPIC, sidecar_ground_truth(b)) for b in bags]
        evaluate(
            sequences[:1], specs, folder / "warm-up", progress=False, executor=InProcess(), log=lambda _: None
        )
        runs = {}
        ray = RayExecutor()
        try:
            for name, executor in (("pool", ProcessPool(args.jobs)), ("ray", ray)):
                start = time.perf_counter()
                report = evaluate(sequences, specs, folder / name, progress=False, executor=executor)
                runs[name] = {
                    "wall_s": time.perf_counter() - start,
                    "executor": executor.name,
                    "report": report,
                }
        finally:
            ray.close()
    tasks = len(sequences) * len(specs)
    result = {
        "bags": args.bags,
        "frames_per_bag": args.frames,
        "trackers": [s.name for s in specs],
        "tasks": tasks,
        "pool": {"executor": runs["pool"]["executor"], "wall_s": runs["pool"]["wall_s"]},
        "ray": {"executor": runs["ray"]["executor"], "wall_s": runs["ray"]["wall_s"]},
        "identical_metrics": scores(runs["pool"]["report"]) == scores(runs["ray"]["report"]),
        "max_auc_difference": max(
            abs(runs["pool"]["report"]["trackers"][t]["overall"]["auc"] - r["overall"]["auc"])
            for t, r in runs["ray"]["report"]["trackers"].items()
        ),
        "ray_overhead_per_task_s": (runs["ray"]["wall_s"] - runs["pool"]["wall_s"]) / tasks,
    }
    rows = [(result[k]["executor"], result[k]["wall_s"]) for k in ("pool", "ray")]
    print("| executor | tasks | wall s | per task s |\n| --- | --- | --- | --- |")
    for executor, wall in rows:
        print(f"| {executor} | {tasks} | {wall:.1f} | {wall / tasks:.2f} |")
    print(f"identical metrics: {result['identical_metrics']} (largest AUC difference "
          f"{result['max_auc_difference']:.2g}); Ray's extra time per task: "
          f"{result['ray_overhead_per_task_s']:+.2f} s")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["identical_metrics"] else 1


if __name__ == "__main__":
    sys.exit(main())
