"""Every command-line tool the README shows, run as a user runs it, on tiny real input (the
replay, evaluation, export, ground station and follow benchmark have their own test files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hit_tracker_ros.backends.options import BackendOptions
from hit_tracker_ros.backends.tensorrt_runner import tensorrt_unavailable


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)


def test_benchmark_bare(tmp_path):
    out = tmp_path / "bench.json"
    result = run(
        "hit_tracker_ros.tools.benchmark",
        "--model",
        "csrt",
        "--width",
        "160",
        "--height",
        "120",
        "--frames",
        "12",
        "--repeats",
        "2",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["model"] == "csrt" and data["fps_median"] > 0
    assert "csrt/opencv: bare" in result.stderr


def test_benchmark_targets_batched_against_sequential(tmp_path):
    out = tmp_path / "targets.json"
    result = run(
        "hit_tracker_ros.tools.benchmark_targets",
        "--model",
        "hit_tiny",
        "--checkpoint",
        "random",
        "--backend",
        "torch",
        "--targets",
        "1,2",
        "--windows",
        "2",
        "--width",
        "160",
        "--height",
        "120",
        "--frames",
        "3",
        "--repeats",
        "1",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [row["targets"] for row in data["rows"]] == [1, 2]
    assert all(row["batched_ms"] > 0 and row["sequential_ms"] > 0 for row in data["rows"])
    cost = data["reacquisition"]
    assert cost["windows"] == 2 and cost["reacquisition_frame_ms"] > 0 and cost["normal_frame_ms"] > 0
    assert "2 targets: batched" in result.stderr


@pytest.mark.ros
def test_benchmark_through_the_node(tmp_path):
    result = run(
        "hit_tracker_ros.ros.tools.benchmark",
        "--model",
        "csrt",
        "--width",
        "160",
        "--height",
        "120",
        "--frames",
        "40",
        "--repeats",
        "1",
        "--rate",
        "30",
        "--json",
        str(tmp_path / "b.json"),
    )
    assert result.returncode == 0, result.stderr
    node = json.loads((tmp_path / "b.json").read_text())["node"]
    assert node["frames_processed"] >= 10 and node["latency_ms"]["median"] > 0
    assert "node @ 30 Hz" in result.stderr


@pytest.mark.ros
def test_demo(tmp_path):
    """`make demo`: the node over DDS on the synthetic scene, then the offline part."""
    out = tmp_path / "demo"
    result = run("hit_tracker_ros.ros.tools.demo", "--out", str(out), "--frames", "40", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in (
        "boxes.csv",
        "tracking.mp4",
        "strip.png",
        "scene_bag",
        "replay/summary.json",
        "eval/report.md",
    ):
        assert (out / name).exists(), name
    assert "[demo] summary" in result.stdout


def test_engines_without_tensorrt_say_why_in_one_line(tmp_path):
    if not tensorrt_unavailable():
        pytest.skip("TensorRT is installed here: the GPU tests build engines")
    checkpoint = tmp_path / "HiT_Tiny.pth.tar"
    checkpoint.write_bytes(b"not used: the check comes first")
    result = run(
        "hit_tracker_ros.tools.engines", "build", "--model", "hit_tiny", "--checkpoint", str(checkpoint)
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "cannot build TensorRT engines here" in result.stderr
    missing = run("hit_tracker_ros.tools.engines", "build", "--model", "hit_tiny", "--checkpoint", "nope.pth")
    assert missing.returncode == 2 and "checkpoint nope.pth not found" in missing.stderr
    csrt = run("hit_tracker_ros.tools.engines", "build", "--model", "csrt", "--checkpoint", str(checkpoint))
    assert csrt.returncode == 2 and "not a network model" in csrt.stderr
    listing = run("hit_tracker_ros.tools.engines", "list", "--cache", str(tmp_path / "engines"))
    assert listing.returncode == 0 and "no engines in" in listing.stdout


def test_engines_defaults_come_from_the_backend_options():
    help_text = run("hit_tracker_ros.tools.engines", "build", "--help").stdout
    assert "--precision {fp16,fp32}" in help_text
    from hit_tracker_ros.tools import engines

    assert engines.DEFAULTS == BackendOptions()


def test_defaults_agree_everywhere():
    """The node's parameters, the CLIs and the config files take the backend options' defaults."""
    import yaml

    from hit_tracker_ros.ros.parameters import parameter_defaults
    from hit_tracker_ros.tools.benchmark import parser

    defaults = BackendOptions()
    node = parameter_defaults()
    for name in BackendOptions.names():
        assert node[name] == getattr(defaults, name), name
    assert parser("x").parse_args([]).device == defaults.device
    for config in (Path(__file__).parents[1] / "config").glob("*.yaml"):
        for section in yaml.safe_load(config.read_text()).values():
            for name, value in section["ros__parameters"].items():
                if name in BackendOptions.names():
                    assert value == getattr(defaults, name), f"{config.name}: {name}"


def test_gpu_check_says_in_one_line_that_there_is_no_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: scripts/gpu-check runs for real there")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [str(root / "scripts" / "gpu-check")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stdout.strip().count("\n") == 0 and "no CUDA device here" in result.stdout
    no_gpu = run("hit_tracker_ros.tools.gpu_benchmark", "--models", "hit_tiny")
    assert no_gpu.returncode == 2 and "no CUDA device here" in no_gpu.stderr


def test_gpu_benchmark_smoke_run_on_the_cpu(tmp_path):
    """The GPU benchmark's code (variants, interleaved runs, batched rows, table, JSON) on the
    CPU; on a GPU scripts/gpu-check runs it with the eager, graphs and GPU-crop variants."""
    out = tmp_path / "gpu.json"
    result = run(
        "hit_tracker_ros.tools.gpu_benchmark",
        *("--device", "cpu", "--models", "hit_tiny", "--frames", "3", "--batch-frames", "2"),
        *("--repeats", "1", "--targets", "1,2", "--json", str(out)),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert row["model"] == "hit_tiny" and row["fps"]["eager"] > 0
    assert [r["targets"] for r in row["batched"]["rows"]] == [1, 2]
    assert result.stdout.startswith("| model | eager FPS |") and "| hit_tiny |" in result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("tools.export", "--model", "hit_tiny", "--checkpoint", "missing.pth"), "missing.pth not found"),
        (("tools.export", "--model", "no_such_model", "--checkpoint", "random"), "no_such_model"),
        (("tools.engines", "build", "--model", "hit_tiny", "--checkpoint", "missing.pth"), "not found"),
        (("tools.engines", "build", "--model", "hit_tiny", "--checkpoint", "random"), "tensorrt"),
        (("tools.benchmark", "--model", "hit_tiny", "--checkpoint", "missing.pth"), "missing.pth not found"),
        (("tools.benchmark", "--model", "no_such_model"), "no_such_model"),
        (
            (
                "tools.benchmark",
                "--model",
                "hit_tiny",
                "--checkpoint",
                "random",
                "--backend",
                "no_such_backend",
            ),
            "no backend 'no_such_backend'",
        ),
        (("tools.benchmark_targets", "--model", "hit_tiny", "--checkpoint", "missing.pth"), "not found"),
        (("tools.gpu_benchmark", "--device", "cpu", "--models", "no_such_model"), "no_such_model"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else None,
)
def test_expected_errors_are_one_line_and_exit_2(args, says, tmp_path, capsys, monkeypatch):
    """A missing file, an unknown model or backend: one line on stderr, exit code 2, no traceback
    (issue 22: the export printed a CheckpointError's traceback). In-process: `python -m` runs
    the same main (the export's entry point is run as a process below)."""
    import importlib

    if args[:2] == ("tools.engines", "build") and args[-1] == "random" and tensorrt_unavailable() is None:
        pytest.skip("TensorRT is here: the engine would really be built")
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(f"hit_tracker_ros.{args[0]}").main
    assert main(list(args[1:])) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr and says in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_a_cli_process_reports_a_missing_checkpoint_in_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hit_tracker_ros.tools.export",
            "--model",
            "hit_tiny",
            "--checkpoint",
            "missing.pth",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert result.returncode == 2 and result.stderr.strip() == "error: checkpoint missing.pth not found"


def test_export_takes_random_weights(tmp_path):
    result = run(
        "hit_tracker_ros.tools.export",
        "--model",
        "hit_tiny",
        "--checkpoint",
        "random",
        "--out",
        str(tmp_path / "t.onnx"),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "t.onnx").exists() and "max |ONNX Runtime - PyTorch|" in result.stdout
