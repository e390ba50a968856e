"""Replay of real rosbag2 files (written by rosbags): both storages, raw and compressed, every frame
once and in order with source stamps, readable outputs (also after an interruption), init from a
detection topic, and the same bag through the real node with back-pressure."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from waiting import until

from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene
from hit_tracker_ros.tools.bags import build, typestore, write_image_bag
from hit_tracker_ros.tools.replay import main as replay_main

ROOT = Path(__file__).resolve().parents[1]
STAMP0 = 1_700_000_000 * 10**9
PERIOD = 33_333_333


def make_bag(
    path: Path, n: int, storage: str = "mcap", compressed: bool = False, extra=None
) -> SyntheticScene:
    scene = SyntheticScene(SceneConfig(n_frames=n))
    write_image_bag(
        path,
        [scene.frame(i) for i in range(n)],
        [STAMP0 + i * PERIOD for i in range(n)],
        storage=storage,
        compressed=compressed,
        extra=extra,
    )
    return scene


def read_results(bag: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    with AnyReader([bag], default_typestore=typestore()) as reader:
        for conn, _, raw in reader.messages():
            out.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    return out


def stamp(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def csv_rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "compressed"])
def test_every_frame_once_in_order_with_source_stamps(tmp_path, storage, compressed):
    n = 25
    scene = make_bag(tmp_path / "cam", n, storage, compressed)
    topic = "/camera/image_raw" + ("/compressed" if compressed else "")
    box = ",".join(str(v) for v in scene.truth(3))
    rc = replay_main(
        [
            str(tmp_path / "cam"),
            "--topic",
            topic,
            "--init-box",
            box,
            "--init-frame",
            "3",
            "--out",
            str(tmp_path / "out"),
            "--storage",
            storage,
            "--no-progress",
            "--video",
        ]
    )
    assert rc == 0
    expected = [STAMP0 + i * PERIOD for i in range(n)]
    results = read_results(tmp_path / "out" / "results")
    statuses, arrays = results["/hit_tracker/status"], results["/hit_tracker/detections"]
    assert [stamp(m) for m in statuses] == expected and [stamp(m) for m in arrays] == expected
    assert [m.state_name for m in statuses[:3]] == ["IDLE"] * 3
    assert statuses[3].message == "initialized" and statuses[4].frames_tracked == 1
    assert all(
        len(a.detections) == (1 if s.state_name == "TRACKING" else 0)
        for a, s in zip(arrays, statuses, strict=True)
    )
    assert statuses[-1].state_name == "TRACKING" and statuses[-1].model == "csrt"
    rows = csv_rows(tmp_path / "out" / "results.csv")
    assert [int(r["frame"]) for r in rows] == list(range(n))
    assert rows[10]["stamp"] == f"{expected[10] // 10**9}.{expected[10] % 10**9:09d}"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["frames"] == n and not summary["interrupted"]
    assert (tmp_path / "out" / "annotated.mp4").stat().st_size > 0


def test_init_from_a_detection_topic_and_from_a_stamp(tmp_path):
    n = 12
    scene = SyntheticScene(SceneConfig(n_frames=n))
    store = typestore()
    t = STAMP0 + 4 * PERIOD
    header = build(
        store,
        "std_msgs/msg/Header",
        stamp=build(store, "builtin_interfaces/msg/Time", sec=t // 10**9, nanosec=t % 10**9),
    )
    x, y, w, h = scene.truth(4)
    bbox = build(
        store,
        "vision_msgs/msg/BoundingBox2D",
        size_x=w,
        size_y=h,
        center=build(
            store,
            "vision_msgs/msg/Pose2D",
            position=build(store, "vision_msgs/msg/Point2D", x=x + w / 2, y=y + h / 2),
        ),
    )
    det = build(store, "vision_msgs/msg/Detection2D", header=header, bbox=bbox)
    make_bag(tmp_path / "cam", n, extra={"/detector/detection": [(t, det, "vision_msgs/msg/Detection2D")]})
    args = [str(tmp_path / "cam"), "--topic", "/camera/image_raw", "--no-progress"]
    assert replay_main([*args, "--init-topic", "/detector/detection", "--out", str(tmp_path / "a")]) == 0
    assert (
        replay_main(
            [
                *args,
                "--init-box",
                ",".join(map(str, scene.truth(4))),
                "--init-stamp",
                f"{t // 10**9}.{t % 10**9:09d}",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    for out in ("a", "b"):
        rows = csv_rows(tmp_path / out / "results.csv")
        assert [r["state"] for r in rows[:4]] == ["IDLE"] * 4 and rows[4]["state"] == "TRACKING"
        np.testing.assert_allclose([float(rows[4][k]) for k in "xywh"], scene.truth(4), atol=1e-3)


def test_interrupted_replay_leaves_readable_outputs(tmp_path):
    n = 400
    scene = make_bag(tmp_path / "cam", n, "sqlite3")
    command = [
        sys.executable,
        "-m",
        "hit_tracker_ros.tools.replay",
        str(tmp_path / "cam"),
        "--topic",
        "/camera/image_raw",
        "--init-box",
        ",".join(map(str, scene.truth(0))),
        "--storage",
        "sqlite3",
        "--out",
        str(tmp_path / "out"),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    csv_path = tmp_path / "out" / "results.csv"
    until(lambda: csv_path.exists() and len(csv_path.read_text().splitlines()) >= 31, 60, "30 frames written")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["interrupted"] and 30 <= summary["frames"] < n
    statuses = read_results(tmp_path / "out" / "results")["/hit_tracker/status"]
    assert len(statuses) == summary["frames"] == len(csv_rows(csv_path))
    assert [stamp(m) for m in statuses] == [STAMP0 + i * PERIOD for i in range(len(statuses))]
    assert "frames" in stderr and "/s" in stderr  # the progress line


def test_bad_arguments_are_explained(tmp_path, capsys):
    make_bag(tmp_path / "cam", 3)
    with pytest.raises(SystemExit):
        replay_main([str(tmp_path / "cam"), "--topic", "/camera/image_raw", "--out", str(tmp_path / "o")])
    for bag, topic, message in (
        ("cam", "/nope", "no image topic /nope in"),
        ("missing", "/camera/image_raw", "missing not found"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            replay_main(
                [str(tmp_path / bag), "--topic", topic, "--init-box", "1,1,5,5", "--out", str(tmp_path / "p")]
            )
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
        assert not (tmp_path / "p").exists(), "no outputs for a run that cannot start"


@pytest.mark.ros
def test_through_the_node_replay_loses_no_frame_and_agrees_with_bare(tmp_path):
    n = 150  # the scene's occlusion (frames 60-63), the LOST and the recovery after it included
    scene = make_bag(tmp_path / "cam", n)
    base = [
        str(tmp_path / "cam"),
        "--topic",
        "/camera/image_raw",
        "--init-box",
        ",".join(map(str, scene.truth(0))),
        "--no-progress",
    ]
    assert replay_main([*base, "--out", str(tmp_path / "bare")]) == 0
    from hit_tracker_ros.ros.tools.replay import main as node_replay_main

    assert node_replay_main([*base, "--out", str(tmp_path / "node")]) == 0
    summary = json.loads((tmp_path / "node" / "summary.json").read_text())
    assert summary["frames"] == n and summary["dropped"] == 0 and summary["mode"] == "through-node"
    statuses = read_results(tmp_path / "node" / "results")["/hit_tracker/status"]
    assert [stamp(m) for m in statuses] == [STAMP0 + i * PERIOD for i in range(n)]
    bare, node = csv_rows(tmp_path / "bare" / "results.csv"), csv_rows(tmp_path / "node" / "results.csv")
    assert [r["state"] for r in bare] == [r["state"] for r in node]
    box = lambda r: [float(r[k]) for k in "xywh"]  # noqa: E731
    np.testing.assert_allclose([box(r) for r in node], [box(r) for r in bare], atol=1e-3)
    assert summary["node_round_trip_ms"]["median"] > 0
