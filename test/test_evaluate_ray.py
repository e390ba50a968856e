"""Evaluation on Ray (the default executor): the metrics of a local process pool, a failing
sequence reported with its reason while the others are scored, a restart that keeps finished
pairs, and a two-node Ray cluster on this host (loopback) driven by the CLI as a cluster client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_evaluate import fake_datasets

from hit_tracker_ros.tools.evaluate import main as evaluate_main

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_TIMEOUT_S = 180  # the whole two-node run, start to report (seconds when idle)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (the CLI uses it rather than starting its own)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["--dataset", "otb", str(root), "--tracker", "csrt", "--tracker", "csrt::opencv",
            "--out", str(out), "--no-progress", *extra]  # fmt: skip


def metrics_of(out: Path) -> str:
    """The report's scores without the speeds (FPS differs between runs), NaN-safe."""
    from hit_tracker_ros.tools.benchmark_eval import scores

    return scores(json.loads((out / "report.json").read_text()))


def test_ray_gives_the_process_pools_metrics_and_fails_a_bad_sequence_alone(local_ray, tmp_path, capsys):
    roots = fake_datasets(tmp_path, n=10)
    assert evaluate_main(args(roots["otb"], tmp_path / "pool", "--jobs", "2")) == 0
    capsys.readouterr()
    assert evaluate_main(args(roots["otb"], tmp_path / "ray")) == 0
    log = capsys.readouterr().err
    assert (
        "4 of 4 (tracker, sequence) pairs to run" in log and "executor: Ray (a local instance: 1 node" in log
    )
    assert "the pairs ran on 1 node(s)" in log
    assert metrics_of(tmp_path / "ray") == metrics_of(tmp_path / "pool")

    broken = tmp_path / "broken"
    shutil.copytree(roots["otb"], broken)
    (broken / "Seq1" / "img" / "0004.jpg").write_bytes(b"not a jpeg")
    assert evaluate_main(args(broken, tmp_path / "ray_broken")) == 1
    log = capsys.readouterr().err
    assert "csrt on Seq1 failed: OSError: cannot read" in log and "0004.jpg" in log
    report = json.loads((tmp_path / "ray_broken" / "report.json").read_text())
    assert {(m["tracker"], m["sequence"]) for m in report["missing"]} == {
        ("csrt", "Seq1"),
        ("csrt-opencv", "Seq1"),
    }
    assert all("cannot read" in m["reason"] for m in report["missing"])
    assert set(report["trackers"]["csrt"]["per_sequence"]) == {"Seq0"}


def test_an_interrupted_ray_run_restarts_without_recomputing(local_ray, tmp_path, capsys):
    roots = fake_datasets(tmp_path, n=10)
    out = tmp_path / "eval"
    assert evaluate_main(args(roots["otb"], out, "--max-sequences", "1")) == 0
    finished = out / "results" / "csrt" / "Seq0.json"
    stamp = finished.stat().st_mtime_ns
    capsys.readouterr()
    assert evaluate_main(args(roots["otb"], out)) == 0
    assert (
        "2 of 4 (tracker, sequence) pairs to run (2 done before, kept), executor: Ray"
        in capsys.readouterr().err
    )
    assert finished.stat().st_mtime_ns == stamp, "a finished pair was recomputed"


def test_a_two_node_local_cluster_runs_the_evaluation(tmp_path):
    """`ray start --head` and a worker node, both on loopback with their own ports (Ray's own
    multi-node helper), and the CLI joining with --ray-address from another process."""
    from ray.cluster_utils import Cluster

    roots = fake_datasets(tmp_path, n=10)
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        out = tmp_path / "eval"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            # Ray's switch for single-host clusters: the client stays on loopback instead of
            # rewriting 127.0.0.1 to this machine's network address
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }
        command = [sys.executable, "-m", "hit_tracker_ros.tools.evaluate",
                   *args(roots["otb"], out, "--ray-address", cluster.address)]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=CLUSTER_TIMEOUT_S)
        assert run.returncode == 0, run.stderr
        assert f"executor: Ray (the cluster at {cluster.address}: 2 nodes, 2 CPUs)" in run.stderr
        assert "the pairs ran on 2 node(s)" in run.stderr, run.stderr
        assert json.loads((out / "report.json").read_text())["missing"] == []
    finally:
        cluster.shutdown()


def test_the_executor_benchmark_compares_a_pool_and_ray_on_synthetic_flights(local_ray, tmp_path, capsys):
    from hit_tracker_ros.tools.benchmark_eval import main as benchmark_main

    out = tmp_path / "bench.json"
    assert benchmark_main(["--bags", "2", "--frames", "8", "--tracker", "csrt", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["tasks"] == 2 and result["identical_metrics"] is True
    assert (
        result["ray"]["executor"].startswith("Ray") and result["pool"]["executor"] == "a pool of 2 processes"
    )
    assert "| Ray (a local instance" in capsys.readouterr().out


def test_workers_needing_one_export_at_once_make_it_once(tmp_path):
    """Evaluation tasks on one node that start together build a model's ONNX export once (a lock
    beside it); the others wait and use it."""
    import threading

    from hit_tracker_ros.backends.build import NetworkSpec, onnx_for

    checkpoint = tmp_path / "net.pth"
    checkpoint.write_bytes(b"weights")
    exports, asked = [], []
    everyone_asked, counting = threading.Event(), threading.Lock()

    def export(out: Path, _static: bool) -> dict:
        exports.append(out)
        # the export lasts until every worker has asked for it: without the lock they would all
        # find no file and export too
        assert everyone_asked.wait(30)
        out.write_bytes(b"onnx")
        return {"pred_boxes": 0.0}

    spec = NetworkSpec("net", checkpoint, {"search": (1, 3, 8, 8)}, ("pred_boxes",), export, lambda: None,
                       lambda: [], lambda outputs: outputs)  # fmt: skip
    paths = []

    def worker() -> None:
        with counting:
            asked.append(1)
            if len(asked) == 3:
                everyone_asked.set()
        paths.append(onnx_for(spec))

    workers = [threading.Thread(target=worker) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert len(exports) == 1 and len(set(paths)) == 1 and paths[0].read_bytes() == b"onnx"
