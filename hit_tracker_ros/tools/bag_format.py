"""Which rosbag2 metadata version the bags we write carry, so that the distro that plays them can
read them.

rosbag2 reads every metadata version up to its own and no newer one: Humble (rosbag2 0.15) was
written for version 5 and fails on version 9 metadata ("yaml-cpp: bad conversion", because version 9
stores `offered_qos_profiles` as a YAML list where version 4-8 store a string). We write version 5
by default, which Humble, Jazzy and Kilted all read; version 9 (what Jazzy and Kilted record) on
request. `rosbags` writes versions 8 and 9 only, so a version 5 bag is written as version 8 and its
metadata.yaml rewritten without the three fields versions 6-8 added. A reader older than a bag's
metadata can also rebuild metadata.yaml from the storage files: `ros2 bag reindex <bag> <storage>`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..core.files import atomic_write

# metadata version -> who reads it
BAG_VERSIONS = {
    5: "ROS 2 Humble (rosbag2 0.15) and every newer distro",
    9: "ROS 2 Jazzy (rosbag2 0.26), Kilted and newer only",
}
DEFAULT_BAG_VERSION = 5
_ADDED_AFTER_5 = ("custom_data", "ros_distro")  # versions 6 and 8
_TOPIC_ADDED_AFTER_5 = ("type_description_hash",)  # version 7


def check_bag_version(version: int) -> int:
    if version not in BAG_VERSIONS:
        readers = "; ".join(f"{v}: {who}" for v, who in BAG_VERSIONS.items())
        raise ValueError(f"rosbag2 metadata version {version} is not written here; choose {readers}")
    return version


def writer_version(version: int) -> int:
    """The version `rosbags` writes for a requested metadata version."""
    return 8 if check_bag_version(version) == 5 else version


def finish_metadata(bag: str | Path, version: int) -> None:
    """After the writer closed: give metadata.yaml the requested version."""
    if check_bag_version(version) != 5:
        return
    path = Path(bag) / "metadata.yaml"
    document = yaml.safe_load(path.read_text())
    info = document["rosbag2_bagfile_information"]
    info["version"] = 5
    for key in _ADDED_AFTER_5:
        info.pop(key, None)
    for topic in info["topics_with_message_count"]:
        for key in _TOPIC_ADDED_AFTER_5:
            topic["topic_metadata"].pop(key, None)
    atomic_write(path, yaml.safe_dump(document, sort_keys=False, default_flow_style=False).encode())
