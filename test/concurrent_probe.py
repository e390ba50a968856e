"""Run by test_private_domain.py as two pytest sessions at once (not collected on its own): each
session starts a tracker node under the same fully qualified name, /hit_tracker, as two CI jobs
on one host would, and must see exactly one such node and get answers from its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ros_harness import NodeProcess, RemoteTracker, frame_stamp_ns, make_image
from waiting import until

from hit_tracker_ros.core.synthetic import SyntheticScene

pytestmark = pytest.mark.ros


def test_one_session_hears_only_its_own_tracker(client, tmp_path):
    Path(os.environ["HTR_PROBE_OUT"]).write_text(os.environ["ROS_DOMAIN_ID"])
    node = NodeProcess("/", {"image_qos_reliability": "reliable"}, tmp_path)
    try:
        tracker = RemoteTracker(node, client)
        scene = SyntheticScene()
        status = tracker.send_and_wait(make_image(scene.frame(0), frame_stamp_ns(0)))
        assert status.header.stamp.sec == frame_stamp_ns(0) // 10**9
        assert tracker.init(scene.truth(0), frame_stamp_ns(0)).success
        # Node names travel apart from the endpoints (ros_discovery_info): the services may
        # answer before the name is in this client's graph (seen on Jazzy), so wait for it.
        names = until(lambda: trackers_heard(client), 30, "/hit_tracker's name in the graph")
        assert names == [("hit_tracker", "/")], names
    finally:
        node.stop()


def trackers_heard(client) -> list[tuple[str, str]]:
    return [(n, ns) for n, ns in client.node.get_node_names_and_namespaces() if n == "hit_tracker"]
