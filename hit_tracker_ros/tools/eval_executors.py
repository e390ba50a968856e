"""Where an evaluation's (tracker, sequence) pairs run: this process, a local process pool
(`--jobs N`), or Ray (the default where it is installed: a local `ray.init()`, or a cluster with
`--ray-address`). Scheduling, retries and data transfer are Ray's: a pair is one Ray task with the
CPUs (and a GPU, for GPU backends) it needs, retried by Ray when its worker dies or it fails, and
its outcome comes back as it completes, so the caller stores it at once.

A cluster run needs this package (and its environment) on every node and the sequences (frames,
bags) and checkpoints at the same paths on every node (shared storage): a task carries paths, not
frames. Exports and engines are made beside the checkpoint, under a lock, once per node.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Protocol

RAY_RETRIES = 1  # a failed pair runs once more before it is reported (a flaky disk, a killed worker)
GPU_BACKENDS = ("tensorrt", "onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda")

# A task is a (TrackerSpec, Sequence) pair; `work` runs it and returns its outcome, whose last
# field is the error ("" when it worked); `done` gets (task, outcome or None, why it failed).
Task = tuple
Run = Callable[[Task], tuple]
Done = Callable[[Task, "tuple | None", str], None]


class Executor(Protocol):
    name: str  # what the log says

    def run(self, tasks: list[Task], work: Run, done: Done) -> None: ...


class InProcess:
    """One pair after another in this process."""

    name = "this process"

    def run(self, tasks: list[Task], work: Run, done: Done) -> None:
        for task in tasks:
            _call(task, work, done)


class ProcessPool:
    """`jobs` local processes (no Ray needed), each running its runtimes on `threads` threads (as a
    Ray task on its CPUs: the same arithmetic, and no more threads than cores)."""

    def __init__(self, jobs: int, threads: int = 1) -> None:
        self.jobs, self.threads = jobs, threads
        self.name = f"a pool of {jobs} processes"

    def run(self, tasks: list[Task], work: Run, done: Done) -> None:
        with ProcessPoolExecutor(
            max_workers=self.jobs, initializer=_use_threads, initargs=(self.threads,)
        ) as pool:
            futures = {pool.submit(work, task): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    done(task, future.result(), "")
                except Exception as exc:  # noqa: BLE001 - the worker died (killed, out of memory)
                    done(task, None, f"worker process died: {exc!r}")


class RayExecutor:
    """One Ray task per pair; see the module docstring. `address`: a cluster's (None: a local
    Ray started here, stopped at the end)."""

    def __init__(self, address: str | None = None, cpus_per_task: int = 1) -> None:
        import ray

        self.ray = ray
        self.cpus_per_task = cpus_per_task
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs = {"address": address} if address else {"include_dashboard": False}
            ray.init(log_to_driver=False, configure_logging=False, **kwargs)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 0))
        where = f"the cluster at {address}" if address else "a local instance"
        self.name = f"Ray ({where}: {len(nodes)} node{'s' * (len(nodes) != 1)}, {cpus} CPUs)"
        self.gpus = int(ray.cluster_resources().get("GPU", 0))
        self.nodes_used: set[str] = set()

    def resources(self, backend: str) -> dict:
        """CPUs per task, as many runtime threads (OMP_NUM_THREADS, which core.cpu follows), and a
        GPU for GPU backends (`auto` too, where the cluster has GPUs)."""
        gpu = backend.startswith(GPU_BACKENDS) or (backend == "auto" and self.gpus > 0)
        threads = {"env_vars": {"OMP_NUM_THREADS": str(self.cpus_per_task)}}
        return {"num_cpus": self.cpus_per_task, "num_gpus": 1 if gpu else 0, "runtime_env": threads}

    def run(self, tasks: list[Task], work: Run, done: Done) -> None:
        ray = self.ray
        remote = ray.remote(_on_a_node)
        # SPREAD: pairs read frames from shared storage; spreading them uses every node's CPUs and disks
        common = {"max_retries": RAY_RETRIES, "retry_exceptions": True, "scheduling_strategy": "SPREAD"}
        pending = {
            remote.options(**common, **self.resources(task[0].backend)).remote(work, task): task
            for task in tasks
        }
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ready[0])
            try:
                node, outcome = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - after Ray's retries: the task's own error or a lost worker
                done(task, None, _reason(exc))
                continue
            self.nodes_used.add(node)
            done(task, outcome, "")

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def _on_a_node(work: Run, task: Task) -> tuple[str, tuple]:
    """The task on a Ray worker: (the node it ran on, its outcome); a failed pair raises, so that
    Ray retries it."""
    outcome = work(task)
    error = outcome[-1]
    if error:
        raise PairFailed(error)
    import ray

    return f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}", outcome


class PairFailed(RuntimeError):
    """A pair that failed in a Ray task (raised so that Ray retries it)."""


def _reason(exc: BaseException) -> str:
    """The root cause of a Ray task's failure in one line."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, PairFailed):
        return str(cause)
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".strip()


def _use_threads(threads: int) -> None:
    """A pool worker's runtime threads, before any runtime loads (core.cpu reads it)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)


def _call(task: Task, work: Run, done: Done) -> None:
    outcome = work(task)
    done(task, outcome, "")


def choose(jobs: int | None, ray_address: str | None, log: Callable[[str], None]) -> Executor:
    """`--jobs N`: a process pool (1: this process); otherwise Ray (the cluster at `ray_address`,
    or a local one), or, where Ray is not installed, this process with the reason logged."""
    if jobs is not None and ray_address is None:
        return ProcessPool(jobs) if jobs > 1 else InProcess()
    try:
        import ray  # noqa: F401
    except ImportError:
        if ray_address:
            raise ValueError("--ray-address needs Ray: pip install ray") from None
        log("evaluate: Ray is not installed (pip install ray); running in this process")
        return InProcess()
    return RayExecutor(ray_address)


def used_nodes(executor: Executor) -> Iterable[str]:
    return sorted(getattr(executor, "nodes_used", ()))
