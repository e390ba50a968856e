"""A bounded fuzz run of the node over DDS (seeded, well under a minute): malformed raw and
compressed frames, hostile init requests and detector hand-offs between good frames. The node
must answer every request with a reason, keep every accepted init, stay within its memory and
pixel budgets and account for every frame it received."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hit_tracker_ros.msg import TrackerStatus
from malformed import jpeg_declaring, png_bomb, png_declaring, small_jpeg
from ros_harness import frame_stamp_ns, make_bbox, make_image, ns_to_time
from sensor_msgs.msg import CompressedImage, Image
from test_node_hardening import rss_mb
from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

from hit_tracker_ros.core.images import SUPPORTED_ENCODINGS
from hit_tracker_ros.core.synthetic import SyntheticScene

pytestmark = pytest.mark.ros

SCENE = SyntheticScene()
ROUNDS = 120
PNG_BOMB = png_bomb(20000, 20000)
MAX_STAMP = (2**31 - 1) * 10**9  # builtin_interfaces/Time.sec is int32
BUDGET = 4096 * 2160  # a small budget, so that big-but-valid frames are refused too


class Fuzzer:
    """Hostile inputs drawn from one seeded generator (a failure names its seed and round)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choice(self, items):
        return items[int(self.rng.integers(len(items)))]

    def number(self) -> float:
        return float(
            self.choice([math.nan, math.inf, -math.inf, 0.0, -1.0, 1e9, -1e9, 2.0, 3.0, 0.5])
            if self.rng.random() < 0.5
            else self.rng.uniform(-400, 700)
        )

    def box(self) -> list[float]:
        return [self.number() for _ in range(4)]

    def stamp(self, good_ns: int) -> int:
        """A stamp for a request: the newest frame (0), a cached one, or one that is not cached."""
        return int(self.choice([0, good_ns, good_ns + int(self.rng.integers(-3, 3) * 1e9), 1, MAX_STAMP]))

    def frame_stamp(self, grid_ns: int) -> int:
        """Mostly the camera's next stamp; sometimes a wild one (the stamp policy's outliers)."""
        if self.rng.random() < 0.1:
            return int(np.clip(grid_ns + int(self.rng.normal(0, 5e9)), 1, MAX_STAMP))
        return grid_ns

    def raw_image(self, stamp_ns: int) -> Image:
        msg = Image()
        msg.header.stamp = ns_to_time(stamp_ns)
        msg.encoding = str(self.choice([*SUPPORTED_ENCODINGS, "bayer_rggb8", "", "32FC1", "rgb8"]))
        msg.width = int(self.choice([0, 1, 2, 3, 64, 320, 30000, 2**31]))
        msg.height = int(self.choice([0, 1, 2, 48, 240, 30000]))
        bpp = int(self.rng.integers(0, 5))
        msg.step = min(int(msg.width * bpp + self.rng.integers(-2, 3)) % 2**32, 2**32 - 1)
        size = (
            min(msg.height * msg.step, 300_000)
            if self.rng.random() < 0.6
            else int(self.rng.integers(0, 5000))
        )
        msg.data = self.rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        msg.is_bigendian = int(self.rng.integers(0, 2))
        return msg

    def compressed_image(self, stamp_ns: int) -> CompressedImage:
        kind = int(self.rng.integers(0, 6))
        if kind == 0:
            data = self.rng.integers(0, 256, size=int(self.rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        elif kind == 1:
            data = small_jpeg(64)[: int(self.rng.integers(0, 800))]
        elif kind == 2:
            data = bytearray(small_jpeg(64))
            for pos in self.rng.integers(0, len(data), size=8):
                data[pos] = int(self.rng.integers(0, 256))
            data = bytes(data)
        elif kind == 3:
            data = jpeg_declaring(int(self.rng.integers(1, 65535)), int(self.rng.integers(1, 65535)))
        elif kind == 4:
            data = png_declaring(int(self.rng.integers(1, 2**31)), int(self.rng.integers(1, 2**31)))
        else:
            data = PNG_BOMB
        msg = CompressedImage(format=str(self.choice(["jpeg", "png", "", "rgb8; jpeg compressed bgr8"])))
        msg.data = data
        msg.header.stamp = ns_to_time(stamp_ns)
        return msg

    def detection(self, stamp_ns: int) -> Detection2D:
        det = Detection2D()
        det.header.stamp = ns_to_time(stamp_ns)
        det.bbox = make_bbox(np.nan_to_num(self.box(), nan=1.0, posinf=1e9, neginf=-1e9))
        det.bbox.center.theta = float(self.choice([0.0, 0.0, 1e-12, math.nan, 0.5]))
        if self.rng.random() < 0.5:
            hypothesis = ObjectHypothesisWithPose()
            hypothesis.hypothesis.class_id = "x" * int(self.rng.integers(0, 300))
            det.results = [hypothesis]
        return det


def good_frame(i: int, compressed: bool) -> Image | CompressedImage:
    if not compressed:
        return make_image(SCENE.frame(i % len(SCENE)), frame_stamp_ns(i))
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(SCENE.frame(i % len(SCENE)), cv2.COLOR_RGB2BGR))
    msg = CompressedImage(format="jpeg", data=jpeg.tobytes())
    msg.header.stamp = ns_to_time(frame_stamp_ns(i))
    return msg


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "compressed"])
def test_fuzzed_inputs_never_break_the_node(start_tracker, compressed):
    t = start_tracker(
        use_compressed=compressed,
        image_qos_reliability="reliable",
        image_qos_depth=100,
        max_image_pixels=BUDGET,
        diagnostics_period=0.2,
    )
    fuzz = Fuzzer(seed=11 if compressed else 5)
    hand_off = f"{t.node.name}/init_detection"
    t.client.advertise(hand_off, Detection2D)
    i = 0
    t.send_and_wait(good_frame(i, compressed))
    rss = []
    accepted = refused = 0
    for round_ in range(ROUNDS):
        where = f"round {round_}"
        if round_ % 10 == 0:
            rss.append(rss_mb(t.node.process.pid))
        for _ in range(int(fuzz.rng.integers(1, 5))):
            i += 1  # every frame takes the next slot of a 30 Hz camera's timeline
            stamp = fuzz.frame_stamp(frame_stamp_ns(i))
            t.publish_image(fuzz.compressed_image(stamp) if compressed else fuzz.raw_image(stamp))
            if fuzz.rng.random() < 0.3:
                t.client.publish(hand_off, fuzz.detection(fuzz.stamp(frame_stamp_ns(i))))
        i += 1
        t.send_and_wait(good_frame(i, compressed), timeout=20)
        theta = float(fuzz.choice([0.0, 1e-12, 0.3]))
        response = t.init(fuzz.box(), fuzz.stamp(frame_stamp_ns(i)), theta=theta)
        assert response.message, where
        i += 1
        status = t.send_and_wait(good_frame(i, compressed), timeout=20)
        if response.success:
            accepted += 1
            assert status.track_id == response.track_id, f"{where}: accepted init never tracked"
            assert status.state != TrackerStatus.IDLE, f"{where}: {status.message}"
        else:
            refused += 1
            assert response.track_id == "", where
        assert (status.image_width, status.image_height) == (SCENE.config.width, SCENE.config.height)
    assert accepted and refused, (accepted, refused)
    assert t.node.alive(), t.node.log()
    rss.append(rss_mb(t.node.process.pid))
    print("RSS", [round(r) for r in rss])
    # the first rounds fill DDS history, the frame cache and allocator pools; then no growth
    assert rss[-1] - rss[len(rss) // 2] < 50, rss
    diag = t.diagnostics()
    counted = sum(
        int(diag[key])
        for key in (
            "frames_processed",
            "dropped_frames",
            "rejected_frames",
            "out_of_order_frames",
            "stamp_outliers",
        )
    )
    assert counted == int(diag["frames_received"]), diag
    # a fuzzed frame is refused, or superseded by a newer one while the worker is busy (the
    # fuzzer publishes them back to back): never tracked
    rejected, superseded = int(diag["rejected_frames"]), int(diag["dropped_frames"])
    assert rejected > ROUNDS // 4 and rejected + superseded > ROUNDS, diag
