"""The ROS-free pieces between tracker and operator: bearings from a calibrated camera, the
choice of a detection to hand off, and the LOST policy (hysteresis, max_lost_frames, re-acquire)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from hit_tracker_ros.core.bearing import CameraModel, CameraModelError
from hit_tracker_ros.core.handoff import Candidate, HandoffPolicy, choose
from hit_tracker_ros.core.session import TrackingSession
from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene
from hit_tracker_ros.core.types import TrackState
from hit_tracker_ros.trackers.csrt import CsrtTracker

K = [500.0, 0.0, 320.0, 0.0, 480.0, 240.0, 0.0, 0.0, 1.0]
P = [400.0, 0.0, 330.0, 0.0, 0.0, 400.0, 250.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def _expected(x: float, y: float) -> tuple[float, float]:
    """Azimuth and elevation of the ray (x, y, 1) in the optical frame."""
    return math.atan2(x, 1.0), math.atan2(y, math.hypot(x, 1.0))


def test_pinhole_bearing_and_signs():
    camera = CameraModel.from_camera_info(640, 480, K, [0] * 5, "plumb_bob")
    assert camera.bearing(320, 240) == pytest.approx((0.0, 0.0))
    right_low = camera.bearing(420, 288)  # right of and below the principal point
    assert right_low == pytest.approx(_expected(100 / 500, 48 / 480))
    assert right_low[0] > 0 and right_low[1] > 0


@pytest.mark.parametrize(
    ("model", "d"),
    [
        ("plumb_bob", [-0.3, 0.12, 0.001, -0.002, -0.02]),
        ("rational_polynomial", [0.2, -0.1, 0.001, 0.001, 0.01, 0.3, -0.05, 0.02]),
        ("equidistant", [0.05, -0.01, 0.002, -0.001]),
    ],
)
def test_distortion_is_undone(model, d):
    """A ray projected through the distorted lens comes back as the same bearing."""
    camera = CameraModel.from_camera_info(640, 480, K, d, model)
    ray = np.array([[[0.35, -0.22, 1.0]]])
    kmat = np.array(K).reshape(3, 3)
    if model == "equidistant":
        pixel, _ = cv2.fisheye.projectPoints(ray, np.zeros(3), np.zeros(3), kmat, np.array(d))
    else:
        pixel, _ = cv2.projectPoints(ray, np.zeros(3), np.zeros(3), kmat, np.array(d))
    u, v = pixel.reshape(2)
    assert camera.bearing(u, v) == pytest.approx(_expected(0.35, -0.22), abs=1e-5)
    pinhole = CameraModel.from_camera_info(640, 480, K, [], "")
    assert abs(pinhole.bearing(u, v)[0] - _expected(0.35, -0.22)[0]) > 1e-3, "distortion matters here"


def test_zoom_moves_the_bearing_not_the_pixels():
    wide = CameraModel.from_camera_info(640, 480, K, [], "plumb_bob")
    zoomed_k = list(K)
    zoomed_k[0] = zoomed_k[4] = 2000.0
    zoomed = CameraModel.from_camera_info(640, 480, zoomed_k, [], "plumb_bob")
    assert zoomed.bearing(420, 240)[0] == pytest.approx(wide.bearing(420, 240)[0] / 4, rel=0.02)


def test_rectified_images_use_p_binning_and_roi_map_pixels():
    rectified = CameraModel.from_camera_info(
        640, 480, K, [-0.3, 0.1, 0, 0, 0], "plumb_bob", p=P, rectified=True
    )
    assert rectified.bearing(330, 250) == pytest.approx((0.0, 0.0))
    binned = CameraModel.from_camera_info(640, 480, K, [], "", binning=(2, 2))
    assert binned.image_size == (320, 240)
    assert binned.bearing(210, 144) == pytest.approx(_expected(100 / 500, 48 / 480))
    roi = CameraModel.from_camera_info(640, 480, K, [], "", roi=(300, 200, 100, 80))
    assert roi.image_size == (100, 80) and roi.bearing(20, 40) == pytest.approx((0.0, 0.0))


@pytest.mark.parametrize(
    ("k", "d", "model", "size", "message"),
    [
        ([0.0] * 9, [], "plumb_bob", (640, 480), "focal length"),
        ([math.nan] + K[1:], [], "plumb_bob", (640, 480), "focal length"),
        (K, [0.1, 0, 0, 0, 0], "kannala", (640, 480), "unsupported distortion model"),
        (K, [math.inf, 0, 0, 0, 0], "plumb_bob", (640, 480), "not finite"),
        (K, [], "plumb_bob", (0, 0), "image size"),
        (K[:4], [], "plumb_bob", (640, 480), "4 values"),
    ],
)
def test_unusable_camera_info_is_refused(k, d, model, size, message):
    with pytest.raises(CameraModelError, match=message):
        CameraModel.from_camera_info(*size, k, d, model)


CANDIDATES = [
    Candidate(np.array([10.0, 10, 20, 20]), 0.9, ("person",)),
    Candidate(np.array([150.0, 110, 20, 20]), 0.5, ("car",)),
    Candidate(np.array([280.0, 200, 20, 20]), 0.7, ("car", "truck")),
]


@pytest.mark.parametrize(
    ("policy", "previous", "expected"),
    [
        ("best_score", None, 0),
        ("nearest_center", None, 1),
        ("nearest_previous", np.array([270.0, 190, 30, 30]), 2),
        ("nearest_previous", None, 0),  # no previous track: best score
        ("label:car", None, 2),
        ("label:truck", None, 2),
    ],
)
def test_handoff_policies(policy, previous, expected):
    chosen = choose(CANDIDATES, HandoffPolicy.parse(policy), (320, 240), previous)
    assert chosen is CANDIDATES[expected]


def test_handoff_refusals():
    assert choose(CANDIDATES, HandoffPolicy.parse("label:dog"), (320, 240)) is None
    assert choose([], HandoffPolicy.parse("best_score"), (320, 240)) is None
    reacquire = choose(CANDIDATES, HandoffPolicy.parse("best_score"), (320, 240), label="car")
    assert reacquire is CANDIDATES[2]
    for bad in ("", "label:", "closest", "best"):
        with pytest.raises(ValueError, match="handoff_policy must be one of"):
            HandoffPolicy.parse(bad)


class _Scores(CsrtTracker):
    """Real CSRT whose score is replaced by a scripted sequence (the LOST rule is the subject)."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self._scores = iter(scores)

    def _track(self, frame, timer):
        box, _ = super()._track(frame, timer)
        return box, next(self._scores)


SCENE = SyntheticScene(SceneConfig(n_frames=40))


def _states(tracker, n: int, session_kw=None) -> list[TrackState]:
    session = TrackingSession(tracker, **(session_kw or {}))
    session.start(SCENE.frame(0), SCENE.truth(0), "car", "t1")
    return [session.step(SCENE.frame(i)).state for i in range(1, n + 1)]


def test_hysteresis_keeps_a_hovering_score_from_flickering():
    scores = [0.5, 0.2, 0.3, 0.28, 0.36, 0.3, 0.2]
    plain = _states(_Scores(scores), len(scores))
    assert plain == [
        TrackState.TRACKING,
        TrackState.LOST,
        TrackState.TRACKING,
        TrackState.TRACKING,
        TrackState.TRACKING,
        TrackState.TRACKING,
        TrackState.LOST,
    ]
    tracker = _Scores(scores)
    tracker.recover_threshold = 0.35
    assert _states(tracker, len(scores)) == [
        TrackState.TRACKING,
        TrackState.LOST,
        TrackState.LOST,
        TrackState.LOST,
        TrackState.TRACKING,
        TrackState.TRACKING,
        TrackState.LOST,
    ]


def test_max_lost_frames_ends_the_track_with_the_reason():
    tracker = _Scores([0.9, 0.1, 0.1, 0.1, 0.9])
    session = TrackingSession(tracker, max_lost_frames=3)
    session.start(SCENE.frame(0), SCENE.truth(0), "car", "t1")
    outcomes = [session.step(SCENE.frame(i)) for i in range(1, 5)]
    assert [o.state for o in outcomes] == [
        TrackState.TRACKING,
        TrackState.LOST,
        TrackState.LOST,
        TrackState.IDLE,
    ]
    assert "lost for 3 frames" in outcomes[-1].message and outcomes[-1].track_id == ""


def test_reacquire_keeps_the_track_id_and_label():
    tracker = _Scores([0.1, 0.9, 0.9])
    session = TrackingSession(tracker)
    session.start(SCENE.frame(0), SCENE.truth(0), "car", "t1")
    assert session.step(SCENE.frame(1)).state == TrackState.LOST
    session.reacquire(SCENE.frame(1), SCENE.truth(1), "re-acquired by detector")
    outcome = session.step(SCENE.frame(2))
    assert outcome.state == TrackState.TRACKING and outcome.track_id == "t1" and outcome.label == "car"
    assert outcome.message == "re-acquired by detector" and outcome.frames_lost == 0
