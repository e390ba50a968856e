"""Bare-pipeline benchmark: per-stage times and FPS of a tracker on the synthetic scene.

python -m hit_tracker_ros.tools.benchmark --model csrt --repeats 5 --json out/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..backends.options import BackendOptions
from ..core.errors import cli
from ..core.registry import build_tracker
from ..core.synthetic import SceneConfig, SyntheticScene
from ..core.tracker import Tracker
from .cli import checkpoint_of


def run_once(tracker: Tracker, scene: SyntheticScene, frames: list[np.ndarray]) -> dict[str, list[float]]:
    """Track the scene once from its first frame; per-frame stage times and total time (ms)."""
    tracker.initialize(frames[0], scene.truth(0))
    stages: dict[str, list[float]] = {"total": []}
    for frame in frames[1:]:
        start = time.perf_counter()
        result = tracker.track(frame)
        stages["total"].append((time.perf_counter() - start) * 1e3)
        for name, ms in result.timings_ms.items():
            stages.setdefault(name, []).append(ms)
    return stages


def parser(description: str) -> argparse.ArgumentParser:
    """The benchmark's arguments (shared with the node benchmark of hit_tracker_ros.ros.tools)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default="csrt")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint of the model; 'random' = randomly initialized weights (speed only, for "
        "machines without the authors' files)",
    )
    p.add_argument("--backend", default="auto")
    p.add_argument(
        "--backends",
        default=None,
        help="several backends side by side in one run, interleaved (e.g. onnxruntime,openvino,"
        "openvino-f32,torch): end-to-end ms per frame of each and its speed-up over the first",
    )
    p.add_argument("--device", default=BackendOptions().device, help=BackendOptions.help("device"))
    p.add_argument("--fp16", action="store_true", help=BackendOptions.help("fp16"))
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument(
        "--target-size",
        default=None,
        help="target WxH in px (default 40x32 scaled with --width); e.g. 24x20 at 640x480 is under "
        "0.4 %% of the image, where E.T.Track switches to its 288 px search crop",
    )
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument(
        "--template-cache",
        action="store_true",
        help="MixFormerV2, E.T.Track, AsymTrack: network time with vs without the torch backend's "
        "template cache",
    )
    return p


# (result, args, scene, frames, checkpoint) -> None: more measurements in the same run (the node's)
Extra = Callable[[dict, argparse.Namespace, SyntheticScene, list, "str | Path | None"], None]


def run(args: argparse.Namespace, extra: Extra | None = None) -> int:
    if args.template_cache:
        try:
            speedup = template_cache_speedup(args.model, args.repeats)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({"model": args.model, **speedup}, indent=2))
        return 0

    scale = args.width / 320
    target = (int(40 * scale), int(32 * scale))
    if args.target_size:
        target = tuple(int(v) for v in args.target_size.lower().split("x"))
    scene = SyntheticScene(
        SceneConfig(width=args.width, height=args.height, n_frames=args.frames, target_size=target)
    )
    frames = [scene.frame(i) for i in range(len(scene))]
    if args.backends:
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = checkpoint_of(args.model, args.checkpoint, Path(tmp))
            result = side_by_side(args, scene, frames, checkpoint, args.backends.split(","))
        return report(result, args)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = checkpoint_of(args.model, args.checkpoint, Path(tmp))
        build_args = {"checkpoint": checkpoint, "backend": args.backend}
        if args.device != "cpu" or args.fp16:
            build_args.update(device=args.device, fp16=args.fp16)
        result = benchmark(args, scene, frames, build_args)
        if extra is not None:
            extra(result, args, scene, frames, checkpoint)
    result["summary"] = summary_line(result)
    return report(result, args)


def report(result: dict, args: argparse.Namespace) -> int:
    result["weights"] = "random (speed only)" if args.checkpoint == "random" else str(args.checkpoint)
    text = json.dumps(result, indent=2)
    print(text)
    print(result["summary"], file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


def side_by_side(
    args: argparse.Namespace, scene: SyntheticScene, frames: list[np.ndarray], checkpoint, backends: list[str]
) -> dict:
    """Each backend's median end-to-end ms per frame over `args.repeats` runs, the backends' runs
    interleaved (a slow spell of the machine hits all alike), and the speed-up over the first."""
    trackers = {name: build_tracker(args.model, checkpoint=checkpoint, backend=name) for name in backends}
    for tracker in trackers.values():
        run_once(tracker, scene, frames[:10])  # warm-up
    runs: dict[str, list[float]] = {name: [] for name in trackers}
    for r in range(args.repeats):
        for name, tracker in trackers.items():
            runs[name].append(float(np.mean(run_once(tracker, scene, frames)["total"])))
        print(
            f"run {r + 1}/{args.repeats}: " + ", ".join(f"{n} {v[-1]:.1f} ms" for n, v in runs.items()),
            file=sys.stderr,
        )
    medians = {name: float(np.median(values)) for name, values in runs.items()}
    first = backends[0]
    rows = {
        name: {
            "backend": trackers[name].backend,
            "ms_per_frame": round(ms, 2),
            "speedup_vs_" + first: round(medians[first] / ms, 2),
            "selection": trackers[name].backend_info.get("backend_selection", ""),
        }
        for name, ms in medians.items()
    }
    cells = " | ".join(f"{medians[n]:.1f} ms ({medians[first] / medians[n]:.2f}x)" for n in backends)
    return {
        "model": args.model,
        "image": f"{args.width}x{args.height}",
        "frames_per_run": args.frames - 1,
        "repeats": args.repeats,
        "backends": rows,
        "summary": f"| {args.model} | {cells} |",
        "machine": machine(),
    }


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


@cli
def main(argv: list[str] | None = None) -> int:
    return run(parser(__doc__.split("\n")[0]).parse_args(argv))


def summary_line(result: dict) -> str:
    """Isaac-ROS-style one-liner: "<model>/<backend>: bare X fps / Y ms; node @ R Hz: X fps / Y ms"."""
    bare = result["stages_ms"]["total"]["median"]
    text = f"{result['model']}/{result['backend']}: bare {result['fps_median']:.1f} fps / {bare:.1f} ms"
    node = result.get("node")
    if node:
        latency = node["latency_ms"]
        text += (
            f"; node @ {node['rate_hz']:.0f} Hz: {node['fps']:.1f} fps / {latency['median']:.1f} ms"
            f" (p90 {latency['p90']:.1f} ms, {node['frames_dropped_or_lost']} of "
            f"{node['frames_sent']} frames dropped)"
        )
    return text


def template_cache_speedup(model: str, repeats: int = 5, frames: int = 20) -> dict:
    """Network time per frame without and with the torch backend's template cache (MixFormerV2:
    per-block keys/values; E.T.Track: backbone features; AsymTrack: ETM kernels and template
    tokens), CPU, random weights, templates fixed. A two-graph family (AsymTrack) also gives ONNX
    Runtime's two graphs with the template graph every frame vs once."""
    import torch

    from ..trackers.network import example_inputs, family_of

    family = family_of(model)
    torch.manual_seed(0)
    net = family.prepare(family.build_network(model))  # inference form (AsymTrack: OPE folded)
    fixed = {name: torch.from_numpy(a) for name, a in example_inputs(family, model).items()}

    def inputs(new_template: bool = False) -> list[torch.Tensor]:  # a new search crop per frame
        return [torch.randn_like(t) if name == "search" or new_template else t for name, t in fixed.items()]

    cached = family.torch_runtime(net)
    if cached is net:
        raise ValueError(f"{model} has no template cache")
    calls = {
        "uncached": lambda: net(*inputs()),
        "cached": lambda: cached(*inputs()),
    }
    if family.two_graphs is not None:
        runner = _onnxruntime_runner(model)

        def two_graphs(new_template: bool) -> None:
            runner.run({n: t.numpy() for n, t in zip(fixed, inputs(new_template), strict=True)})

        calls["onnxruntime_template_every_frame"] = lambda: two_graphs(True)
        calls["onnxruntime_template_once"] = lambda: two_graphs(False)
    result = {f"{name}_ms": _ms_per_call(call, repeats, frames) for name, call in calls.items()}
    result["speedup"] = result["uncached_ms"] / result["cached_ms"]
    if family.two_graphs is not None:
        every, once = result["onnxruntime_template_every_frame_ms"], result["onnxruntime_template_once_ms"]
        result["onnxruntime_speedup"] = every / once
    return result


def _onnxruntime_runner(model: str):
    """The ONNX Runtime (CPU) runner of `model` with random weights (its two graphs)."""
    with tempfile.TemporaryDirectory() as folder:
        tracker = build_tracker(
            model, checkpoint=checkpoint_of(model, "random", Path(folder)), backend="onnxruntime"
        )
    return tracker.runner


def _ms_per_call(call: Callable[[], object], repeats: int, frames: int) -> float:
    """Median over `repeats` runs of the mean ms per call over `frames` calls (3 warm-up calls)."""
    import torch

    runs = []
    with torch.inference_mode():
        for _ in range(3):
            call()
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(frames):
                call()
            runs.append((time.perf_counter() - start) / frames * 1e3)
    return float(np.median(runs))


def benchmark(
    args: argparse.Namespace, scene: SyntheticScene, frames: list[np.ndarray], build_args: dict
) -> dict:
    """Warm-up, then `args.repeats` runs over the scene: FPS per run and per-stage statistics."""
    tracker = build_tracker(args.model, **build_args)
    run_once(tracker, scene, frames[:10])  # warm-up
    fps_per_run, merged = [], {}
    for r in range(args.repeats):
        stages = run_once(tracker, scene, frames)
        fps_per_run.append(1e3 / float(np.mean(stages["total"])))
        for name, values in stages.items():
            merged.setdefault(name, []).extend(values)
        print(f"run {r + 1}/{args.repeats}: {fps_per_run[-1]:.1f} FPS", file=sys.stderr)
    return {
        "model": args.model,
        "backend": tracker.backend,
        "image": f"{args.width}x{args.height}",
        "frames_per_run": args.frames - 1,
        "repeats": args.repeats,
        "fps_median": float(np.median(fps_per_run)),
        "fps_runs": [round(f, 2) for f in fps_per_run],
        "stages_ms": {
            name: {"median": float(np.median(v)), "p90": float(np.percentile(v, 90))}
            for name, v in merged.items()
        },
        "machine": machine(),
    }


if __name__ == "__main__":
    sys.exit(main())
