"""Several targets through batched inference, per family, with the authors' golden weights:
each element of a batch equals the batch-1 result on every backend here (torch, ONNX Runtime),
a multi-tracker's boxes equal those of independent single trackers on the golden sequence, and
re-acquisition windows scored in one batch equal windows scored one by one, with the box each
found mapped back to the image as the tracking step maps it."""

from __future__ import annotations

import numpy as np
import pytest
from golden import ONE_PER_FAMILY, golden_fixture, sequence

import hit_tracker_ros
from hit_tracker_ros import build_tracker
from hit_tracker_ros.backends.batching import run_batched
from hit_tracker_ros.core.reacquire import ReacquireSettings, window_grid
from hit_tracker_ros.core.timing import StageTimer

# the golden target, and two more regions of the golden sequence's frames
BOXES = ([120.0, 43.0, 40.0, 32.0], [30.0, 150.0, 36.0, 30.0], [230.0, 120.0, 44.0, 36.0])


@pytest.fixture
def family(golden):
    return golden.model, golden.checkpoint


golden = golden_fixture(ONE_PER_FAMILY)


def crops(tracker, frame) -> list[dict[str, np.ndarray]]:
    """The feeds of three different targets on `frame` (real crops, real templates)."""
    feeds = []
    for box in BOXES:
        t = tracker.spawn()
        t.initialize(frame, box)
        feeds.append(t.plan(frame).feeds)
    return feeds


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_each_element_of_a_batch_equals_the_batch_1_result(family, backend, tmp_path):
    model, checkpoint = family
    tracker = build_tracker(
        model, checkpoint, backend=backend, max_batch=4, engine_cache_dir=str(tmp_path / "engines")
    )
    assert tracker.runner.max_batch >= 3, tracker.runner
    frame = sequence()["frames"][1]
    feeds = crops(tracker, frame)
    singles = [tracker.runner.run(f) for f in feeds]
    batched = tracker.runner.run({n: np.concatenate([f[n] for f in feeds]) for n in feeds[0]})
    for i, single in enumerate(singles):
        for name, value in single.items():
            close(batched[name][i : i + 1], value, name)
    # and the helper that splits batches back gives the same rows
    for single, row in zip(singles, run_batched(tracker.runner, feeds), strict=True):
        for name in single:
            close(row[name], single[name], name)


def close(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    """Within 1e-5 of the output's scale: batched float32 convolutions may pick other kernels
    than batch 1 (E.T.Track's regression maps, values up to ~20, differ by up to 3e-5; the
    transformer families by under 1e-6)."""
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, atol=1e-5 * scale, rtol=0, err_msg=name)


def test_multi_tracker_boxes_equal_independent_trackers(family):
    model, checkpoint = family
    seq = sequence()
    frames = seq["frames"]
    multi = hit_tracker_ros.build_multi_tracker(model, checkpoint, backend="torch", max_targets=3)
    singles = [build_tracker(model, checkpoint, backend="torch") for _ in BOXES]
    ids = [multi.add(frames[0], box, label=f"t{i}") for i, box in enumerate(BOXES)]
    for single, box in zip(singles, BOXES, strict=True):
        single.initialize(frames[0], box)
    calls = []
    original = multi.targets.tracker.runner.run
    multi.targets.tracker.runner.run = lambda feeds: calls.append(1) or original(feeds)
    # E.T.Track's convolutions give batch rows up to 3e-5 off batch 1 (float32 kernels chosen per
    # batch size), which its size smoothing carries over frames: 1.0e-4 px measured, 5e-4 allowed
    atol = 5e-4 if model == "ettrack" else 1e-4
    frames = frames[:5]  # 4 frames: three targets' searches and templates, batched and alone
    for frame in frames[1:]:
        results = multi.track(frame)
        for track_id, single in zip(ids, singles, strict=True):
            expected = single.track(frame)
            np.testing.assert_allclose(results[track_id].box, expected.box, atol=atol, rtol=0)
            assert results[track_id].state == expected.state
    per_frame = 2 if model == "ettrack" else 1  # E.T.Track: one call per search size in use
    assert len(calls) <= per_frame * (len(frames) - 1)


def test_removing_a_target_leaves_the_others(family):
    model, checkpoint = family
    frames = sequence()["frames"]
    multi = hit_tracker_ros.build_multi_tracker(model, checkpoint, backend="torch", max_targets=2)
    a, b = (multi.add(frames[0], box) for box in BOXES[:2])
    with pytest.raises(LookupError, match="all 2 targets are tracked"):
        multi.add(frames[0], BOXES[2])
    assert set(multi.track(frames[1])) == {a, b}
    multi.remove(a)
    assert set(multi.track(frames[2])) == {b}
    c = multi.add(frames[2], BOXES[2])
    assert set(multi.track(frames[3])) == {b, c}


def test_batched_windows_equal_one_by_one_and_map_back_like_tracking(family):
    model, checkpoint = family
    frames = sequence()["frames"]
    tracker = build_tracker(model, checkpoint, backend="torch")
    tracker.initialize(frames[0], BOXES[0])
    frame = frames[5]
    grid = window_grid(
        (frame.shape[1], frame.shape[0]), np.array(BOXES[0]), tracker.search_side(np.array(BOXES[0]))
    )
    assert len(grid) >= ReacquireSettings().windows_per_frame
    # one frame's batch, as re-acquisition scores it: a corner window, a middle one, two more
    windows = [grid[0], grid[len(grid) // 2], grid[len(grid) // 4], grid[-1]]
    assert len(windows) == ReacquireSettings().windows_per_frame
    plans = [tracker.plan_window(frame, w) for w in windows]
    batched = [
        tracker.finish_window(p, out)
        for p, out in zip(plans, tracker.run_batch([p.feeds for p in plans], StageTimer()), strict=True)
    ]
    for i, (window, (box, score)) in enumerate(zip(windows, batched, strict=True)):
        plan = tracker.plan_window(frame, window)
        one_box, one_score = tracker.finish_window(plan, tracker.runner.run(plan.feeds))
        assert score == pytest.approx(one_score, abs=1e-5)
        np.testing.assert_allclose(box, one_box, atol=1e-3)
        if i > 1:
            continue  # the mapping back is one code path: the corner window and the middle one show it
        # the window's box is where a track centred on that window would go
        probe = tracker.spawn()
        probe.initialize(frames[0], BOXES[0])
        probe.set_state(window)
        expected = probe.track(frame)
        np.testing.assert_allclose(box, expected.box, atol=1e-3)
        assert score == pytest.approx(expected.score, abs=1e-5)
    assert tracker.state.name == "TRACKING"  # scoring windows never moved the track
