"""Build TensorRT engines ahead of time (e.g. when flashing a fleet) and list the engine cache.

  python -m hit_tracker_ros.tools.engines build --model hit_tiny --checkpoint models/HiT_Tiny.pth.tar \\
      --precision fp16 [--workspace-mb 2048] [--dla-core 0] [--cache models/engines]
  python -m hit_tracker_ros.tools.engines list [--cache models/engines]

`build` exports ONNX if needed, builds (or finds) the engine for this GPU and TensorRT version,
verifies it against FP32 and records the result in the engine's manifest. Exit codes: 0 built and
verified; 1 the engine failed verification (refused); 2 it cannot be built here (no TensorRT or
CUDA, a missing checkpoint, a model without a network). Needs a CUDA GPU and the `tensorrt`
package.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from ..backends.options import PRECISIONS, BackendOptions
from ..core.errors import cli
from .cli import checkpoint_of

DEFAULTS = BackendOptions()


def build(args: argparse.Namespace) -> int:
    from ..trackers.network import family_of

    family_of(args.model)  # ValueError for an unknown model (cli: one line, exit 2)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = checkpoint_of(args.model, args.checkpoint, Path(folder))
        if not checkpoint.is_file():
            raise FileNotFoundError(f"checkpoint {checkpoint} not found")
        return build_engine(args, checkpoint)


def build_engine(args: argparse.Namespace, checkpoint: Path) -> int:
    from ..backends.tensorrt_runner import tensorrt_unavailable
    from ..core.registry import build_tracker

    missing = tensorrt_unavailable()
    if missing:
        print(f"engines build: cannot build TensorRT engines here: {missing}", file=sys.stderr)
        return 2
    try:
        tracker = build_tracker(
            args.model,
            checkpoint,
            backend="tensorrt",
            engine_cache_dir=str(args.cache),
            trt_precision=args.precision,
            trt_workspace_mb=args.workspace_mb,
            trt_dla_core=args.dla_core,
            min_verification_iou=args.min_iou,
        )
    except RuntimeError as exc:  # the only candidate was refused (verification) or failed
        print(f"engines build: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"backend": tracker.backend, **tracker.backend_info}, indent=2))
    return 0


def list_cache(args: argparse.Namespace) -> int:
    from ..backends.engine_cache import EngineCache

    entries = EngineCache(args.cache).entries()
    if not entries:
        print(f"no engines in {args.cache}")
    for e in entries:
        key, ver = e.get("key", {}), e.get("verification", {})
        print(
            f"{Path(e['engine']).name}: {key.get('precision')} TensorRT {key.get('tensorrt_version')} on "
            f"{key.get('gpu_name')} (sm {key.get('compute_capability')}), built {e.get('built_at')} in "
            f"{e.get('build_seconds')} s, verification IoU {ver.get('iou', 'n/a')} "
            f"{'accepted' if ver.get('accepted') else 'REFUSED' if ver else ''}"
            f"{'' if e['engine_present'] else ' (engine file missing)'}"
        )
    return 0


@cli
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or find) and verify an engine")
    b.add_argument("--model", required=True, help="a network model, e.g. hit_tiny")
    b.add_argument("--checkpoint", required=True, help="the checkpoint; 'random': random weights")
    b.add_argument("--precision", choices=PRECISIONS, default=DEFAULTS.trt_precision)
    b.add_argument("--workspace-mb", type=int, default=DEFAULTS.trt_workspace_mb)
    b.add_argument("--dla-core", type=int, default=DEFAULTS.trt_dla_core)
    b.add_argument("--min-iou", type=float, default=DEFAULTS.min_verification_iou)
    b.add_argument("--cache", type=Path, default=Path(DEFAULTS.engine_cache_dir))
    ls = sub.add_parser("list", help="list the cached engines and their manifests")
    ls.add_argument("--cache", type=Path, default=Path(DEFAULTS.engine_cache_dir))
    args = parser.parse_args(argv)
    return build(args) if args.command == "build" else list_cache(args)


if __name__ == "__main__":
    sys.exit(main())
