"""The README is the single source of the robot commands: every `ros2 ...` command of its `bash`
blocks runs here verbatim, in README order, with the real `ros2` CLI. Each `ros2 launch` starts for
real (all its nodes must become active), and the commands that follow it in the README, up to the
next `ros2 launch`, run against what it launched while a camera publishes synthetic images."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from waiting import until

from hit_tracker_ros.ros.tools.private_domain import take_host_lock

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STREAM_S = 60.0  # the deadline for a command that runs until Ctrl-C (topic echo) to print a message
FAILURE = re.compile(r"success=False|failed|Traceback|error", re.IGNORECASE)
NO_TOOLS = "needs the ros2 CLI, which scripts/setup installs from ../shared/ros2_python (absent here)"
WEB_PORT = 8080  # the operator page's default port, which the README's commands use
LOCKS = Path(tempfile.gettempdir()) / "hit_tracker_ros-ports"


def readme_commands(text: str) -> list[str]:
    """The `ros2 ...` commands of the README's bash blocks, in order, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        joined = re.sub(r"\\\n\s*", "", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("ros2 ")]
    return commands


@dataclass
class Session:
    """A `ros2 launch` command and the README commands that run against it."""

    launch: str
    commands: list[str] = field(default_factory=list)

    @property
    def launch_file(self) -> str:
        return self.launch.split()[3]


def sessions(commands: list[str]) -> list[Session]:
    out: list[Session] = []
    for command in commands:
        if command.startswith("ros2 launch "):
            out.append(Session(command))
        else:
            assert out, f"README runs '{command}' before any ros2 launch"
            out[-1].commands.append(command)
    return out


SESSIONS = sessions(readme_commands(README.read_text()))


def test_readme_shows_the_robot_commands():
    """The commands users need are in the README (so the run below covers each verb)."""
    verbs = {c.split()[1] for s in SESSIONS for c in [s.launch, *s.commands]}
    assert {"launch", "service", "topic", "lifecycle", "param"} <= verbs
    launched = {s.launch_file for s in SESSIONS}
    assert {"tracker.launch.py", "follow.launch.py", "web_operator.launch.py"} <= launched
    init = next(c for s in SESSIONS for c in s.commands if "/init " in c)
    assert "InitTarget" in init and "size_x" in init


@contextlib.contextmanager
def held_across_sessions(port: int, timeout: float = 900.0) -> Iterator[None]:
    """The README's fixed web port, held by one test session of this host at a time (a host lock
    under $TMPDIR/hit_tracker_ros-ports): the CI's two legs run at once, and the one that comes
    second waits for the other's command to end instead of finding the port taken."""
    path = LOCKS / f"{port}.lock"
    lock = until(lambda: take_host_lock(path), timeout, f"port {port}, held by another session", poll=0.2)
    try:
        yield
    finally:
        lock.close()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def camera(client):
    """/camera/image_raw (raw, and compressed while subscribed) and /camera/camera_info at 15 Hz, 640x480."""
    import cv2
    from sensor_msgs.msg import CameraInfo, CompressedImage

    from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene
    from hit_tracker_ros.ros.conversions import ns_to_time
    from hit_tracker_ros.ros.tools.scene_camera import make_image

    scene = SyntheticScene(SceneConfig(width=640, height=480, target_size=(80, 60)))
    stop = threading.Event()

    def publish() -> None:
        i = 0
        while not stop.wait(1 / 15):
            stamp = time.time_ns()
            rgb = scene.frame(i % len(scene))
            client.publish("/camera/image_raw", make_image(rgb, stamp), reliable=False)
            client.advertise("/camera/image_raw/compressed", CompressedImage, reliable=False)
            if client.subscription_count("/camera/image_raw/compressed"):  # as image_transport: on demand
                compressed = CompressedImage(format="jpeg")
                compressed.header.stamp = ns_to_time(stamp)
                compressed.data = cv2.imencode(".jpg", rgb[:, :, ::-1])[1].tobytes()
                client.publish("/camera/image_raw/compressed", compressed, reliable=False)
            info = CameraInfo(width=640, height=480)
            info.header.stamp = ns_to_time(stamp)
            info.k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
            client.publish("/camera/camera_info", info, reliable=False)
            i += 1

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Where the commands run ($PWD): the package's config/ and a HiT-Tiny checkpoint in the
    authors' format under models/, as the README tells users to put it."""
    work = tmp_path_factory.mktemp("robot")
    (work / "config").symlink_to(ROOT / "config")
    (work / "models").mkdir()
    yield work
    env = dict(os.environ)
    subprocess.run(["ros2", "daemon", "stop"], env=env, capture_output=True, timeout=30)


def hit_tiny_checkpoint(path: Path) -> None:
    from golden import save_authors_checkpoint

    try:
        from golden import HIT_GOLDEN, load_variant

        state = load_variant(HIT_GOLDEN["hit_tiny"])[2]
    except Exception:  # noqa: BLE001 - no golden data here: random weights load the same way
        import torch

        from hit_tracker_ros.models.hit import build_hit

        torch.manual_seed(0)
        state = {k: v.numpy() for k, v in build_hit("hit_tiny").state_dict().items()}
    save_authors_checkpoint(state, path)


class Launched:
    """A `ros2 launch` command running in its own process group, its output in a file."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.log_path = cwd / f"launch-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def started(self) -> int:
        return self.log().count("process started with pid")

    def stop(self) -> int | None:
        """Ctrl-C, as a user ends it; None when it had to be killed."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                self._log.close()
                return None
        self._log.close()
        return self.process.returncode


def wait_until_up(launched: Launched, probe, timeout: float) -> set[str]:
    """Until every process the launch started is an active lifecycle node (our nodes all are)."""
    active: set[str] = set()

    def up() -> set[str] | None:
        assert launched.process.poll() is None, f"ros2 launch exited:\n{launched.log()[-4000:]}"
        started = launched.started()
        active.clear()
        for fqn in probe.lifecycle_nodes():
            try:
                if probe.lifecycle_state(fqn, timeout=2.0) == "active":
                    active.add(fqn)
            except TimeoutError:
                pass  # a node that has just left, or one not answering yet
        if started and len(active) >= started and "[ERROR]" not in launched.log():
            return set(active)
        return None

    try:
        return until(up, timeout, "every launched node active", poll=0.5)
    except TimeoutError:
        raise AssertionError(
            f"not all nodes active after {timeout:.0f} s (active: {active}):\n{launched.log()[-4000:]}"
        ) from None


def wait_for_daemon(nodes: set[str], topics: set[str], cwd: Path, timeout: float = 30.0) -> None:
    """Until the ros2 daemon (which `ros2 param`, `ros2 lifecycle` and `ros2 topic echo` ask for
    names and types) has discovered `nodes` and the publishers of `topics`: on a robot it has been
    running for long; here it has just started, and on a loaded machine a publisher can reach it
    after its node (`topic echo` then fails: "Could not determine the type")."""
    for verb, wanted in (("node", nodes), ("topic", topics)):

        def listed(verb=verb, wanted=wanted) -> bool:
            names = subprocess.run(["ros2", verb, "list"], cwd=cwd, capture_output=True, text=True).stdout
            return wanted <= set(names.split())

        until(listed, timeout, f"the ros2 daemon to list {wanted}", poll=0.5)


def echoed_topics(commands: list[str]) -> set[str]:
    """The topics the session's `ros2 topic echo` commands read."""
    return {c.split()[3] for c in commands if c.startswith("ros2 topic echo")}


def run_command(command: str, cwd: Path) -> tuple[str, bool]:
    """(output, ran to completion): a command that keeps running (topic echo) is ended with Ctrl-C
    once it has printed a whole message (or after STREAM_S), as a user would; one that ignores
    Ctrl-C too is killed."""
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if command.startswith("ros2 topic echo"):
        return stream_until_a_message(process)
    try:
        output, _ = process.communicate(timeout=60)
        return output, process.returncode == 0
    except subprocess.TimeoutExpired:
        interrupt(process)
        return process.communicate()[0], False


def stream_until_a_message(process: subprocess.Popen) -> tuple[str, bool]:
    """Read a streaming command's output until its first message ends (`topic echo` prints
    '---' after each), then Ctrl-C it; (output, whether it had ended by itself before that)."""
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        until(lambda: "---\n" in lines or process.poll() is not None, STREAM_S, "a whole message")
    except TimeoutError:
        pass  # the assertion on the output says what was missing
    ended_by_itself = process.poll() is not None
    if not ended_by_itself:
        interrupt(process)
    reader.join(timeout=20)  # the pipe is at its end once the process group has gone
    return "".join(lines), ended_by_itself


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C the command's process group, and SIGKILL it when it ignores that too."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# the state a lifecycle transition of `ros2 lifecycle set` leads to
TRANSITION_GOAL = {
    "configure": "inactive",
    "activate": "active",
    "deactivate": "inactive",
    "cleanup": "unconfigured",
}


def hung_but_done(command: str, output: str, cwd: Path) -> bool:
    """The ros2 CLI hung (killed after 60 s) although our node did what it asked: seen in CI runs
    on this loaded 2-core machine, once after `ros2 service call` had printed the node's answer
    (it hung in rclpy's shutdown), once in `ros2 lifecycle set` with no output. The node's
    behaviour is still checked: on the printed response, or on the lifecycle state it reached."""
    if command.startswith("ros2 service call"):
        return "response:" in output
    words = command.split()
    if words[:3] == ["ros2", "lifecycle", "set"] and words[4] in TRANSITION_GOAL:
        try:
            state = subprocess.run(
                ["ros2", "lifecycle", "get", words[3]], cwd=cwd, capture_output=True, text=True, timeout=60
            ).stdout
        except subprocess.TimeoutExpired:
            return False
        return state.startswith(TRANSITION_GOAL[words[4]] + " ")
    return False


pytestmark = [pytest.mark.ros, pytest.mark.skipif(shutil.which("ros2") is None, reason=NO_TOOLS)]


def cli_cannot_run(session: Session) -> str | None:
    """Why the ros2 CLI installed here cannot run this session's commands on this rclpy, or None."""
    import rclpy

    calls_service = any(c.startswith("ros2 service call") for c in session.commands)
    if calls_service and not hasattr(rclpy, "InitContextManager"):
        return (
            "the ros2 CLI from ../shared/ros2_python is Kilted's: its `ros2 service call` needs Kilted's "
            "rclpy (`with rclpy.init()`), which this distro's rclpy lacks (robots use their distro's ros2cli)"
        )
    return None


def session_id(session: Session) -> str:
    return f"{session.launch_file}:{' '.join(session.launch.split()[4:])[:60]}"


@pytest.mark.parametrize("session", SESSIONS, ids=session_id)
def test_readme_command(session: Session, camera, client, workdir):
    sys.path.insert(0, str(ROOT / "test" / "launch"))
    if reason := cli_cannot_run(session):
        pytest.skip(reason)
    uses_web = session.launch_file in ("web_operator.launch.py", "follow.launch.py")
    with held_across_sessions(WEB_PORT) if uses_web else contextlib.nullcontext():
        if uses_web and not port_free(WEB_PORT):
            pytest.skip(f"port {WEB_PORT}, which this README command uses, is taken on this machine")
        run_session(session, workdir, client)


def wait_for_frames(trackers: list[str], client, timeout: float = 60.0) -> None:
    """Until each tracker has processed a camera frame (its status of that frame arrived): an
    operator picks a target in video they see. The camera's frames reach a node some time after
    it is active, and an init before the first frame is refused ("no image received yet"), as
    CI saw once on a loaded machine."""
    from hit_tracker_ros.msg import TrackerStatus

    for fqn in trackers:
        topic = f"{fqn}/status"
        client.listen(topic, TrackerStatus)
        before = len(client.received(topic))  # an earlier session's tracker had the same name

        def processed(topic=topic, before=before) -> bool:
            return len(client.received(topic)) > before

        until(processed, timeout, f"a status of a camera frame from {fqn}")


def run_session(session: Session, workdir: Path, client) -> None:
    """Launch, wait until every node is up and known to the ros2 daemon, run the commands, Ctrl-C."""
    from graph_probe import GraphProbe

    if "models/HiT_Tiny.pth.tar" in session.launch and not (workdir / "models" / "HiT_Tiny.pth.tar").exists():
        hit_tiny_checkpoint(workdir / "models" / "HiT_Tiny.pth.tar")
    probe = GraphProbe("readme_probe")
    launched = Launched(session.launch, workdir)
    try:
        nodes = wait_until_up(launched, probe, timeout=180)
        wait_for_daemon(nodes, echoed_topics(session.commands), workdir)
        wait_for_frames(sorted(n for n in nodes if n.endswith("/hit_tracker")), client)
        for command in session.commands:
            output, completed = run_command(command, workdir)
            if command.startswith("ros2 topic echo"):
                assert "---" in output and not completed, f"{command}\n{output[-3000:]}"
            else:
                if not completed and hung_but_done(command, output, workdir):
                    warnings.warn(f"the ros2 CLI hung, though the node did it: {command}", stacklevel=1)
                    completed = True
                assert completed and not FAILURE.search(output), f"{command}\n{output[-3000:]}"
            if "/init " in command:
                assert "success=True" in output, output
    finally:
        probe.close()
        code = launched.stop()
    log = launched.log()
    assert code == 0, f"ros2 launch did not end cleanly on Ctrl-C ({code}):\n{log[-4000:]}"
    assert "Traceback" not in log, log[-4000:]
    assert log.count("process has finished cleanly") == launched.started(), log[-4000:]
    if "token:=" in session.launch:  # the drawn token reached the page as a string, and it says so
        assert "open it with ?token=<token> to control" in log, log[-4000:]
