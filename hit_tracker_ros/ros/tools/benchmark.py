"""Through-the-node benchmark: the bare pipeline, then a camera-like stream at a fixed rate to a
real tracker_node.

  python -m hit_tracker_ros.ros.tools.benchmark --model csrt --width 320 --height 240 --rate 30
  # every argument of hit_tracker_ros.tools.benchmark, plus --rate

Frames are published best effort at `rate_hz` with stamps from this host's clock, the node runs
with its default (sensor-data) input QoS, and every TrackerStatus is timed on arrival. Latency is
image stamp -> status received on the same host; FPS is the node's output rate; frames the node
dropped (tracker slower than the camera) are counted.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from ...core.errors import cli
from ...core.synthetic import SyntheticScene
from ...tools.benchmark import parser, run
from ..conversions import stamp_to_ns
from .private_domain import use_private_domain


def benchmark_node(
    model: str,
    checkpoint: str | None,
    backend: str,
    scene: SyntheticScene,
    frames: list[np.ndarray],
    rate_hz: float = 30.0,
) -> dict:
    use_private_domain()
    from .dds_client import Client
    from .node_process import NodeProcess
    from .remote_tracker import RemoteTracker
    from .scene_camera import make_image

    params = {"model": model, "backend": backend}
    if checkpoint:
        params["checkpoint"] = str(checkpoint)
    node = NodeProcess(
        f"/bench_{uuid.uuid4().hex[:8]}", params, Path(tempfile.mkdtemp(prefix="hit_tracker_bench_"))
    )
    client = Client()
    try:
        remote = RemoteTracker(node, client)
        first = make_image(frames[0], time.time_ns())
        for _ in range(100):  # best effort: repeat frame 0 (new stamps) until the node answers
            remote.publish_image(first, reliable=False)
            time.sleep(0.1)
            if remote.statuses():
                break
            first = make_image(frames[0], time.time_ns())
        response = remote.init(scene.truth(0), stamp_to_ns(remote.statuses()[-1].header.stamp))
        if not response.success:
            raise RuntimeError(f"init refused: {response.message}")
        time.sleep(0.5)
        skip = len(remote.statuses())
        period = 1.0 / rate_hz
        sent: list[int] = []
        start = time.monotonic()
        for i, rgb in enumerate(frames[1:]):
            time.sleep(max(0.0, start + i * period - time.monotonic()))
            stamp = time.time_ns()
            remote.publish_image(make_image(rgb, stamp), reliable=False)
            sent.append(stamp)
        time.sleep(1.0)  # let the last outputs arrive
        with client._lock:
            statuses = list(client.messages[remote.status_topic])[skip:]
            arrivals = list(client.arrivals[remote.status_topic])[skip:]
        diag = remote.diagnostics()
    finally:
        client.close()
        node.stop()
    latencies = np.array(
        [(a - stamp_to_ns(s.header.stamp)) / 1e6 for s, a in zip(statuses, arrivals, strict=True)]
    )
    duration = (arrivals[-1] - arrivals[0]) / 1e9 if len(arrivals) > 1 else float("nan")
    return {
        "rate_hz": rate_hz,
        "frames_sent": len(sent),
        "frames_processed": len(statuses),
        "frames_dropped_or_lost": len(sent) - len(statuses),
        "node_received": int(diag.get("frames_received", 0)),  # includes the init frames
        "node_dropped": int(diag.get("dropped_frames", 0)),  # newest-frame policy drops
        "fps": (len(statuses) - 1) / duration if duration == duration and duration > 0 else float("nan"),
        "latency_ms": {"median": float(np.median(latencies)), "p90": float(np.percentile(latencies, 90))},
        "node_stage_ms": {
            k: diag.get(f"{k}_ms") for k in ("decode", "preprocess", "inference", "postprocess", "publish")
        },
        "backend": statuses[-1].backend if statuses else backend,
    }


@cli
def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=30.0, help="camera rate of the node run (Hz)")
    args = p.parse_args(argv)

    def node(result, args, scene, frames, checkpoint) -> None:
        result["node"] = benchmark_node(args.model, checkpoint, args.backend, scene, frames, args.rate)

    return run(args, node)


if __name__ == "__main__":
    raise SystemExit(main())
