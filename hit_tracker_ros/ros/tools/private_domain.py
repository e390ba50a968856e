"""One private DDS domain per run for the tests, the demo and the tools: a ROS_DOMAIN_ID reserved
for this process on this host, and localhost-only discovery, so runs beside each other (two CI
jobs, a demo beside the tests, or a robot) never hear each other.

A random pick alone is not enough: two runs on one host can draw the same id (a CI run once
answered another run's tracker). As ROS's domain_coordinator does, each id in 101..200 is reserved
by a lock held for the life of the process (here an advisory file lock per id, released by the
kernel when the process ends, however it ends); the processes a run starts inherit its
ROS_DOMAIN_ID through the environment. A run that finds every id taken fails with the reason.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path
from typing import IO

DOMAINS = range(101, 201)
LOCKS = Path(os.environ.get("HTR_DOMAIN_LOCKS") or Path(tempfile.gettempdir()) / "hit_tracker_ros-domains")
_held: dict[int, IO] = {}  # the locks this process holds, open for its lifetime


class NoFreeDomainError(RuntimeError):
    """Every domain id of the private range is reserved by another run on this host."""


def take_host_lock(path: Path) -> IO | None:
    """The advisory lock `path` for this process (held while the returned file stays open, and
    released by the kernel when the process ends); None when another process holds it. The
    domain ids use it, and the tests for the README's fixed web port."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path, "w")  # noqa: SIM115 - the caller holds it open
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def reserve(domain: int) -> bool:
    """Take the lock of `domain` for this process; False when another process holds it."""
    if domain not in _held:
        lock = take_host_lock(LOCKS / f"{domain}.lock")
        if lock is None:
            return False
        _held[domain] = lock
    return True


def use_private_domain(variable: str = "HTR_DOMAIN_ID") -> int:
    """Reserve a domain (the one `variable` names, else a free one of 101..200, tried in random
    order) and set ROS_DOMAIN_ID and localhost-only discovery before rclpy starts."""
    wanted = os.environ.get(variable)
    if wanted:
        domain = int(wanted)
        if not reserve(domain):
            raise NoFreeDomainError(
                f"ROS_DOMAIN_ID {domain} ({variable}) is reserved by another run on this host"
            )
    else:
        candidates = random.SystemRandom().sample(list(DOMAINS), len(DOMAINS))
        domain = next((d for d in candidates if reserve(d)), -1)
        if domain < 0:
            raise NoFreeDomainError(
                f"every ROS_DOMAIN_ID in {DOMAINS.start}..{DOMAINS.stop - 1} is reserved by another run on "
                f"this host (locks in {LOCKS}): wait for one to end, or set {variable}"
            )
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if os.environ.get("ROS_DISTRO") == "humble":  # Humble predates the variable above
        os.environ["ROS_LOCALHOST_ONLY"] = "1"
    return domain
