"""The CPU thread policy (core/cpu.py): the default thread count follows this process's affinity
and the cgroup's CPU quota (fake cgroup files, v2 and v1), the parameter overrides it, OpenMP is
told to wait passively before torch loads, and each CPU backend runs the count it was given."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from hit_tracker_ros.core import cpu


@pytest.fixture(autouse=True)
def no_omp_threads(monkeypatch):
    """The test runs may set OMP_NUM_THREADS (make test does, per xdist worker): not here."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def cgroup_v2(tmp_path, text: str):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def cgroup_v1(tmp_path, quota: int, period: int):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(str(quota))
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(str(period))
    return tmp_path


def test_the_quota_bounds_the_default(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "affinity_cpus", lambda: 8)
    budget = cpu.cpu_budget(0, cgroup_v2(tmp_path, "150000 100000\n"))  # --cpus 1.5
    assert budget.threads == 2 and "cgroup quota 1.5" in budget.reason and "affinity 8" in budget.reason


def test_cgroup_v1_and_no_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "affinity_cpus", lambda: 4)
    assert cpu.cpu_budget(0, cgroup_v1(tmp_path, 100000, 100000)).threads == 1
    unlimited = tmp_path / "v2"
    unlimited.mkdir()
    assert cpu.cpu_budget(0, cgroup_v2(unlimited, "max 100000\n")).threads == 4
    assert cpu.cpu_budget(0, tmp_path / "absent").reason.startswith("4 (from the affinity")


def test_the_affinity_bounds_the_default(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "affinity_cpus", lambda: 1)  # taskset -c 0
    budget = cpu.cpu_budget(0, cgroup_v2(tmp_path, "400000 100000\n"))
    assert budget.threads == 1 and budget.reason.startswith("1 (from the affinity")


def test_the_parameter_overrides(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "affinity_cpus", lambda: 1)
    assert cpu.cpu_budget(3, tmp_path).threads == 3
    assert "cpu_threads parameter" in cpu.cpu_budget(3, tmp_path).reason


def test_a_real_affinity_limit_is_seen():
    """taskset limits a child process to one CPU: its default is 1."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    code = (
        "import os; os.sched_setaffinity(0, {0})\n"
        "from hit_tracker_ros.core import cpu; print(cpu.cpu_budget().threads)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "1"


def test_each_cpu_backend_runs_the_count_it_was_given_and_waits_passively(tmp_path):
    """The parameter reaches ONNX Runtime (threads, no spinning), OpenVINO (threads, no pinning)
    and PyTorch (its thread pool); the selection says what is in force and why."""
    import torch

    from hit_tracker_ros.backends.build import build_runner
    from hit_tracker_ros.backends.options import BackendOptions
    from hit_tracker_ros.tools.cli import random_checkpoint
    from hit_tracker_ros.trackers.network import family_of, network_spec

    spec = network_spec(family_of("hit_tiny"), "hit_tiny", random_checkpoint("hit_tiny", tmp_path))
    options = BackendOptions(engine_cache_dir=str(tmp_path / "engines"), cpu_threads=1)
    ort = build_runner(spec, "onnxruntime", options)
    session = ort.runner.session.get_session_options()
    assert session.intra_op_num_threads == 1
    assert session.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert ort.info()["cpu_threads"].startswith("1 (cpu_threads parameter); idle workers passive")
    spinning = build_runner(
        spec, "onnxruntime", BackendOptions(engine_cache_dir=str(tmp_path / "e"), cpu_spin=True)
    )
    assert (
        spinning.runner.session.get_session_options().get_session_config_entry(
            "session.intra_op.allow_spinning"
        )
        == "1"
    )
    if importlib.util.find_spec("openvino"):
        openvino = build_runner(spec, "openvino-f32", options).runner.compiled
        assert int(openvino.get_property("INFERENCE_NUM_THREADS")) == 1
        assert not openvino.get_property("ENABLE_CPU_PINNING")
    before = torch.get_num_threads()
    try:
        build_runner(spec, "torch", options)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def run_a_tool(preset: str) -> str:
    """What the OpenMP variables are after a tool's start (core.errors.cli), with `preset` done first."""
    code = (
        "import os\n"
        "for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'KMP_BLOCKTIME'): os.environ.pop(k, None)\n"
        f"{preset}\n"
        "from hit_tracker_ros.core.errors import cli\n"
        "cli(lambda argv: 0)([])\n"
        "print([os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'KMP_BLOCKTIME')])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_tools_and_the_nodes_tell_openmp_to_spin_only_briefly():
    """OpenMP reads its wait policy when the library loads: set before PyTorch is imported."""
    assert run_a_tool("pass") == "[None, '1000', '1']"
    assert run_a_tool("os.environ['OMP_WAIT_POLICY'] = 'ACTIVE'") == "['ACTIVE', None, None]", (
        "the user's is kept"
    )


def test_omp_num_threads_is_respected(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "affinity_cpus", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu.cpu_budget(0, tmp_path) == cpu.CpuBudget(1, "1 (OMP_NUM_THREADS)")
    assert cpu.cpu_budget(4, tmp_path).threads == 4, "the parameter comes first"


def test_opencv_runs_the_thread_budget(monkeypatch):
    """OpenCV has one thread pool per process: the node sets it to the budget at configure, as
    the runtimes follow it (with OpenCV's default of every core, one-thread CSRT cost 15-25 % more
    CPU per frame)."""
    import cv2

    before = cv2.getNumThreads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert cpu.configure_opencv() == 1 and cv2.getNumThreads() == 1
        assert cpu.configure_opencv(3) == 3 and cv2.getNumThreads() == 3, "the parameter comes first"
    finally:
        cv2.setNumThreads(before)
