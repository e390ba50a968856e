"""A synthetic camera on a topic (tests, benchmarks, the demo): images as sensor_msgs/Image,
published at a rate from their own thread with the truth of each frame remembered."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
from sensor_msgs.msg import Image

from hit_tracker_ros.msg import TrackerStatus

from ...core.images import encode_raw
from ..conversions import ns_to_time, stamp_to_ns
from .dds_client import Client


def make_image(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "camera") -> Image:
    """An RGB frame as sensor_msgs/Image in `encoding`."""
    msg = Image()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding = encoding
    data, msg.step = encode_raw(rgb, encoding)
    msg.data = data
    return msg


class SceneCamera:
    """A camera for tests and benchmarks: publishes a synthetic scene on `topic` at `rate_hz`
    from its own thread, stamped with the wall clock, and remembers the truth it showed, by stamp
    and by the (monotonic) time it was shown."""

    def __init__(self, client: Client, topic: str, scene, rate_hz: float = 30.0) -> None:
        self.client, self.topic, self.scene, self.period = client, topic, scene, 1.0 / rate_hz
        self._shown: list[tuple[float, int, np.ndarray]] = []  # (shown at, stamp, truth)
        self._by_stamp: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        client.advertise(topic, Image)
        client.wait_for_subscribers(topic)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            k, stamp = i % len(self.scene), time.time_ns()
            truth = self.scene.truth(k)
            with self._lock:  # before publishing: a status may come back before we return
                self._shown.append((time.monotonic(), stamp, truth))
                self._by_stamp[stamp] = truth
            self.client.publish(self.topic, make_image(self.scene.frame(k), stamp))
            i += 1
            self._stop.wait(self.period)

    def newest(self) -> np.ndarray:
        """The truth box of the newest frame published."""
        with self._lock:
            return self._shown[-1][2]

    def truth_at(self, t: float) -> np.ndarray:
        """The truth box of the newest frame shown at or before monotonic time `t`."""
        with self._lock:
            return next(box for shown, _, box in reversed(self._shown) if shown <= t)

    def truth_at_tracker(self, statuses: Sequence[TrackerStatus]) -> np.ndarray:
        """The truth box of the newest frame a tracker has reported on (`statuses`, oldest
        first): what a command without a stamp (MAVLink's) is applied to, give or take a frame.
        The newest frame published can be many frames ahead of it on a loaded machine, and a box
        from that frame can miss the target."""
        for status in reversed(statuses):
            stamp = stamp_to_ns(status.header.stamp)
            with self._lock:
                box = self._by_stamp.get(stamp)
            if box is not None:
                return box
        return self.newest()

    def truth_of(self, stamp_ns: int) -> np.ndarray:
        """The truth box of the frame stamped `stamp_ns`."""
        with self._lock:
            return self._by_stamp[stamp_ns]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
