"""The CPUs this process may really use, and the thread policy of the CPU backends.

A robot's computer is never idle, and a container limited with `--cpus` still shows every host
core to os.cpu_count(). The thread count therefore defaults to what the process may run on: its
CPU affinity (taskset, cpusets) and the cgroup's CPU quota (cgroup v2 `cpu.max`, v1
`cpu.cfs_quota_us` / `cpu.cfs_period_us`), whichever is smaller, never below 1. The
`cpu_threads` parameter, or else the standard OMP_NUM_THREADS, overrides it.

The waiting policy was chosen by measurement (docs/benchmarks.md, "CPU threads under contention":
the 2-core machine with one or two cores kept busy by other processes, and idle). Spinning
workers, the runtimes' default, make one descheduled worker stall the others at every barrier:
PyTorch 3.3-3.4x slower with one busy core, ONNX Runtime 2.4-2.5x. Passive waiting can cost idle
speed where the network has many small layers (E.T.Track with PyTorch: about 8 %). So:
* PyTorch (OpenMP): spin briefly, then sleep (GOMP_SPINCOUNT=1000, Intel OpenMP's KMP_BLOCKTIME=1
  ms): HiT-Tiny idle within the machine's noise of the default, 1.5-1.8x with a busy core. OpenMP
  reads these once, when PyTorch loads: `configure_openmp()` sets them at start in the node and
  the tools (values the user set are kept);
* ONNX Runtime: no spinning (`session.intra_op.allow_spinning` 0): 1.6x with a busy core;
* OpenVINO: threads not pinned to cores (a pinned thread waits for its busy core): 1.8-2.3x.
`cpu_spin: true` restores the runtimes' spinning, for a machine that runs nothing else.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
PASSIVE = "passive"


@dataclass(frozen=True)
class CpuBudget:
    """How many threads a CPU backend should run, and why."""

    threads: int
    reason: str


def affinity_cpus() -> int | None:
    """CPUs in this process's affinity mask (None where the platform has none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cgroup_quota(root: Path = CGROUP) -> float | None:
    """CPUs the cgroup's quota allows (e.g. 1.5), None without a quota. cgroup v2 first, then v1."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cpu_budget(requested: int = 0, root: Path = CGROUP) -> CpuBudget:
    """The thread count for `requested` (0: what the process may use), with the reason."""
    if requested > 0:
        return CpuBudget(requested, f"{requested} (cpu_threads parameter)")
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        threads = int(os.environ["OMP_NUM_THREADS"])  # the standard variable, set on purpose
        return CpuBudget(threads, f"{threads} (OMP_NUM_THREADS)")
    affinity = affinity_cpus()
    quota = cgroup_quota(root)
    counts = {"affinity": affinity, "cgroup quota": math.ceil(quota) if quota else None}
    known = {k: v for k, v in counts.items() if v}
    if not known:
        cores = os.cpu_count() or 1
        return CpuBudget(cores, f"{cores} (os.cpu_count; no affinity or quota known)")
    source, threads = min(known.items(), key=lambda kv: kv[1])
    detail = ", ".join(f"{k} {quota:g}" if k == "cgroup quota" else f"{k} {v}" for k, v in known.items())
    return CpuBudget(max(threads, 1), f"{max(threads, 1)} (from the {source}: {detail})")


@dataclass(frozen=True)
class CpuPolicy:
    """The threads and the waiting policy the CPU backends run with, and why (diagnostics)."""

    threads: int
    spin: bool
    reason: str

    def describe(self) -> str:
        wait = "spinning (cpu_spin)" if self.spin else "passive"
        return f"{self.reason}; idle workers {wait}; {openmp_policy()}"


def cpu_policy(requested: int = 0, spin: bool = False, root: Path = CGROUP) -> CpuPolicy:
    budget = cpu_budget(requested, root)
    return CpuPolicy(budget.threads, spin, budget.reason)


# OpenMP's waiting, set before PyTorch loads: spin briefly, then sleep (see the module docstring)
OPENMP_WAIT = {"GOMP_SPINCOUNT": "1000", "KMP_BLOCKTIME": "1"}


def openmp_policy() -> str:
    """What OpenMP (PyTorch's CPU threads) was told at start (it reads the environment once)."""
    told = [f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", *OPENMP_WAIT) if k in os.environ]
    return "OpenMP " + (", ".join(told) if told else "defaults (its workers spin)")


def configure_openmp() -> str:
    """OpenMP workers that spin briefly and then sleep, set in the environment before an OpenMP
    library loads (PyTorch); what is in force, for the log. A wait policy the user set is kept."""
    if "OMP_WAIT_POLICY" not in os.environ:
        for key, value in OPENMP_WAIT.items():
            os.environ.setdefault(key, value)
    return openmp_policy()


def configure_opencv(requested: int = 0) -> int:
    """OpenCV's worker threads (CSRT, image conversions) at the CPU budget, as the runtimes'
    follow it: left at OpenCV's default of every core, a node told to use one thread
    (OMP_NUM_THREADS=1 or cpu_threads: 1) spent 37-41 ms of CPU per CSRT frame instead of 32
    (320x240, the 2-core machine). OpenCV has one pool per process, so this is for a process's
    own start (the node's configure), never for a forked child: there `setNumThreads` waits
    forever for the parent's pool threads (seen in the evaluation's process pool)."""
    import cv2

    threads = cpu_budget(requested).threads
    if cv2.getNumThreads() != threads:
        cv2.setNumThreads(threads)
    return threads
