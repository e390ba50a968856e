"""Launch file and configs against the node's parameters; colcon install space; pip install of
the ROS-free core."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hit_tracker_ros.ros.parameters import PARAMETER_NAMES

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "tracker.launch.py"
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
INSTALL = ROOT / ".ws" / "install"


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name
    ]


def _first_str(call: ast.Call) -> str:
    return ast.literal_eval(call.args[0])


def node_parameters() -> dict[str, dict]:
    """Parameter defaults of each executable (the tables the nodes declare from)."""
    from hit_tracker_ros.ros import follow_controller, mavlink_bridge, parameters, web_operator

    return {
        "tracker_node": parameters.parameter_defaults(),
        "mavlink_bridge": mavlink_bridge.parameter_defaults(),
        "follow_controller": follow_controller.parameter_defaults(),
        "web_operator": web_operator.parameter_defaults(),
    }


NODE_NAMES = {
    "hit_tracker": "tracker_node",
    "mavlink_bridge": "mavlink_bridge",
    "follow_controller": "follow_controller",
    "web_operator": "web_operator",
}


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_pass_only_declared_parameters(launch_file):
    """Read (not execute) each launch file: every parameter it sets is one its node declares,
    every LaunchConfiguration names a declared argument, and every argument is used."""
    tree = ast.parse(launch_file.read_text())
    declared = {_first_str(c) for c in _calls(tree, "DeclareLaunchArgument")}
    assert "namespace" in declared
    used = {_first_str(c) for c in _calls(tree, "LaunchConfiguration")}
    assert used <= declared, f"undeclared launch arguments: {used - declared}"
    assert declared <= used, f"unused launch arguments: {declared - used}"
    known = node_parameters()
    for node in _calls(tree, "LifecycleNode"):
        kw = {k.arg: k.value for k in node.keywords}
        assert ast.literal_eval(kw["package"]) == "hit_tracker_ros"
        executable = ast.literal_eval(kw["executable"])
        for item in kw["parameters"].elts:
            if isinstance(item, ast.Dict):
                passed = {ast.literal_eval(k) for k in item.keys}
                assert passed <= set(known[executable]), (
                    f"not {executable} parameters: {passed - set(known[executable])}"
                )


def test_tracker_launch_file_has_the_documented_arguments():
    tree = ast.parse(LAUNCH_FILE.read_text())
    declared = {_first_str(c) for c in _calls(tree, "DeclareLaunchArgument")}
    documented = {
        "model",
        "checkpoint",
        "backend",
        "image_topic",
        "camera_info_topic",
        "compressed",
        "namespace",
    }
    assert declared >= documented | {"params_file", "node_name"}


@pytest.mark.parametrize("config", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_config_files_use_declared_parameters_with_right_types(config):
    data = yaml.safe_load(config.read_text())
    known = node_parameters()
    for section, content in data.items():
        name = section.rsplit("/", 1)[-1]
        defaults = known[NODE_NAMES.get(name, "tracker_node")]  # "/**": the tracker's own files
        params = content["ros__parameters"]
        assert set(params) <= set(defaults), set(params) - set(defaults)
        for key, value in params.items():
            assert type(value) is type(defaults[key]), (
                f"{section} {key}: {value!r} vs default {defaults[key]!r}"
            )


def test_colcon_install_space_holds_the_package():
    share = INSTALL / "share" / "hit_tracker_ros"
    for path in (
        INSTALL / "lib" / "hit_tracker_ros" / "tracker_node",
        share / "launch" / "tracker.launch.py",
        share / "launch" / "follow.launch.py",
        share / "launch" / "mavlink_bridge.launch.py",
        share / "launch" / "web_operator.launch.py",
        share / "config" / "follow.yaml",
        share / "config" / "csrt.yaml",
        share / "package.xml",
    ):
        assert path.exists(), path
    for executable in ("tracker_node", "mavlink_bridge", "follow_controller", "web_operator"):
        assert os.access(INSTALL / "lib" / "hit_tracker_ros" / executable, os.X_OK), executable
    site = next((INSTALL / "lib").glob("python3*/site-packages/hit_tracker_ros"))
    assert (site / "msg" / "__init__.py").exists() and (site / "ros" / "tracker_node.py").exists()
    assert "extend_path" in (site / "__init__.py").read_text(), "our __init__ must replace the generated one"


def test_pip_install_without_ros(tmp_path):
    """`pip install .` gives a working core in an environment without ROS variables."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    script = (
        "import sys, hit_tracker_ros\n"
        "from hit_tracker_ros.core.synthetic import SyntheticScene\n"
        "s = SyntheticScene()\n"
        "t = hit_tracker_ros.build_tracker('csrt')\n"
        "t.initialize(s.frame(0), s.truth(0))\n"
        "r = t.track(s.frame(1))\n"
        "assert r.state == hit_tracker_ros.TrackState.TRACKING, r\n"
        "assert 'rclpy' not in sys.modules and 'torch' not in sys.modules\n"
        "print(hit_tracker_ros.__file__)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target), "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target))


@pytest.mark.ros
def test_running_node_declares_every_parameter(start_tracker):
    from rcl_interfaces.srv import ListParameters

    t = start_tracker()
    response = t.client.call(ListParameters, f"{t.node.name}/list_parameters", ListParameters.Request())
    assert PARAMETER_NAMES <= set(response.result.names)
