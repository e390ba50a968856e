"""Fixtures: DDS isolation for this test run, tracker node processes and client nodes."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from hit_tracker_ros.ros.tools.private_domain import use_private_domain

# Keep this run from hearing other runs (CI may run beside a developer): own domain, localhost.
use_private_domain()
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
# A script's background job (`.ci/run`'s Jazzy leg, `cmd &` without job control) starts with SIGINT
# ignored, and a process keeps an ignored signal across exec: a Python tool the tests Ctrl-C (the
# replay) then installs no KeyboardInterrupt handler and never sees it (nodes and rclpy install
# their own). A handler of ours is reset to the default at exec: every child starts with Ctrl-C
# working, as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config) -> None:
    """Once per session, in the controlling process: drop the golden-checkpoint folders of other
    source states (golden.shared_folder)."""
    if not hasattr(config, "workerinput"):
        from golden import prune_shared_folders

        prune_shared_folders()


@pytest.fixture(scope="module")
def client():
    from ros_harness import Client

    c = Client()
    yield c
    c.close()


class TrackerNodes:
    """Starts tracker nodes, each in a fresh namespace, and stops them all at `stop_all`, where
    each must still be alive."""

    def __init__(self, client, log_dir) -> None:
        self.client, self.log_dir = client, log_dir
        self.started: list = []

    def start(self, wait_for_outputs: bool = True, **params):
        """A RemoteTracker of a new node with these parameters."""
        from ros_harness import NodeProcess, RemoteTracker

        node = NodeProcess(f"/t{uuid.uuid4().hex[:8]}", params, self.log_dir)
        self.started.append(node)
        try:
            return RemoteTracker(node, self.client, wait_for_outputs)
        except TimeoutError:
            node.stop()
            raise AssertionError(f"node did not come up; its log:\n{node.log()}") from None

    def stop_all(self) -> None:
        for node in self.started:
            alive = node.alive()
            log = node.log() if not alive else ""
            node.stop()
            assert alive, f"tracker node died during the test; its log:\n{log}"


@pytest.fixture
def start_tracker(tmp_path_factory, client):
    """Factory of tracker nodes for one test: they stop when the test ends (an idle node left
    running until the end of the module still costs CPU, and every node in the domain adds to
    the discovery traffic of the others)."""
    nodes = TrackerNodes(client, tmp_path_factory.mktemp("node_logs"))
    yield nodes.start
    nodes.stop_all()


@pytest.fixture(scope="module")
def start_shared_tracker(tmp_path_factory, client):
    """Factory of tracker nodes that the tests of a module share (module-scoped fixtures): they
    stop at the end of the module."""
    nodes = TrackerNodes(client, tmp_path_factory.mktemp("node_logs"))
    yield nodes.start
    nodes.stop_all()
