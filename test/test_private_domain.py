"""A private ROS domain per run, reserved across every process on the host (the domain id of
another run is never drawn), and two test sessions started at once on one host that pass and
never hear each other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hit_tracker_ros.ros.tools import private_domain

ROOT = Path(__file__).resolve().parents[1]
HOLD = (
    "import sys, time\n"
    "from hit_tracker_ros.ros.tools import private_domain as p\n"
    "ids = [int(a) for a in sys.argv[1:]]\n"
    "assert all(p.reserve(d) for d in ids)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"  # hold until the test closes our stdin
)


def hold(domains, env) -> subprocess.Popen:
    """Another process on this host that holds `domains` until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, *map(str, domains)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


TRY = (
    "import sys\n"
    "from hit_tracker_ros.ros.tools import private_domain as p\n"
    "p.DOMAINS = range(101, 104)\n"
    "try:\n"
    "    print(p.use_private_domain())\n"
    "except p.NoFreeDomainError as exc:\n"
    "    print(exc)\n"
)


def try_to_reserve(env) -> str:
    """What another process of this host gets from use_private_domain (domains 101..103)."""
    return subprocess.run([sys.executable, "-c", TRY], env=env, capture_output=True, text=True).stdout.strip()


def test_a_domain_another_process_holds_is_never_drawn(tmp_path, monkeypatch):
    env = {**os.environ, "HTR_DOMAIN_LOCKS": str(tmp_path)}
    env.pop("HTR_DOMAIN_ID", None)
    monkeypatch.setattr(private_domain, "LOCKS", tmp_path)
    monkeypatch.setattr(private_domain, "_held", {})
    monkeypatch.setattr(private_domain, "DOMAINS", range(101, 104))
    monkeypatch.delenv("HTR_DOMAIN_ID", raising=False)
    monkeypatch.setenv("ROS_DOMAIN_ID", os.environ.get("ROS_DOMAIN_ID", "0"))
    other = hold([101, 103], env)
    try:
        assert private_domain.use_private_domain() == 102  # the one nobody holds
        assert os.environ["ROS_DOMAIN_ID"] == "102"
        assert "every ROS_DOMAIN_ID in 101..103 is reserved by another run" in try_to_reserve(env)
        assert "ROS_DOMAIN_ID 101 (HTR_DOMAIN_ID) is reserved" in try_to_reserve(
            {**env, "HTR_DOMAIN_ID": "101"}
        )
    finally:
        other.stdin.close()
        other.wait(timeout=10)
    assert try_to_reserve(env) in ("101", "103"), "released when the other process ended"


@pytest.mark.ros
def test_two_test_sessions_at_once_pass_and_never_hear_each_other(tmp_path):
    """As two CI jobs on one machine: both sessions start a tracker named /hit_tracker at the same
    time; each reserves its own domain and hears only its own node."""
    sessions = []
    for i in range(2):
        env = {**os.environ, "HTR_PROBE_OUT": str(tmp_path / f"domain{i}")}
        env.pop("ROS_DOMAIN_ID", None)
        env.pop("HTR_DOMAIN_ID", None)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/concurrent_probe.py"]
        sessions.append(
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [s.communicate(timeout=300)[0] for s in sessions]
    for session, output in zip(sessions, outputs, strict=True):
        assert session.returncode == 0, output
    domains = {(tmp_path / f"domain{i}").read_text() for i in range(2)}
    assert len(domains) == 2, domains
