"""Tap to box, measured: the box core.tap_box fits around a tap at the centre of an object,
against the fixed square a tap gave before, as IoU with the true box, on synthetic scenes with
known boxes (one target size per row, --frames taps each), and the time each fit took.

  python -m hit_tracker_ros.tools.benchmark_tap --json out/tap_box.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..core.boxes import iou, point_box
from ..core.errors import cli
from ..core.synthetic import SceneConfig, SyntheticScene
from ..core.tap_box import fit_box

SIZES = ((17, 50), (24, 24), (40, 32), (80, 64), (120, 60), (160, 120))  # width x height, px


def measure(size: tuple[int, int], taps: int, side: float) -> dict:
    scene = SyntheticScene(
        SceneConfig(width=640, height=480, n_frames=2 * taps, target_size=size, occlusion_frames=(0, 0))
    )
    fitted, square, ms, fits = [], [], [], 0
    for i in range(0, 2 * taps, 2):
        truth, image = scene.truth(i), scene.frame(i)
        x, y = truth[0] + truth[2] / 2, truth[1] + truth[3] / 2
        fit = fit_box(image, x, y, side)
        fitted.append(iou(fit.box, truth))
        square.append(iou(point_box(x, y, side, (640, 480)), truth))
        ms.append(fit.ms)
        fits += fit.fitted
    return {
        "size": f"{size[0]}x{size[1]}",
        "iou_fitted": float(np.mean(fitted)),
        "iou_square": float(np.mean(square)),
        "fitted": f"{fits}/{taps}",
        "ms_median": float(np.median(ms)),
        "ms_max": float(np.max(ms)),
    }


@cli
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=20, help="taps per target size")
    p.add_argument("--side", type=float, default=64.0, help="the fixed square (and the fallback), px")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    rows = []
    for size in SIZES:
        rows.append(measure(size, args.frames, args.side))
        print(json.dumps(rows[-1]), file=sys.stderr)  # progress
    print("| target (px) | mean IoU, fitted | mean IoU, 64 px square | fitted | ms median (max) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['size']} | {r['iou_fitted']:.2f} | {r['iou_square']:.2f} | {r['fitted']} | "
            f"{r['ms_median']:.0f} ({r['ms_max']:.0f}) |"
        )
    every = np.mean([r["iou_fitted"] for r in rows]), np.mean([r["iou_square"] for r in rows])
    print(f"\nall sizes: fitted {every[0]:.2f}, square {every[1]:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
