"""GPU benchmark (run by scripts/gpu-check): per family, end-to-end `track()` FPS at batch 1 for
PyTorch eager, CUDA graphs, and CUDA graphs with GPU preprocessing, and 1, 2, 4, 8 targets batched
against as many sequential trackers; one table on stdout, everything in a JSON file.

  python -m hit_tracker_ros.tools.gpu_benchmark --json out/gpu_check/benchmark.json

Random weights (speed does not depend on weight values; the authors' checkpoints are not needed).
Every figure is the median of --repeats runs over --frames frames of the 640x480 synthetic scene,
the variants' runs interleaved so a slow spell hits all alike. End to end means what `track()`
costs a caller: crop, upload, network, download, box decoding. On a machine without CUDA it says
so and exits 2; `--device cpu` is a smoke run of the same code (eager only; tests use it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.errors import cli
from ..core.registry import build_tracker
from ..core.synthetic import SceneConfig, SyntheticScene
from ..core.targets import TargetSet
from .benchmark_targets import boxes, median_ms
from .cli import random_checkpoint

MODELS = ("hit_tiny", "hit_small", "hit_base", "mixformerv2_s", "compresstracker_2", "ettrack")
# variant -> build_tracker options on a GPU
VARIANTS = {
    "eager": {"backend": "torch-cuda", "gpu_preprocess": False},
    "graphs": {"backend": "torch-cuda-graph", "gpu_preprocess": False},
    "graphs+gpu_crops": {"backend": "torch-cuda-graph", "gpu_preprocess": True},
}
CPU_VARIANTS = {"eager": {"backend": "torch"}}  # --device cpu: a smoke run


def fps_of(trackers: dict, frames: list[np.ndarray], box, repeats: int) -> dict[str, float]:
    """End-to-end batch-1 FPS of each tracker over the same frames (runs interleaved)."""
    for tracker in trackers.values():
        tracker.initialize(frames[0], box)

    def step(tracker):
        return lambda frame: tracker.track(frame)

    ms = median_ms({name: step(t) for name, t in trackers.items()}, frames[1:], repeats)
    return {name: 1e3 / value for name, value in ms.items()}


def batched_rows(tracker, frames: list[np.ndarray], counts: list[int], repeats: int, size) -> list[dict]:
    """ms per frame for n targets in one batched call against n sequential trackers."""
    rows = []
    for n in counts:
        targets = TargetSet(tracker, max_targets=n)
        singles = [tracker.spawn() for _ in range(n)]
        for single, box in zip(singles, boxes(n, *size), strict=True):
            targets.start(frames[0], np.array(box))
            single.initialize(frames[0], box)
        medians = median_ms(
            {"batched": targets.step, "sequential": lambda f, singles=singles: [s.track(f) for s in singles]},
            frames[1:],
            repeats,
        )
        rows.append(
            {
                "targets": n,
                "batched_ms": round(medians["batched"], 3),
                "sequential_ms": round(medians["sequential"], 3),
                "throughput_gain": round(medians["sequential"] / medians["batched"], 2),
            }
        )
    return rows


def measure(model: str, args: argparse.Namespace, frames: list[np.ndarray], box, folder: Path) -> dict:
    checkpoint = random_checkpoint(model, folder)
    variants = VARIANTS if args.device.startswith("cuda") else CPU_VARIANTS
    common = {"device": args.device} if args.device.startswith("cuda") else {}
    counts = [int(n) for n in args.targets.split(",")]
    start = time.monotonic()
    trackers = {
        name: build_tracker(model, checkpoint, max_batch=max(counts), **common, **options)
        for name, options in variants.items()
    }
    build_s = time.monotonic() - start
    fps = fps_of(trackers, frames[: args.frames + 1], box, args.repeats)
    fastest = list(trackers.values())[-1]
    size = (frames[0].shape[1], frames[0].shape[0])
    rows = batched_rows(fastest, frames[: args.batch_frames + 1], counts, args.repeats, size)
    result = {
        "model": model,
        "fps": {name: round(value, 1) for name, value in fps.items()},
        "backends": {name: t.backend for name, t in trackers.items()},
        "preprocess": {name: t.backend_info.get("preprocess", "cpu") for name, t in trackers.items()},
        "build_s": round(build_s, 1),
        "batched": {"variant": list(trackers)[-1], "rows": rows},
    }
    if "eager" in fps and len(fps) > 1:
        result["speedup_vs_eager"] = round(fps[list(fps)[-1]] / fps["eager"], 2)
    return result


def table(results: list[dict]) -> str:
    variants = list(results[0]["fps"])
    counts = [row["targets"] for row in results[0]["batched"]["rows"]]
    head = ["model", *(f"{v} FPS" for v in variants), "x eager", *(f"{n} tgt gain" for n in counts)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        cells = [r["model"], *(f"{r['fps'][v]:.0f}" for v in variants), str(r.get("speedup_vs_eager", "-"))]
        cells += [f"{row['throughput_gain']:.2f}" for row in r["batched"]["rows"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine(device: str) -> dict:
    import torch

    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info


@cli
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--device", default="cuda", help="cuda[:N]; cpu: a smoke run (eager only)")
    p.add_argument("--frames", type=int, default=100, help="frames per batch-1 run")
    p.add_argument("--batch-frames", type=int, default=30, help="frames per several-target run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--targets", default="1,2,4,8")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_benchmark: no CUDA device here (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    scene = SyntheticScene(
        SceneConfig(width=640, height=480, n_frames=max(args.frames, args.batch_frames) + 1)
    )
    frames = [scene.frame(i) for i in range(len(scene))]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models.split(","):
            result = measure(model, args, frames, scene.truth(0), Path(folder))
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
    report = {"machine": machine(args.device), "weights": "random (speed only)", "results": results}
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
