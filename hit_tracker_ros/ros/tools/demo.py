"""`make demo`: the real tracker node over real DDS on a synthetic camera scene.

Starts `tracker_node` (CSRT, no weights) as a process, streams a deterministic synthetic scene
(textured target over clutter, a brief occlusion, the target leaving at the end) to it, selects
the target through the real `~/init` service and records what the node publishes: a CSV of boxes
with per-frame IoU against the known truth, an annotated video, an image strip and a summary.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ...core.annotate import annotate
from ...core.boxes import clip_to_image, iou
from ...core.errors import cli
from ...core.synthetic import SceneConfig, SyntheticScene
from ...core.types import TrackState
from .private_domain import use_private_domain

FRAME_PERIOD_NS = 33_333_333  # 30 Hz camera


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--frames", type=int, default=150, help="length of the synthetic scene")
    parser.add_argument("--model", default="csrt", help="tracker model of the node")
    args = parser.parse_args(argv)

    # Own DDS domain on localhost: the demo must not talk to other ROS graphs on this machine.
    use_private_domain()
    from .dds_client import Client
    from .node_process import NodeProcess
    from .remote_tracker import RemoteTracker
    from .scene_camera import make_image

    scene = SyntheticScene(SceneConfig(n_frames=args.frames, leave_frames=args.frames // 8))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp0 = time.time_ns()
    stamps = [stamp0 + i * FRAME_PERIOD_NS for i in range(len(scene))]

    print(f"[demo] starting tracker_node (model {args.model}) on ROS_DOMAIN_ID {os.environ['ROS_DOMAIN_ID']}")
    node = NodeProcess(
        "/demo", {"model": args.model, "image_qos_reliability": "reliable"}, Path(tempfile.mkdtemp())
    )
    client = Client()
    try:
        remote = RemoteTracker(node, client)
        remote.send_and_wait(make_image(scene.frame(0), stamps[0]))
        response = remote.init(scene.truth(0), stamps[0], label="target")
        if not response.success:
            raise RuntimeError(f"~/init refused: {response.message}")
        print(f"[demo] ~/init accepted: track {response.track_id} ({response.message})")
        started = time.monotonic()
        statuses = [remote.statuses()[-1]]
        for i in range(1, len(scene)):
            statuses.append(remote.send_and_wait(make_image(scene.frame(i), stamps[i])))
            if i % 30 == 0 or i == len(scene) - 1:
                print(f"[demo] frame {i:4d}/{len(scene) - 1}  state {statuses[-1].state_name}", flush=True)
        elapsed = time.monotonic() - started
        diagnostics = remote.diagnostics()
    finally:
        client.close()
        node.stop()

    rows = _rows(scene, statuses)
    _write_csv(args.out / "boxes.csv", rows)
    _write_media(args.out, scene, rows)
    _print_summary(rows, elapsed, diagnostics, args.out)
    _offline_part(scene, stamps, args.out)
    return 0


def _offline_part(scene: SyntheticScene, stamps: list[int], out: Path) -> None:
    """The same scene as a rosbag2 file: replayed frame by frame, then evaluated (OPE) with plots."""
    import numpy as np

    from ...tools.bags import write_image_bag
    from ...tools.evaluate import main as evaluate_main
    from ...tools.replay import main as replay_main

    bag = out / "scene_bag"
    if bag.exists():
        import shutil

        shutil.rmtree(bag)
    frames = [scene.frame(i) for i in range(len(scene))]
    write_image_bag(bag, frames, stamps, topic="/camera/image_raw", storage="mcap")
    truth = np.array(
        [clip_to_image(scene.truth(i), (scene.config.width, scene.config.height)) for i in range(len(scene))]
    )
    truth[truth[:, 2] * truth[:, 3] < 0.5 * np.prod(scene.config.target_size)] = np.nan  # gone: not scored
    np.savetxt(out / "groundtruth.txt", truth, fmt="%.1f", delimiter=",")
    print(f"\n[demo] wrote the scene as a rosbag2 (mcap) file: {bag}")
    replay_out = out / "replay"
    if replay_out.exists():
        import shutil

        shutil.rmtree(replay_out)
    print("[demo] replaying it frame by frame (python -m hit_tracker_ros.tools.replay):")
    replay_main(
        [
            str(bag),
            "--topic",
            "/camera/image_raw",
            "--gt",
            str(out / "groundtruth.txt"),
            "--out",
            str(replay_out),
        ]
    )
    print("[demo] one-pass evaluation (python -m hit_tracker_ros.tools.evaluate):")
    if (out / "eval").exists():  # a fresh evaluation each time, not the last run's stored pairs
        import shutil

        shutil.rmtree(out / "eval")
    evaluate_main(
        [
            "--bag",
            str(bag),
            "--topic",
            "/camera/image_raw",
            "--gt",
            str(out / "groundtruth.txt"),
            "--tracker",
            "csrt",
            "--out",
            str(out / "eval"),
        ]
    )


def _rows(scene: SyntheticScene, statuses) -> list[dict]:
    from ..conversions import bbox_to_xywh

    size = (scene.config.width, scene.config.height)
    rows = []
    for i, status in enumerate(statuses):
        truth = clip_to_image(scene.truth(i), size)
        box = bbox_to_xywh(status.bbox)
        visible = truth[2] * truth[3] >= 0.5 * scene.config.target_size[0] * scene.config.target_size[1]
        rows.append(
            {
                "frame": i,
                "stamp": f"{status.header.stamp.sec}.{status.header.stamp.nanosec:09d}",
                "state": status.state_name,
                "score": round(float(status.score), 4),
                "x": round(box[0], 2),
                "y": round(box[1], 2),
                "w": round(box[2], 2),
                "h": round(box[3], 2),
                "gt_x": truth[0],
                "gt_y": truth[1],
                "gt_w": truth[2],
                "gt_h": truth[3],
                "gt_visible": int(visible and not scene.occluded(i)),
                "iou": round(iou(box, truth), 4) if status.state_name != "IDLE" else 0.0,
                "latency_ms": round(float(status.processing_latency_ms), 2),
            }
        )
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _annotate(frame: np.ndarray, row: dict) -> np.ndarray:
    truth = np.array([row[k] for k in ("gt_x", "gt_y", "gt_w", "gt_h")], dtype=np.float64)
    box = (
        None if row["state"] == "IDLE" else np.array([row[k] for k in ("x", "y", "w", "h")], dtype=np.float64)
    )
    caption = f"#{row['frame']} {row['state']} s={row['score']:.2f} IoU={row['iou']:.2f}"
    return annotate(frame, TrackState[row["state"]], box, caption, truth)


def _write_media(out: Path, scene: SyntheticScene, rows: list[dict]) -> None:
    size = (scene.config.width, scene.config.height)
    writer = cv2.VideoWriter(str(out / "tracking.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
    annotated = []
    for row in rows:
        frame = _annotate(scene.frame(row["frame"]), row)
        annotated.append(frame)
        if writer.isOpened():
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    picks = np.linspace(0, len(rows) - 1, 8).round().astype(int)
    occlusion = sum(scene.config.occlusion_frames) // 2
    if occlusion < len(rows):  # show the occlusion (a short --frames scene ends before it)
        picks[3] = occlusion
    strip = np.concatenate(
        [
            np.concatenate([annotated[i] for i in picks[:4]], axis=1),
            np.concatenate([annotated[i] for i in picks[4:]], axis=1),
        ],
        axis=0,
    )
    cv2.imwrite(str(out / "strip.png"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))


def _print_summary(rows: list[dict], elapsed: float, diagnostics: dict[str, str], out: Path) -> None:
    visible = [r for r in rows[1:] if r["gt_visible"]]
    ious = np.array([r["iou"] for r in visible])
    gone = [r for r in rows[1:] if not r["gt_visible"]]
    print("\n[demo] summary")
    print(f"  frames processed by the node : {len(rows)} (all, in order, stamps preserved)")
    print(
        f"  target visible               : {len(visible)} frames, IoU > 0.5 on {np.mean(ious > 0.5):.1%}, "
        f"mean IoU {ious.mean():.3f}"
    )
    print(
        f"  target occluded or gone      : {len(gone)} frames, reported LOST on "
        f"{sum(r['state'] == 'LOST' for r in gone)}"
    )
    print(
        f"  node throughput (lock-step)  : {(len(rows) - 1) / elapsed:.1f} frames/s, "
        f"median processing latency {np.median([r['latency_ms'] for r in rows]):.1f} ms"
    )
    print(
        f"  node diagnostics             : inference {diagnostics.get('inference_ms')} ms, "
        f"dropped {diagnostics.get('dropped_frames')}"
    )
    print(
        f"  written                      : {out / 'boxes.csv'}, {out / 'tracking.mp4'}, {out / 'strip.png'}"
    )


if __name__ == "__main__":
    sys.exit(main())
