"""Every launch file started for real by upstream `launch_test` (launch_testing), with the arguments
users pass; the checks themselves live in test/launch/launch_files_launchtest.py."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTION = ROOT / "test" / "launch" / "launch_files_launchtest.py"
NO_TOOLS = (
    "needs launch_testing and the ros2 CLI, which scripts/setup installs from ../shared/ros2_python "
    "(absent here)"
)
pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(shutil.which("launch_test") is None, reason=NO_TOOLS),
]


def launch_cases() -> list:
    if shutil.which("launch_test") is None:
        return []
    spec = importlib.util.spec_from_file_location("launch_files_launchtest", DESCRIPTION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cases()


CASES = launch_cases()


def test_every_launch_file_is_launched_with_its_arguments():
    """Each launch file has a case, and together the cases pass every argument that changes what
    runs where (namespace, compressed, params_file, links, ports)."""
    launched = {case.launch_file for case in CASES}
    assert launched == {p.name for p in (ROOT / "launch").glob("*.launch.py")}
    for launch_file in launched:
        passed = set().union(*(case.arguments for case in CASES if case.launch_file == launch_file))
        assert "namespace" in passed, launch_file
    tracker_args = set().union(*(c.arguments for c in CASES if c.launch_file == "tracker.launch.py"))
    assert {"compressed", "params_file", "image_topic", "node_name"} <= tracker_args


@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_launch_file(case, tmp_path):
    report = tmp_path / "launch_test.xml"
    env = dict(os.environ, HTR_LAUNCH_CASE=case, ROS_LOG_DIR=str(tmp_path / "ros_log"))
    result = subprocess.run(
        ["launch_test", str(DESCRIPTION), "--junit-xml", str(report)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    suites = ET.parse(report).getroot()
    ran = [tc.get("name") for tc in suites.iter("testcase")]
    problems = [tc.get("name") for tc in suites.iter("testcase") if len(tc)]  # failure/error/skipped
    assert len(ran) == 6 and not problems, (ran, problems, output[-4000:])
