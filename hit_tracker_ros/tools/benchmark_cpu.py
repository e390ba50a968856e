"""CPU thread policy under contention: per CPU backend and model, track() time idle, with one
and with two cores kept busy by other processes, and inside a one-CPU limit (the benchmark sets
it up with the CPU affinity, as `taskset -c 0` does), for the runtimes' own defaults (every host
core, idle workers spinning) against this package's policy (core.cpu: the CPUs the process may
use, passive waiting), side by side in one run.

  python -m hit_tracker_ros.tools.benchmark_cpu --models hit_tiny,ettrack \\
      --backends torch,onnxruntime,openvino --json out/cpu_policy.json

Each measurement is its own process (OpenMP reads its wait policy once, at start), random weights,
the 640x480 synthetic scene; the figure is the median ms per frame of --repeats runs of --frames
frames. Busy cores are plain busy loops in other processes. Linux only (affinity, /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..core.cpu import OPENMP_WAIT

LOADS = ("idle", "1 busy core", "2 busy cores", "1 CPU (affinity)")
POLICIES = {
    # what the runtimes do by themselves: every host core, idle workers spinning
    "runtime defaults": {"cpu_threads": os.cpu_count() or 1, "cpu_spin": True, "openmp": {}},
    "ours": {"cpu_threads": 0, "cpu_spin": False, "openmp": OPENMP_WAIT},
    "passive": {"cpu_threads": 0, "cpu_spin": False, "openmp": {"OMP_WAIT_POLICY": "PASSIVE"}},
}
BUSY = "while True:\n    pass\n"


def child(model: str, backend: str, policy: str, frames: int, repeats: int) -> dict:
    """One measurement in this process (called with --child)."""
    import numpy as np

    from ..core.registry import build_tracker
    from ..core.synthetic import SceneConfig, SyntheticScene
    from .benchmark import run_once
    from .cli import random_checkpoint

    settings = POLICIES[policy]
    scene = SyntheticScene(SceneConfig(width=640, height=480, n_frames=frames + 1, target_size=(80, 64)))
    images = [scene.frame(i) for i in range(frames + 1)]
    with tempfile.TemporaryDirectory() as folder:
        tracker = build_tracker(
            model,
            random_checkpoint(model, Path(folder)),
            backend=backend,
            cpu_threads=settings["cpu_threads"],
            cpu_spin=settings["cpu_spin"],
            engine_cache_dir=str(Path(folder) / "engines"),
        )
        run_once(tracker, scene, images[:4])  # warm-up
        runs = [float(np.mean(run_once(tracker, scene, images)["total"])) for _ in range(repeats)]
    return {
        "ms": float(np.median(runs)),
        "threads": len(os.listdir("/proc/self/task")),
        "policy": tracker.backend_info.get("cpu_threads", ""),
        "backend": tracker.backend,
    }


def measure(model: str, backend: str, policy: str, load: str, args: argparse.Namespace) -> dict:
    env = {
        k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", *OPENMP_WAIT)
    }
    env.update(POLICIES[policy]["openmp"])  # none: OpenMP's own default (its workers spin a while)
    command = [sys.executable, "-m", "hit_tracker_ros.tools.benchmark_cpu", "--child"]
    command += [model, backend, policy, str(args.frames), str(args.repeats)]
    pinned = (lambda: os.sched_setaffinity(0, {0})) if load == "1 CPU (affinity)" else None
    busy = [
        subprocess.Popen([sys.executable, "-c", BUSY])
        for _ in range({"1 busy core": 1, "2 busy cores": 2}.get(load, 0))
    ]
    try:
        out = subprocess.run(
            command, env=env, capture_output=True, text=True, preexec_fn=pinned, timeout=1800
        )
    finally:
        for process in busy:
            process.kill()
            process.wait()
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    head = ["model / backend", "policy", *LOADS, "busy core / idle"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        cells = [f"{r['model']} / {r['backend']}", r["policy"]]
        for load in LOADS:
            m = r["loads"][load]
            cells.append(f"{m['ms']:.1f} ms ({m['threads']} thr)" if "ms" in m else m["error"][:40])
        idle, busy = r["loads"]["idle"], r["loads"]["1 busy core"]
        cells.append(f"{busy['ms'] / idle['ms']:.1f}x" if "ms" in idle and "ms" in busy else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        model, backend, policy, frames, repeats = argv[1:6]
        print(json.dumps(child(model, backend, policy, int(frames), int(repeats))))
        return 0
    return run(argv)


def run(argv: list[str]) -> int:
    from ..core.errors import cli

    @cli
    def measure_all(argv: list[str] | None) -> int:
        p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        p.add_argument("--models", default="hit_tiny,ettrack")
        p.add_argument("--backends", default="torch,onnxruntime,openvino")
        p.add_argument("--frames", type=int, default=15)
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--policies", default="runtime defaults,ours", help=f"of: {', '.join(POLICIES)}")
        p.add_argument("--json", type=Path, default=None)
        args = p.parse_args(argv)
        if not hasattr(os, "sched_setaffinity"):
            print("benchmark_cpu: needs Linux (CPU affinity)", file=sys.stderr)
            return 2
        results = []
        for model in args.models.split(","):
            for backend in args.backends.split(","):
                for policy in args.policies.split(","):
                    loads = {load: measure(model, backend, policy, load, args) for load in LOADS}
                    results.append({"model": model, "backend": backend, "policy": policy, "loads": loads})
                    print(json.dumps(results[-1]), file=sys.stderr)
        print(table(results))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n")
        return 0

    return measure_all(argv)


if __name__ == "__main__":
    sys.exit(main())
