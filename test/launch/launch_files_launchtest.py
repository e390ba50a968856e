"""launch_testing description: every launch file of the package, started for real with the
arguments users pass (namespace, compressed, params_file, links, ports), its nodes checked over
DDS (lifecycle state, topics after remapping, parameter values) and shut down cleanly.

Run by test/test_launch_files.py through the `launch_test` command, one case per run
(HTR_LAUNCH_CASE=<name>; unset: all cases). The package must be built and sourced (scripts/run).
"""

# no `from __future__ import annotations`: launch_test loads this file outside sys.modules, where
# dataclasses cannot resolve string annotations
import os
import socket
import sys
import tempfile
import unittest
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from launch import LaunchDescription

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]  # this folder, test/
from graph_probe import GraphProbe  # noqa: E402

SHARE = Path(get_package_share_directory("hit_tracker_ros"))
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
STATUS = "hit_tracker_ros/msg/TrackerStatus"
TWIST = "geometry_msgs/msg/TwistStamped"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def params_file(name: str, base: Path, changes: dict[str, dict]) -> str:
    """A copy of the package's parameter file `base` with `changes` ({node key: {param: value}})."""
    data = yaml.safe_load(base.read_text())
    for node, params in changes.items():
        data.setdefault(node, {"ros__parameters": {}})["ros__parameters"].update(params)
    path = Path(tempfile.mkdtemp(prefix="htr_launch_")) / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


@dataclass
class Expected:
    """What one node of a launch must look like once it is up."""

    subscribes: dict[str, str] = field(default_factory=dict)  # topic -> type
    publishes: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, object] = field(default_factory=dict)


@dataclass
class Case:
    name: str
    launch_file: str
    arguments: dict[str, str]
    nodes: dict[str, Expected]  # fully qualified name -> expectations
    heartbeat_port: int = 0  # MAVLink: a HEARTBEAT from (system_id, 100) arrives here
    system_id: int = 1
    http_port: int = 0  # the operator page answers here

    def __str__(self) -> str:
        return self.name


def cases() -> list[Case]:
    udp_follow, udp_bridge = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    web_follow, web_alone = free_port(), free_port()
    tracker_params = params_file(
        "tracker.yaml", SHARE / "config" / "csrt.yaml", {"/**": {"lost_threshold": 0.4, "max_lost_frames": 7}}
    )
    # follow.yaml as shipped, but for the web port (8080 may be taken on a CI machine)
    follow_params = params_file(
        "follow.yaml", SHARE / "config" / "follow.yaml", {"/**/web_operator": {"port": web_follow}}
    )
    return [
        Case(
            "tracker_defaults",
            "tracker.launch.py",
            {},
            {
                "/hit_tracker": Expected(
                    subscribes={"/camera/image_raw": IMAGE, "/camera/camera_info": CAMERA_INFO},
                    publishes={"/hit_tracker/status": STATUS},
                    parameters={"model": "csrt", "use_compressed": False, "lost_threshold": 0.25},
                )
            },
        ),
        Case(
            "tracker_compressed_namespace",
            "tracker.launch.py",
            {
                "image_topic": "/front/image_raw",
                "camera_info_topic": "/front/camera_info",
                "compressed": "true",
                "namespace": "drone1",
            },
            {
                "/drone1/hit_tracker": Expected(
                    subscribes={"/front/image_raw/compressed": COMPRESSED, "/front/camera_info": CAMERA_INFO},
                    publishes={"/drone1/hit_tracker/status": STATUS},
                    parameters={"use_compressed": True},
                )
            },
        ),
        Case(
            "tracker_params_file_and_name",
            "tracker.launch.py",
            {"params_file": tracker_params, "node_name": "tracker_a", "model": "csrt"},
            {
                "/tracker_a": Expected(
                    subscribes={"/camera/image_raw": IMAGE},
                    parameters={"lost_threshold": 0.4, "max_lost_frames": 7, "model": "csrt"},
                )
            },
        ),
        Case(
            "follow_in_namespace",
            "follow.launch.py",
            {
                "namespace": "drone1",
                "image_topic": "/cam/image_raw",
                "camera_info_topic": "/cam/camera_info",
                "mavlink_url": f"udpout:127.0.0.1:{udp_follow}",
                "params_file": follow_params,
                "follow_enabled": "true",
            },
            {
                "/drone1/hit_tracker": Expected(
                    subscribes={"/cam/image_raw": IMAGE, "/cam/camera_info": CAMERA_INFO},
                    parameters={"recover_threshold": 0.35, "max_lost_frames": 90},
                ),
                "/drone1/mavlink_bridge": Expected(
                    subscribes={"/drone1/hit_tracker/status": STATUS},
                    parameters={"mavlink_url": f"udpout:127.0.0.1:{udp_follow}", "tracker": "hit_tracker"},
                ),
                "/drone1/follow_controller": Expected(
                    subscribes={"/drone1/hit_tracker/status": STATUS},
                    publishes={"/drone1/follow_controller/cmd_vel": TWIST},
                    parameters={"enabled": True, "gimbal_yaw.kp": 2.0, "rate_hz": 30.0},
                ),
                "/drone1/web_operator": Expected(
                    subscribes={"/cam/image_raw": IMAGE, "/drone1/hit_tracker/status": STATUS},
                    parameters={"port": web_follow, "tracker": "hit_tracker"},
                ),
            },
            heartbeat_port=udp_follow,
            http_port=web_follow,
        ),
        Case(
            "mavlink_bridge_alone",
            "mavlink_bridge.launch.py",
            {
                "namespace": "gcs",
                "tracker": "/drone1/hit_tracker",
                "system_id": "7",
                "mavlink_url": f"udpout:127.0.0.1:{udp_bridge}",
                "status_rate_hz": "10",  # written as an integer: the node's parameter is a double
            },
            {
                "/gcs/mavlink_bridge": Expected(
                    subscribes={"/drone1/hit_tracker/status": STATUS},
                    parameters={"system_id": 7, "status_rate_hz": 10.0},
                )
            },
            heartbeat_port=udp_bridge,
            system_id=7,
        ),
        Case(
            "web_operator_alone",
            "web_operator.launch.py",
            {
                "namespace": "ops",
                "image_topic": "/cam/image_raw",
                "tracker": "/drone1/hit_tracker",
                "port": str(web_alone),
                "token": "4039268095940359",  # `openssl rand -hex 8` gave this in a CI run: all digits
            },
            {
                "/ops/web_operator": Expected(
                    subscribes={"/cam/image_raw": IMAGE, "/drone1/hit_tracker/status": STATUS},
                    parameters={"port": web_alone, "token": "4039268095940359", "bind": "127.0.0.1"},
                )
            },
            http_port=web_alone,
        ),
    ]


def selected() -> list[Case]:
    wanted = os.environ.get("HTR_LAUNCH_CASE")
    chosen = [c for c in cases() if not wanted or c.name == wanted]
    if not chosen:
        raise ValueError(f"no launch case '{wanted}'; cases: {[c.name for c in cases()]}")
    return chosen


@launch_testing.parametrize("case", selected())
def generate_test_description(case: Case):
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(SHARE / "launch" / case.launch_file)),
        launch_arguments=case.arguments.items(),
    )
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestLaunchedNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.probe = GraphProbe("launch_test_probe")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.probe.close()

    def test_1_nodes_become_active(self, case: Case) -> None:
        for fqn in case.nodes:
            self.probe.wait_active(fqn)

    def test_2_topics_after_remapping(self, case: Case) -> None:
        for fqn, expected in case.nodes.items():
            self.probe.wait_active(fqn)
            for wanted, publishers in ((expected.subscribes, False), (expected.publishes, True)):
                actual = self.probe.wait_endpoints(fqn, wanted, publishers)
                for topic, msg_type in wanted.items():
                    self.assertIn(topic, actual, f"{fqn}: {topic} not among {sorted(actual)}")
                    self.assertIn(msg_type, actual[topic])

    def test_3_parameters(self, case: Case) -> None:
        for fqn, expected in case.nodes.items():
            values = self.probe.parameters(fqn, list(expected.parameters))
            self.assertEqual(values, expected.parameters, fqn)

    def test_4_mavlink_heartbeat(self, case: Case) -> None:
        if not case.heartbeat_port:
            return
        from pymavlink import mavutil

        link = mavutil.mavlink_connection(f"udpin:127.0.0.1:{case.heartbeat_port}", source_system=250)
        try:
            beat = link.recv_match(type="HEARTBEAT", blocking=True, timeout=10)
        finally:
            link.close()
        self.assertIsNotNone(beat, "no HEARTBEAT from the bridge")
        self.assertEqual((beat.get_srcSystem(), beat.get_srcComponent()), (case.system_id, 100))
        self.assertEqual(beat.type, mavutil.mavlink.MAV_TYPE_CAMERA)

    def test_5_operator_page(self, case: Case) -> None:
        if not case.http_port:
            return
        with urllib.request.urlopen(f"http://127.0.0.1:{case.http_port}/", timeout=10) as reply:
            self.assertEqual(reply.status, 200)
            self.assertIn(b"<html", reply.read().lower())


@launch_testing.post_shutdown_test()
class TestCleanShutdown(unittest.TestCase):
    def test_every_node_exits_cleanly(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
