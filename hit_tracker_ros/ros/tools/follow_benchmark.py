"""Benchmark of the operator/vehicle path, with the real nodes over DDS and a MAVLink ground station
over UDP loopback, all on this host (one clock):

* command -> TRACKING: TRACK_RECTANGLE sent -> COMMAND_ACK, and -> first ACTIVE
  CAMERA_TRACKING_IMAGE_STATUS received by the ground station;
* status -> MAVLink: a TrackerStatus received by a ROS listener -> the CAMERA_TRACKING_IMAGE_STATUS
  with the same rectangle received by the ground station;
* controller loop: rate and period jitter of ~/gimbal_rate, as a subscriber sees it.

  scripts/run python -m hit_tracker_ros.ros.follow_benchmark --repeats 20 --json out/follow_benchmark.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from ...core.errors import cli
from ...core.synthetic import SceneConfig, SyntheticScene
from .private_domain import use_private_domain

MIN_SAMPLES = 10  # statuses forwarded to the ground station before the figures are taken


def _median(values) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def run(repeats: int, seconds: float) -> dict:
    use_private_domain()
    from geometry_msgs.msg import Vector3Stamped
    from std_srvs.srv import SetBool

    from ...mavlink.camera_protocol import mav
    from ...mavlink.ground_station import GroundStation
    from .dds_client import Client
    from .node_process import NodeProcess
    from .remote_tracker import RemoteTracker
    from .scene_camera import SceneCamera

    scene = SyntheticScene(SceneConfig(n_frames=240))
    width, height = scene.config.width, scene.config.height
    ns = f"/fb{uuid.uuid4().hex[:6]}"
    logs = Path(tempfile.mkdtemp(prefix="hit_tracker_follow_bench_"))
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [
        NodeProcess(ns, {"image_qos_reliability": "reliable"}, logs),
        NodeProcess(
            ns,
            {"mavlink_url": f"udpout:127.0.0.1:{port}", "tracker": "hit_tracker"},
            logs,
            "mavlink_bridge",
            "mavlink_bridge",
        ),
        NodeProcess(
            ns,
            {"rate_hz": 30.0, "enabled": True},
            logs,
            "follow_controller",
            "follow_controller",
            remaps={"status": f"{ns}/hit_tracker/status"},
        ),
    ]
    client = Client()
    gcs = GroundStation(f"udpin:127.0.0.1:{port}")
    camera = None
    try:
        tracker = RemoteTracker(procs[0], client)
        rates = f"{procs[2].name}/gimbal_rate"
        client.listen(rates, Vector3Stamped)
        camera = SceneCamera(client, f"{ns}/image", scene)
        gcs.wait("HEARTBEAT", timeout=20)
        gcs.wait_for_camera_images(60)
        client.call(SetBool, f"{procs[2].name}/enable", SetBool.Request(data=True))

        ack_ms, active_ms = [], []
        for _ in range(repeats):
            x, y, w, h = camera.truth_at_tracker(tracker.statuses())  # where the command lands
            rect = (x / width, y / height, (x + w) / width, (y + h) / height)
            sent, ack = gcs.request(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, *rect)
            active = gcs.wait(
                "CAMERA_TRACKING_IMAGE_STATUS", sent, lambda m: m.tracking_status == 1, timeout=60
            )
            ack_ms.append((gcs.arrival(ack) - sent) * 1e3)
            active_ms.append((gcs.arrival(active) - sent) * 1e3)
            time.sleep(0.3)

        # status -> MAVLink, and the controller's loop, while a track runs: `seconds` at least,
        # and until MIN_SAMPLES statuses went out (a loaded machine sends fewer per second)
        start, wall_start = time.monotonic(), time.time()
        skip = len(tracker.statuses())
        time.sleep(seconds)
        while len(gcs.messages("CAMERA_TRACKING_IMAGE_STATUS", start)) < MIN_SAMPLES:
            if time.monotonic() - start > seconds + 60:
                raise TimeoutError(f"fewer than {MIN_SAMPLES} tracking statuses in {seconds + 60:g} s")
            time.sleep(0.2)
        with client._lock:
            statuses = list(
                zip(client.messages[tracker.status_topic], client.arrivals[tracker.status_topic], strict=True)
            )[skip:]
            command_times = [t / 1e9 for t in client.arrivals[rates]]
        wall_to_mono = time.time() - time.monotonic()
        by_rect = {}
        for status, arrival in statuses:
            key = (np.float32(status.rec_top_x), np.float32(status.rec_top_y))
            by_rect.setdefault(key, arrival / 1e9 - wall_to_mono)
        forward_ms, forwarded = [], set()
        for m in gcs.messages("CAMERA_TRACKING_IMAGE_STATUS", start):
            key = (np.float32(m.rec_top_x), np.float32(m.rec_top_y))
            if key in by_rect and key not in forwarded:  # first time this status went out
                forwarded.add(key)
                forward_ms.append((gcs.arrival(m) - by_rect[key]) * 1e3)
        window = [t for t in command_times if t >= wall_start]  # the whole phase: a loaded machine is slower
        periods = np.diff(window) * 1e3
    finally:
        if camera is not None:
            camera.stop()
        gcs.close()
        client.close()
        for p in procs:
            p.stop()
    return {
        "repeats": repeats,
        "command_to_ack_ms": {"median": _median(ack_ms), "p90": float(np.percentile(ack_ms, 90))},
        "command_to_active_status_ms": {
            "median": _median(active_ms),
            "p90": float(np.percentile(active_ms, 90)),
        },
        "status_to_mavlink_ms": {
            "median": _median(forward_ms),
            "p90": float(np.percentile(forward_ms, 90)) if forward_ms else float("nan"),
            "matched": len(forward_ms),
        },
        "controller": {
            "rate_hz": 1e3 / _median(periods) if len(periods) else float("nan"),
            "period_p90_ms": float(np.percentile(periods, 90)) if len(periods) else float("nan"),
            "period_max_ms": float(periods.max()) if len(periods) else float("nan"),
        },
    }


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20, help="track commands to time")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of streaming to time")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    result = run(args.repeats, args.seconds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    c, a, f, loop = (
        result["command_to_ack_ms"],
        result["command_to_active_status_ms"],
        result["status_to_mavlink_ms"],
        result["controller"],
    )
    print(
        f"command -> ACK {c['median']:.1f} ms (p90 {c['p90']:.1f}); "
        f"command -> ACTIVE status {a['median']:.1f} ms (p90 {a['p90']:.1f}); "
        f"status -> MAVLink {f['median']:.2f} ms (p90 {f['p90']:.2f}, {f['matched']} matched); "
        f"controller {loop['rate_hz']:.1f} Hz (period p90 {loop['period_p90_ms']:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
