"""Public tracker API, the CSRT tracker, tracking sessions and the frame cache (no ROS)."""

from __future__ import annotations

import numpy as np
import pytest

import hit_tracker_ros
from hit_tracker_ros import TrackState, build_tracker
from hit_tracker_ros.core.boxes import clip_to_image, iou
from hit_tracker_ros.core.frame_cache import FrameCache
from hit_tracker_ros.core.session import TrackingSession
from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene
from hit_tracker_ros.core.tracker import FrameSizeError


def run(tracker, scene):
    tracker.initialize(scene.frame(0), scene.truth(0))
    return [tracker.track(scene.frame(i)) for i in range(1, len(scene))]


def test_public_api_csrt_follows_the_synthetic_target():
    scene = SyntheticScene()
    tracker = build_tracker("csrt")
    assert (tracker.model, tracker.backend) == ("csrt", "opencv")
    results = run(tracker, scene)
    size = (scene.config.width, scene.config.height)
    ious = np.array([iou(r.box, clip_to_image(scene.truth(i + 1), size)) for i, r in enumerate(results)])
    assert np.mean(ious > 0.5) >= 0.9
    assert all(r.box.shape == (4,) and 0.0 <= r.score <= 1.0 for r in results)
    assert {"preprocess", "inference", "postprocess"} <= set(results[0].timings_ms)
    # the brief occlusion is reported as LOST, then the target is reacquired
    start, end = scene.config.occlusion_frames
    assert any(results[i - 1].state == TrackState.LOST for i in range(start, end))
    assert results[-1].state == TrackState.TRACKING


def test_csrt_is_deterministic():
    scene = SyntheticScene(SceneConfig(n_frames=30))
    a = [r.box for r in run(build_tracker("csrt"), scene)]
    b = [r.box for r in run(build_tracker("csrt"), scene)]
    np.testing.assert_array_equal(np.array(a), np.array(b))


def test_lost_when_target_leaves_and_threshold_controls_it():
    scene = SyntheticScene(SceneConfig(n_frames=80, leave_frames=16, occlusion_frames=(0, 0)))
    results = run(build_tracker("csrt", score_threshold=0.25), scene)
    assert results[-1].state == TrackState.LOST and results[-1].score < 0.25
    never_lost = run(build_tracker("csrt", score_threshold=0.0), scene)
    assert all(r.state == TrackState.TRACKING for r in never_lost)


def test_registry_errors_are_clear():
    assert "csrt" in hit_tracker_ros.available_models()
    with pytest.raises(ValueError, match="unknown model 'nope'; available: .*csrt"):
        build_tracker("nope")
    with pytest.raises(ValueError, match="no backend 'tensorrt'"):
        build_tracker("csrt", backend="tensorrt")
    with pytest.raises(ValueError, match="uses no checkpoint"):
        build_tracker("csrt", checkpoint="x.pth")
    with pytest.raises(ValueError, match="score_threshold"):
        build_tracker("csrt", score_threshold=2.0)


def test_tracker_input_checks():
    tracker = build_tracker("csrt")
    frame = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(RuntimeError, match="before initialize"):
        tracker.track(frame)
    with pytest.raises(ValueError, match="H x W x 3"):
        tracker.initialize(np.zeros((48, 64), np.uint8), (1, 1, 10, 10))
    with pytest.raises(ValueError, match="uint8"):
        tracker.initialize(frame.astype(np.float32), (1, 1, 10, 10))
    tracker.initialize(frame, (1, 1, 10, 10))
    with pytest.raises(FrameSizeError, match="differs"):
        tracker.track(np.zeros((24, 32, 3), np.uint8))
    tracker.reset()
    assert tracker.state == TrackState.IDLE


def test_session_counts_states_and_stops_on_size_change():
    scene = SyntheticScene(SceneConfig(n_frames=10))
    session = TrackingSession(build_tracker("csrt"))
    assert session.step(scene.frame(0)).state == TrackState.IDLE
    session.start(scene.frame(0), scene.truth(0), label="boat", track_id="abc")
    out = [session.step(scene.frame(i)) for i in range(1, 5)]
    assert [o.frames_tracked for o in out] == [1, 2, 3, 4]
    assert all(o.track_id == "abc" and o.label == "boat" for o in out)
    stopped = session.step(np.zeros((10, 10, 3), np.uint8))
    assert stopped.state == TrackState.IDLE and "differs" in stopped.message and stopped.box is None
    session.start(scene.frame(0), scene.truth(0))
    assert len(session.track_id) == 12
    session.stop()
    assert session.step(scene.frame(1)).state == TrackState.IDLE


def test_frame_cache_lookup():
    cache: FrameCache[str] = FrameCache(3)
    with pytest.raises(LookupError, match="no image received yet"):
        cache.newest()
    for stamp in (100, 200, 300, 400):
        cache.add(stamp, f"f{stamp}")
    assert cache.newest() == (400, "f400") and len(cache) == 3
    assert cache.find(300) == (300, "f300")
    assert cache.find(305, tolerance_ns=10) == (300, "f300")
    with pytest.raises(LookupError, match="older than the frame cache"):
        cache.find(100)
    with pytest.raises(LookupError, match="no cached frame"):
        cache.find(350, tolerance_ns=10)
    assert [s for s, _ in cache.between(200, 400)] == [300, 400]


def test_the_synthetic_scene_has_fresh_sensor_noise_on_every_frame_and_every_run_alike():
    """Zero-mean noise of sigma ~3 grey levels, different from frame to frame, the same frame on
    every run (scenes are the reference of tests, demos and benchmarks)."""
    config = SceneConfig(n_frames=8, occlusion_frames=(0, 0))
    scene, again = SyntheticScene(config), SyntheticScene(config)
    clean = SyntheticScene(config)._background.astype(np.float64)  # the clutter without noise
    corner = (slice(0, 40), slice(0, 60))  # the target never passes there
    residuals = []
    for i in range(len(scene)):
        frame = scene.frame(i)
        np.testing.assert_array_equal(frame, again.frame(i))
        residuals.append(frame[corner].astype(np.float64) - clean[corner])
    for r in residuals:
        assert abs(r.mean()) < 0.3 and 2.5 < r.std() < 3.5
    assert all(np.abs(a - b).mean() > 2.0 for a, b in zip(residuals, residuals[1:], strict=False))
