"""Result bags carry metadata the distro that plays them can read: version 5 by default (Humble's
rosbag2 0.15 and every newer one), version 9 on request (Jazzy and newer). The field sets and the
kinds below are those of rosbag2's own readers (humble: rosbag2_storage/src/rosbag2_storage/
metadata_io.cpp; jazzy/rolling: rosbag2_storage/include/rosbag2_storage/yaml.hpp)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from hit_tracker_ros.core.session import StepOutcome
from hit_tracker_ros.core.status import status_fields
from hit_tracker_ros.core.types import TrackState
from hit_tracker_ros.tools.bag_format import DEFAULT_BAG_VERSION, check_bag_version
from hit_tracker_ros.tools.bags import BagFrame, ResultBagWriter, read_frames, write_image_bag

BAG = {"version", "storage_identifier", "duration", "starting_time", "message_count"}
BAG |= {"topics_with_message_count", "relative_file_paths", "compression_format", "compression_mode"}
FIELDS = {
    # version 5: compression fields since 3, files since 5 (Humble writes and reads exactly this)
    5: (BAG | {"files"}, {"name", "type", "serialization_format", "offered_qos_profiles"}),
    # version 9: custom_data (6), type_description_hash (7), ros_distro (8), QoS as a YAML list (9)
    9: (
        BAG | {"files", "custom_data", "ros_distro"},
        {"name", "type", "serialization_format", "offered_qos_profiles", "type_description_hash"},
    ),
}
FILE = {"path", "starting_time", "duration", "message_count"}
QOS = {"history", "depth", "reliability", "durability", "deadline", "lifespan", "liveliness"}
QOS |= {"liveliness_lease_duration", "avoid_ros_namespace_conventions"}


def humble_reads(info: dict) -> None:
    """What Humble's rosbag2 (0.15) does with metadata.yaml, kind by kind: yaml-cpp's `as<T>()`
    throws "bad conversion" where a field has another kind."""

    def scalar(node, what: str):
        if isinstance(node, (dict, list)) or node is None:
            raise ValueError(f"yaml-cpp: bad conversion ({what})")
        return node

    version = int(scalar(info["version"], "version"))
    scalar(info["storage_identifier"], "storage_identifier")
    int(scalar(info["duration"]["nanoseconds"], "duration"))
    int(scalar(info["starting_time"]["nanoseconds_since_epoch"], "starting_time"))
    int(scalar(info["message_count"], "message_count"))
    for topic in info["topics_with_message_count"]:
        meta = topic["topic_metadata"]
        for key in ("name", "type", "serialization_format"):
            scalar(meta[key], key)
        if version >= 4:
            qos = scalar(meta["offered_qos_profiles"], "offered_qos_profiles")
            if qos:  # parsed when the bag is played (rosbag2_transport)
                for profile in yaml.safe_load(qos):
                    assert set(profile) == QOS
                    assert all(isinstance(profile[k], int) for k in ("history", "reliability", "durability"))
        int(scalar(topic["message_count"], "message_count"))
    assert all(isinstance(p, str) for p in info["relative_file_paths"])
    if version >= 3:
        scalar(info["compression_format"] or "", "compression_format")
        scalar(info["compression_mode"] or "", "compression_mode")
    if version >= 5:
        for f in info["files"]:
            assert set(f) == FILE


def results_bag(path, version: int, storage: str):
    writer = ResultBagWriter(path, storage=storage, version=version)
    for i in range(3):
        stamp = 1_700_000_000_000_000_000 + i
        frame = BagFrame(
            i, stamp, stamp, "camera", np.zeros((4, 4, 3), np.uint8), "sensor_msgs/msg/Image", b""
        )
        outcome = StepOutcome(
            TrackState.TRACKING, np.array([1.0, 2.0, 3.0, 4.0]), 0.9, "1", "car", i + 1, 0, ""
        )
        writer.write(frame, outcome, status_fields(outcome, (4, 4), 0.25, "csrt", "opencv", 1.0))
    writer.close()
    return path


def metadata(path) -> dict:
    return yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("version", sorted(FIELDS))
def test_result_bag_metadata_has_exactly_the_fields_of_its_version(tmp_path, version, storage):
    info = metadata(results_bag(tmp_path / "results", version, storage))
    top, topic_fields = FIELDS[version]
    assert info["version"] == version and set(info) == top
    assert info["storage_identifier"] == storage and info["message_count"] == 6
    for topic in info["topics_with_message_count"]:
        assert set(topic["topic_metadata"]) == topic_fields and topic["message_count"] == 3
    assert [set(f) for f in info["files"]] == [FILE]
    assert info["files"][0]["path"] == info["relative_file_paths"][0]
    assert info["files"][0]["message_count"] == 6
    qos = [t["topic_metadata"]["offered_qos_profiles"] for t in info["topics_with_message_count"]]
    if version == 5:
        # a string holding the QoS list, enums as numbers (as Humble writes it): reliable, volatile
        profiles = [yaml.safe_load(q) for q in qos]
        assert all((p[0]["reliability"], p[0]["durability"], p[0]["depth"]) == (1, 2, 10) for p in profiles)
    else:
        assert all(q[0]["reliability"] == "reliable" and q[0]["durability"] == "volatile" for q in qos)
    # and the bag reads back, messages and all
    with Reader(tmp_path / "results") as reader:
        assert reader.message_count == 6
        assert sorted(c.topic for c in reader.connections) == [
            "/hit_tracker/detections",
            "/hit_tracker/status",
        ]


def test_humble_reads_the_default_and_not_the_newest(tmp_path):
    """The users' report, reproduced: version 9 metadata is a "bad conversion" for Humble's
    reader; the default (version 5) is not."""
    assert DEFAULT_BAG_VERSION == 5
    humble_reads(metadata(results_bag(tmp_path / "v5", 5, "mcap")))
    with pytest.raises(ValueError, match="bad conversion"):
        humble_reads(metadata(results_bag(tmp_path / "v9", 9, "mcap")))


@pytest.mark.parametrize("version", sorted(FIELDS))
def test_camera_bags_use_the_same_versions_and_replay(tmp_path, version):
    frames = [np.full((8, 8, 3), i, np.uint8) for i in range(3)]
    bag = write_image_bag(tmp_path / "camera", frames, [10, 20, 30], version=version)
    assert metadata(bag)["version"] == version
    count, read = read_frames(bag, "/camera/image_raw")
    assert count == 3 and [f.rgb[0, 0, 0] for f in read] == [0, 1, 2]


def test_other_versions_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="5: ROS 2 Humble"):
        check_bag_version(8)
