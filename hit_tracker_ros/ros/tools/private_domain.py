"""One private DDS domain per run for demos, benchmarks and tools: a random ROS_DOMAIN_ID and
localhost-only discovery, so runs beside each other (or beside a robot) never hear each other."""

from __future__ import annotations

import os
import random


def use_private_domain(variable: str = "HTR_DOMAIN_ID") -> int:
    """Set ROS_DOMAIN_ID (from `variable` when set, else random in 101..200) before rclpy starts."""
    domain = int(os.environ.get(variable) or random.SystemRandom().randint(101, 200))
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if os.environ.get("ROS_DISTRO") == "humble":  # Humble predates the variable above
        os.environ["ROS_LOCALHOST_ONLY"] = "1"
    return domain
