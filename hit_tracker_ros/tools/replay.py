"""Deterministic replay of a rosbag2 camera topic through a tracker: every frame, in bag order.

  python -m hit_tracker_ros.tools.replay BAG --topic /camera/image_raw --init-box 120,43,40,32 \\
      [--init-frame 0 | --init-stamp 1700000000.033 | --init-topic /detector/detection | --gt gt.txt] \\
      [--model hit_tiny --checkpoint models/HiT_Tiny.pth.tar --backend onnxruntime] \\
      [--video] --out out/replay

Writes OUT/results (rosbag2: /hit_tracker/detections + /hit_tracker/status, stamped like the source
images), OUT/results.csv, OUT/summary.json and with --video OUT/annotated.mp4. It runs the same
TrackingSession the node runs, in this process, without ROS. (The same replay through a real
tracker_node over DDS is hit_tracker_ros.ros.tools.replay.) Ctrl-C stops cleanly: the outputs hold
every frame processed so far and stay readable.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..core.annotate import draw_track
from ..core.errors import cli
from ..core.registry import build_tracker
from ..core.session import StepOutcome, TrackingSession
from ..core.stamps import format_stamp, parse_stamp
from ..core.status import status_fields
from ..core.tracker import DEFAULT_SCORE_THRESHOLD
from ..core.types import TrackState
from .bag_format import BAG_VERSIONS, DEFAULT_BAG_VERSION
from .bags import BagFrame, ResultBagWriter, image_topics, read_boxes, read_frames
from .progress import Progress

CSV_FIELDS = ("frame", "stamp", "state", "score", "x", "y", "w", "h", "track_id")


@dataclass
class InitSpec:
    """Where the initial box comes from: a box at a frame index or at a header stamp, or the first
    detection on a Detection2D(Array) topic of the bag."""

    box: np.ndarray | None = None
    frame: int | None = None
    stamp_ns: int | None = None
    topic: str | None = None
    pending: bool = True

    def resolve(self, bag: Path) -> None:
        """Turn an init topic into a box at a stamp."""
        if self.topic is not None:
            boxes = read_boxes(bag, self.topic)
            if not boxes:
                raise ValueError(f"no detection on {self.topic} in {bag}")
            self.stamp_ns = min(boxes)
            self.box = boxes[self.stamp_ns]

    def take(self, frame: BagFrame) -> np.ndarray | None:
        """The box when `frame` is the init frame (the first frame stamped at or after the init
        stamp, or the frame with the init index), else None."""
        if not self.pending:
            return None
        hit = (
            frame.stamp_ns >= self.stamp_ns if self.stamp_ns is not None else frame.index == (self.frame or 0)
        )
        if hit:
            self.pending = False
            return self.box
        return None


@dataclass
class ReplayResult:
    frames: int = 0
    interrupted: bool = False
    outcomes: list[StepOutcome] = field(default_factory=list)
    stamps_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


class Outputs:
    """Result bag, CSV and optional video, all written frame by frame."""

    def __init__(self, out: Path, video: bool, storage: str, bag_version: int = DEFAULT_BAG_VERSION) -> None:
        out.mkdir(parents=True, exist_ok=True)
        bag_path = out / "results"
        if bag_path.exists():
            raise FileExistsError(f"{bag_path} exists; choose another --out")
        self.bag = ResultBagWriter(bag_path, storage=storage, version=bag_version)
        self._csv_file = (out / "results.csv").open("w", newline="")
        self.csv = csv.writer(self._csv_file)
        self.csv.writerow(CSV_FIELDS)
        self._video_path = out / "annotated.mp4" if video else None
        self._video = None

    def write(self, frame: BagFrame, outcome: StepOutcome, fields: dict) -> None:
        self.bag.write(frame, outcome, fields)
        box = outcome.box if outcome.box is not None else [np.nan] * 4
        stamp = format_stamp(frame.stamp_ns)
        self.csv.writerow(
            [
                frame.index,
                stamp,
                outcome.state.name,
                f"{outcome.score:.5f}",
                *(f"{v:.3f}" for v in box),
                outcome.track_id,
            ]
        )
        self._csv_file.flush()
        if self._video_path is not None:
            self._write_video(frame.rgb, outcome)

    def _write_video(self, rgb: np.ndarray, outcome: StepOutcome) -> None:
        if self._video is None:
            h, w = rgb.shape[:2]
            self._video = cv2.VideoWriter(str(self._video_path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
        self._video.write(cv2.cvtColor(draw_track(rgb, outcome), cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.bag.close()
        self._csv_file.close()
        if self._video is not None:
            self._video.release()


def initial_outcome(box: np.ndarray, track_id: str, label: str) -> StepOutcome:
    """What is reported for the init frame: the (clipped) init box, score 1 (OPE convention)."""
    return StepOutcome(TrackState.TRACKING, box, 1.0, track_id, label, 0, 0, "initialized")


def emit(
    outputs: Outputs,
    result: ReplayResult,
    bar: Progress,
    frame: BagFrame,
    outcome: StepOutcome,
    model: str,
    backend: str,
    threshold: float,
    processing_ms: float | None = None,
) -> None:
    """Write one frame's outcome everywhere and count it. processing_ms: the tracker's own figure
    (the node's, through the node); default: since the frame was read from the bag."""
    if processing_ms is None:
        processing_ms = (time.perf_counter() - frame.read_at) * 1e3
    size = (frame.rgb.shape[1], frame.rgb.shape[0])
    outputs.write(frame, outcome, status_fields(outcome, size, threshold, model, backend, processing_ms))
    result.outcomes.append(outcome)
    result.stamps_ns.append(frame.stamp_ns)
    result.frames += 1
    bar.update(result.frames)


@contextmanager
def replaying(frames, total: int, progress: bool) -> Iterator[tuple[ReplayResult, Progress]]:
    """The frame loop's frame, for the bare and the through-the-node replay: a result and a
    progress bar; Ctrl-C ends the loop early and is recorded; the time, the bar and the bag are
    closed in any case."""
    result = ReplayResult()
    bar = Progress(total, enabled=progress)
    start = time.perf_counter()
    try:
        yield result, bar
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        result.seconds = time.perf_counter() - start
        bar.close()
        frames.close()


def replay_bare(
    bag: Path, topic: str, init: InitSpec, outputs: Outputs, build_args: dict, progress: bool
) -> ReplayResult:
    """Run the TrackingSession on every frame of `topic` in this process."""
    tracker = build_tracker(**build_args)
    session = TrackingSession(tracker)
    total, frames = read_frames(bag, topic)
    with replaying(frames, total, progress) as (result, bar):
        for frame in frames:
            box = init.take(frame)
            if box is not None:
                used = session.start(frame.rgb, box, label="target", track_id=f"replay-{frame.index}")
                outcome = initial_outcome(used, session.track_id, session.label)
            else:
                outcome = session.step(frame.rgb)
            emit(
                outputs, result, bar, frame, outcome, tracker.model, tracker.backend, tracker.score_threshold
            )
    return result


def parse_box(text: str) -> np.ndarray:
    values = [float(v) for v in text.replace(" ", "").split(",")]
    if len(values) != 4:
        raise argparse.ArgumentTypeError("a box is x,y,w,h")
    return np.array(values)


def first_gt_box(path: Path) -> np.ndarray:
    from .datasets import load_boxes

    boxes = load_boxes(path)
    return boxes[0]


def parser(description: str) -> argparse.ArgumentParser:
    """The replay's arguments (shared with the through-the-node replay of hit_tracker_ros.ros.tools)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("bag", type=Path)
    p.add_argument("--topic", required=True, help="sensor_msgs/Image or CompressedImage topic")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", default="csrt")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--backend", default="auto")
    p.add_argument("--score-threshold", type=float, default=DEFAULT_SCORE_THRESHOLD)
    p.add_argument("--init-box", type=parse_box, help="x,y,w,h in pixels")
    p.add_argument("--init-frame", type=int, default=None, help="frame index of --init-box (default 0)")
    p.add_argument("--init-stamp", type=parse_stamp, default=None, help="header stamp sec.nsec of --init-box")
    p.add_argument("--init-topic", default=None, help="Detection2D(Array) topic in the bag giving the box")
    p.add_argument("--gt", type=Path, default=None, help="ground-truth file: its first box initializes")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="results bag storage")
    p.add_argument(
        "--bag-version",
        type=int,
        choices=sorted(BAG_VERSIONS),
        default=DEFAULT_BAG_VERSION,
        help="rosbag2 metadata version of the results bag: "
        + "; ".join(f"{v}: {who}" for v, who in BAG_VERSIONS.items()),
    )
    p.add_argument("--video", action="store_true", help="also write an annotated video")
    p.add_argument("--no-progress", action="store_true")
    return p


Replay = Callable[[Path, str, InitSpec, Outputs, dict, bool], ReplayResult]


def run(p: argparse.ArgumentParser, argv: list[str] | None, replay: Replay, mode: str) -> int:
    """Parse, check the input before creating any output, replay with `replay`, write the summary."""
    args = p.parse_args(argv)
    if sum(x is not None for x in (args.init_box, args.init_topic, args.gt)) != 1:
        p.error("give exactly one of --init-box, --init-topic, --gt")
    try:  # bad input is reported before any output is created
        if not args.bag.exists():
            raise FileNotFoundError(f"bag {args.bag} not found")
        topics = image_topics(args.bag)
        if args.topic not in topics:
            raise ValueError(f"no image topic {args.topic} in {args.bag}; image topics: {topics or 'none'}")
        box = first_gt_box(args.gt) if args.gt else args.init_box
        init = InitSpec(box=box, frame=args.init_frame, stamp_ns=args.init_stamp, topic=args.init_topic)
        init.resolve(args.bag)
    except (ValueError, OSError) as exc:
        p.error(str(exc))
    build_args = {
        "model": args.model,
        "checkpoint": args.checkpoint,
        "backend": args.backend,
        "score_threshold": args.score_threshold,
    }

    # SIGTERM stops like Ctrl-C: outputs are closed and stay readable.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    outputs = Outputs(args.out, args.video, args.storage, args.bag_version)
    try:
        result = replay(args.bag, args.topic, init, outputs, build_args, not args.no_progress)
    finally:
        outputs.close()
    summary = {
        "bag": str(args.bag),
        "topic": args.topic,
        "mode": mode,
        "model": args.model,
        "frames": result.frames,
        "interrupted": result.interrupted,
        "seconds": round(result.seconds, 3),
        "fps": round(result.frames / result.seconds, 2) if result.seconds else 0,
        "states": {s.name: sum(o.state == s for o in result.outcomes) for s in TrackState},
        **result.extra,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 130 if result.interrupted else 0


@cli
def main(argv: list[str] | None = None) -> int:
    return run(parser(__doc__.split("\n")[0]), argv, replay_bare, "bare")


if __name__ == "__main__":
    sys.exit(main())
