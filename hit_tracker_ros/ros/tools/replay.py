"""Through-the-node replay: a bag fed to a real tracker_node over DDS with back-pressure.

  python -m hit_tracker_ros.ros.tools.replay BAG --topic /camera/image_raw --init-box 120,43,40,32 \\
      --out out/replay_node   # every argument of hit_tracker_ros.tools.replay

Each recorded image goes out as recorded (serialized bytes), and the next one only after the
node's status for it came back, so no frame is dropped however slow the tracker is. The node's
outputs are written like the bare replay's, so the two can be compared frame by frame. The node
runs in a private DDS domain (HTR_DOMAIN_ID chooses it).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from ...core.boxes import validate_box
from ...core.errors import cli
from ...core.session import StepOutcome
from ...core.stats import SampleWindow
from ...core.types import TrackState
from ...tools.bags import IMAGE_TYPES, read_frames
from ...tools.replay import InitSpec, Outputs, ReplayResult, emit, initial_outcome, parser, replaying, run
from ..conversions import bbox_to_xywh
from .private_domain import use_private_domain


def status_to_outcome(status) -> StepOutcome:
    state = TrackState(status.state)
    box = None if state == TrackState.IDLE else bbox_to_xywh(status.bbox)
    return StepOutcome(
        state,
        box,
        float(status.score),
        status.track_id,
        status.label,
        int(status.frames_tracked),
        int(status.frames_lost),
        status.message,
    )


def replay_through_node(
    bag: Path, topic: str, init: InitSpec, outputs: Outputs, build_args: dict, progress: bool
) -> ReplayResult:
    use_private_domain()
    from .dds_client import Client
    from .node_process import NodeProcess
    from .remote_tracker import RemoteTracker

    total, frames = read_frames(bag, topic)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"no frames on {topic}")
    compressed = first.msgtype == IMAGE_TYPES[1]
    params = {
        "model": build_args["model"],
        "backend": build_args["backend"],
        "score_threshold": float(build_args["score_threshold"]),
        "use_compressed": compressed,
        "image_qos_reliability": "reliable",
        "image_qos_depth": 10,
    }
    if build_args.get("checkpoint"):
        params["checkpoint"] = str(build_args["checkpoint"])
    node = NodeProcess(
        f"/replay_{uuid.uuid4().hex[:8]}", params, Path(tempfile.mkdtemp(prefix="hit_tracker_replay_"))
    )
    client = Client()
    round_trip, processing = SampleWindow(1_000_000), SampleWindow(1_000_000)
    try:
        with replaying(frames, total, progress) as (result, bar):
            remote = RemoteTracker(node, client)
            frame = first
            while frame is not None:
                sent = time.perf_counter()
                status = remote.send_serialized_and_wait(frame.raw, compressed, frame.stamp_ns)
                round_trip.add((time.perf_counter() - sent) * 1e3)
                processing.add(status.processing_latency_ms)
                box = init.take(frame)
                if box is not None:
                    response = remote.init(box, frame.stamp_ns, label="target")
                    if not response.success:
                        raise RuntimeError(f"the node refused the initial box: {response.message}")
                    used = validate_box(box, (frame.rgb.shape[1], frame.rgb.shape[0]))
                    outcome = initial_outcome(used, response.track_id, "target")
                else:
                    outcome = status_to_outcome(status)
                emit(
                    outputs,
                    result,
                    bar,
                    frame,
                    outcome,
                    status.model,
                    status.backend,
                    status.score_threshold,
                    status.processing_latency_ms,
                )
                frame = next(frames, None)
    finally:
        client.close()
        node.stop()
    rt, pr = round_trip.summary(), processing.summary()
    result.extra = {
        "node_round_trip_ms": {"median": round(rt["median"], 2), "p90": round(rt["p90"], 2)},
        "node_processing_ms": {"median": round(pr["median"], 2), "p90": round(pr["p90"], 2)},
        "frames_in_bag": total,
        "dropped": int(total - result.frames) if not result.interrupted else None,
    }
    return result


@cli
def main(argv: list[str] | None = None) -> int:
    """`python -m hit_tracker_ros.ros.tools.replay`: the replay's arguments, through a real node."""
    return run(parser(__doc__.split("\n")[0]), argv, replay_through_node, "through-node")


if __name__ == "__main__":
    raise SystemExit(main())
