"""A node of this package as a child process, started from the colcon install space as
`ros2 run` would start it (tests, the demo and the tools)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

STACKS_WRITTEN_S = 2.0  # for a hung node to write its threads' stacks after SIGUSR1


def node_executable(executable: str = "tracker_node") -> str:
    """An executable of the install space on AMENT_PREFIX_PATH (as `ros2 run` would find it)."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "lib" / "hit_tracker_ros" / executable
        if prefix and candidate.exists():
            return str(candidate)
    found = shutil.which(executable)
    if found:
        return found
    raise FileNotFoundError(
        f"{executable} not found: build the package (scripts/setup) and source its install space"
    )


class NodeProcess:
    """A node of the package as a child process (by default `tracker_node`, named hit_tracker)."""

    def __init__(
        self,
        namespace: str,
        params: dict[str, Any],
        log_dir: Path,
        executable: str = "tracker_node",
        node_name: str = "hit_tracker",
        remaps: dict[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.name = f"{namespace.rstrip('/')}/{node_name}"
        args = [node_executable(executable), "--ros-args", "-r", f"__ns:={namespace}"]
        for source, target in (remaps or {}).items():
            args += ["-r", f"{source}:={target}"]
        for key, value in params.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        self.log_path = log_dir / f"{namespace.strip('/')}-{executable}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_exit(self, timeout: float) -> int:
        """The exit code; a node still running after `timeout` first writes every thread's stack
        into its log (SIGUSR1, see node_main), then TimeoutError carries the log's end."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(timeout=STACKS_WRITTEN_S)
            except subprocess.TimeoutExpired:
                pass
            raise TimeoutError(f"{self.name} still runs after {timeout} s:\n{self.log()[-6000:]}") from None

    def stop(self) -> int:
        """Ctrl-C; a node that has not ended 10 s later writes its stacks into its log and is killed."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.wait_for_exit(timeout=10)
            except TimeoutError:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
