"""The tracker node's scheduling rules (core.tracking_loop) without DDS: frames, init requests,
targets, catch-up, removals, stop, clock resets and the counters, driven synchronously
(`run_pending`) with a deterministic tracker; the worker thread once, waiting on its output."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from hit_tracker_ros.core.images import ImageDecodeError
from hit_tracker_ros.core.session import new_track_id
from hit_tracker_ros.core.targets import TargetLimitError, TargetSet
from hit_tracker_ros.core.tracker import Tracker
from hit_tracker_ros.core.tracking_loop import Frame, InitRequest, TrackingLoop
from hit_tracker_ros.core.types import TrackState

BASE_NS = 1_700_000_000_000_000_000
PERIOD_NS = 33_333_333


class Step(Tracker):
    """Moves its box 1 px right per frame; score 0.9 (0.1 on frames whose first pixel is 1)."""

    def _initialize(self, frame, box) -> None:
        self.box = np.asarray(box, dtype=np.float64)

    def _track(self, frame, timer):
        self.box = self.box + [1.0, 0.0, 0.0, 0.0]
        return self.box, 0.1 if frame[0, 0, 0] == 1 else 0.9


def image(value: int = 0) -> np.ndarray:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[0, 0, 0] = value
    return rgb


def decode(msg):
    """A message is an RGB array, or None for an undecodable one."""
    if msg is None:
        raise ImageDecodeError("undecodable test frame")
    return msg


class Rig:
    def __init__(self, max_targets: int = 1, cache_size: int = 30) -> None:
        self.published: list[tuple[int, dict]] = []
        self.logs: list[tuple[str, str]] = []
        self.loop = TrackingLoop(
            TargetSet(Step(), max_targets),
            decode,
            lambda frame, rgb, outcomes: self.published.append((frame.stamp_ns, dict(outcomes))),
            cache_size,
            lambda level, text: self.logs.append((level, text)),
        )
        self.i = 0

    def frame(self, msg="ok", stamp_ns: int | None = None) -> Frame:
        stamp = BASE_NS + self.i * PERIOD_NS if stamp_ns is None else stamp_ns
        self.i += 1
        frame = Frame(image() if msg == "ok" else msg, stamp, 0.0)
        self.loop.push(frame)
        return frame

    def init(
        self, frame: Frame, box=(10, 10, 8, 8), label: str = "", track_id: str = "", **kw
    ) -> InitRequest:
        request = InitRequest(frame, np.array(box, float), label, track_id or new_track_id(), **kw)
        self.loop.submit_init(request)
        return request

    def last(self) -> dict:
        return self.published[-1][1]


def test_a_slow_worker_tracks_the_newest_frame_and_counts_the_dropped():
    rig = Rig()
    first = rig.frame()
    rig.init(first)
    rig.loop.run_pending()
    for _ in range(3):
        rig.frame()
    rig.loop.run_pending()
    counters = rig.loop.counters
    assert [stamp for stamp, _ in rig.published] == [first.stamp_ns, BASE_NS + 3 * PERIOD_NS]
    assert counters.received == 4 and counters.dropped == 2 and counters.processed == 2


def test_with_one_target_the_last_init_wins():
    rig = Rig()
    frame = rig.frame()
    rig.init(frame, box=(1, 1, 8, 8), label="first")
    rig.init(frame, box=(20, 20, 8, 8), label="second")
    rig.loop.run_pending()
    (outcome,) = rig.last().values()
    assert outcome.label == "second" and outcome.box[0] == pytest.approx(21)  # one step from 20
    assert rig.loop.counters.init_superseded == 1


def test_several_targets_replace_their_own_requests_and_need_a_free_place():
    rig = Rig(max_targets=2)
    frame = rig.frame()
    a = rig.init(frame, label="a")
    rig.init(frame, label="a again", track_id=a.track_id)  # replaces a's queued request
    rig.init(frame, label="b")
    with pytest.raises(TargetLimitError, match="all 2 targets are tracked"):
        rig.init(frame, label="c")  # the queued new targets hold both places
    rig.loop.run_pending()
    assert sorted(o.label for o in rig.last().values()) == ["a again", "b"]
    assert rig.loop.counters.init_superseded == 1
    with pytest.raises(TargetLimitError):
        rig.init(rig.frame(), label="d")
    rig.init(rig.frame(), box=(30, 30, 8, 8), track_id=a.track_id, existing=True)  # re-init: no new place
    rig.loop.run_pending()
    assert rig.last()[a.track_id].box[0] == pytest.approx(31)  # re-initialized at 30, one step


def test_an_init_on_an_older_frame_catches_up_through_the_cached_frames():
    rig = Rig()
    frames = [rig.frame() for _ in range(5)]
    rig.loop.run_pending()  # processes the newest (no target yet)
    rig.init(frames[1], box=(10, 10, 8, 8))
    rig.loop.run_pending()  # init on frame 1, then silently frames 2..4 (already published)
    rig.frame()
    rig.loop.run_pending()
    (outcome,) = rig.last().values()
    assert outcome.frames_tracked == 4  # 3 caught up + this one
    assert outcome.box[0] == pytest.approx(14)
    assert any("caught up over 3 frames" in text for _, text in rig.logs)


def test_stop_drops_queued_inits_and_a_removal_drops_that_targets_request():
    rig = Rig(max_targets=3)
    frame = rig.frame()
    a, b = rig.init(frame, label="a"), rig.init(frame, label="b")
    rig.loop.run_pending()
    rig.init(rig.frame(), label="a moved", track_id=a.track_id, existing=True)
    rig.loop.request_remove(a.track_id)
    rig.loop.run_pending()
    assert list(rig.last()) == [b.track_id]
    rig.init(rig.frame(), label="c")
    rig.loop.request_stop("stopped by ~/stop")
    rig.loop.run_pending()
    assert rig.last() == {} and rig.loop.targets.ids() == []
    with pytest.raises(LookupError):
        rig.loop.request_remove("nonexistent")


def test_a_clock_reset_stops_every_track_and_drops_queued_inits():
    rig = Rig()
    first = rig.frame()
    rig.init(first)
    rig.loop.run_pending()
    rig.init(first, label="queued")
    rig.frame(stamp_ns=BASE_NS - 10 * 10**9)  # held: an outlier or a reset?
    rig.frame(stamp_ns=BASE_NS - 10 * 10**9 + PERIOD_NS)  # continues the new timeline: a reset
    rig.loop.run_pending()
    assert rig.loop.counters.clock_resets == 1
    assert len(rig.published) == 3  # both frames of the new timeline, with no track
    assert all(o.state == TrackState.IDLE for _, outcomes in rig.published[1:] for o in outcomes.values())
    assert rig.loop.targets.primary.state == TrackState.IDLE


def test_an_undecodable_frame_is_refused_and_the_track_goes_on():
    rig = Rig()
    rig.init(rig.frame())
    rig.loop.run_pending()
    rig.frame(msg=None)
    rig.loop.run_pending()
    rig.frame()
    rig.loop.run_pending()
    (outcome,) = rig.last().values()
    assert outcome.state == TrackState.TRACKING and outcome.frames_tracked == 2
    assert rig.loop.counters.rejected == 1 and rig.loop.last_error.startswith("image rejected")


def test_an_init_on_an_undecodable_frame_fails_with_the_reason():
    rig = Rig()
    bad = rig.frame(msg=None)
    rig.init(bad)
    rig.loop.run_pending()
    assert rig.loop.counters.init_failed == 1
    assert any(
        level == "error" and "could not start on the frame stamped" in text for level, text in rig.logs
    )


def test_the_counters_have_their_diagnostics_names():
    names = Rig().loop.counters.diagnostics()
    assert {"frames_received", "dropped_frames", "rejected_frames", "init_superseded"} <= set(names)
    assert {"handoff_ignored_while_tracking", "reacquired_by_detector"} <= set(names)


def test_the_worker_thread_publishes_and_halt_ends_the_tracks():
    published = threading.Event()
    rig = Rig()
    rig.loop._publish = lambda frame, rgb, outcomes: published.set()
    rig.loop.start()
    try:
        rig.init(rig.frame())
        assert published.wait(10.0)
    finally:
        rig.loop.halt("deactivated")
    assert rig.loop.targets.primary.state == TrackState.IDLE
    assert rig.loop.targets.primary.message == "deactivated"
