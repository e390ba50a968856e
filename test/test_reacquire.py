"""Re-acquisition: a target that jumps outside every search window is LOST for good without it,
and TRACKING again within a bounded number of frames with it (CSRT, for real: multi-scale
normalized template matching over a grid of windows, a few per frame)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hit_tracker_ros import build_multi_tracker, build_tracker
from hit_tracker_ros.core.boxes import iou
from hit_tracker_ros.core.reacquire import ReacquireSettings, WindowCycle, window_grid
from hit_tracker_ros.core.session import TrackingSession
from hit_tracker_ros.core.synthetic import JumpScene
from hit_tracker_ros.core.types import TrackState

SCENE = JumpScene()
AFTER, PER_FRAME = 5, 4


def run(reacquire_after: int) -> tuple[list, TrackingSession]:
    tracker = build_tracker("csrt")
    tracker.recover_threshold = 0.35  # hysteresis, as config/follow.yaml sets it
    session = TrackingSession(tracker, reacquire=ReacquireSettings(reacquire_after, PER_FRAME, 0.5))
    session.start(SCENE.frame(0), SCENE.truth(0), "car")
    return [session.step(SCENE.frame(i)) for i in range(1, len(SCENE))], session


def test_without_reacquisition_a_jumped_target_is_lost_for_good():
    outcomes, session = run(reacquire_after=0)
    after_jump = outcomes[SCENE.jump_frame + 1 :]
    assert all(o.state == TrackState.LOST for o in after_jump)
    assert max(iou(o.box, SCENE.truth(i)) for i, o in enumerate(outcomes, 1) if i > SCENE.jump_frame) < 0.1
    assert session.reacquire_stats.windows_scored == 0


def test_with_reacquisition_the_track_returns_within_a_bounded_number_of_frames():
    outcomes, session = run(reacquire_after=AFTER)
    grid = window_grid(
        (SCENE.width, SCENE.height), SCENE.truth(0), build_tracker("csrt").search_side(SCENE.truth(0))
    )
    bound = SCENE.jump_frame + 1 + AFTER + math.ceil(len(grid) / PER_FRAME)
    back = next(i for i, o in enumerate(outcomes, 1) if i > SCENE.jump_frame and o.message == "re-acquired")
    assert back <= bound, (back, bound)
    assert outcomes[back - 1].state == TrackState.TRACKING
    assert iou(outcomes[back - 1].box, SCENE.truth(back)) > 0.6
    # and it keeps following from there, with the same track id
    for i, o in enumerate(outcomes[back:], back + 1):
        assert o.state == TrackState.TRACKING and iou(o.box, SCENE.truth(i)) > 0.5, i
        assert o.track_id == outcomes[0].track_id
    stats = session.reacquire_stats
    assert stats.reacquired == 1 and stats.windows_scored <= PER_FRAME * stats.frames_searched


def test_the_multi_tracker_reacquires_too():
    tracker = build_multi_tracker(
        "csrt", max_targets=2, reacquire_after=AFTER, reacquire_windows_per_frame=PER_FRAME
    )
    tracker.targets.configure(0.25, 0.35, 0)
    target = tracker.add(SCENE.frame(0), SCENE.truth(0))
    results = [tracker.track(SCENE.frame(i))[target] for i in range(1, len(SCENE))]
    assert (
        results[-1].state == TrackState.TRACKING and iou(results[-1].box, SCENE.truth(len(SCENE) - 1)) > 0.5
    )


def test_the_grid_covers_the_image_and_cycles_in_bounded_steps():
    box = np.array([100.0, 80.0, 40.0, 30.0])
    side = 120.0
    grid = window_grid((320, 240), box, side)
    centres = np.array([[b[0] + b[2] / 2, b[1] + b[3] / 2] for b in grid])
    assert all(b[2] == 40.0 and b[3] == 30.0 for b in grid)  # the target's last size
    ys, xs = np.mgrid[0:240:4, 0:320:4]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    nearest = np.abs(points[:, None, :] - centres[None, :, :]).max(axis=2).min(axis=1)
    assert nearest.max() <= side / 4 + 1  # every pixel within a quarter window of a centre
    cycle = WindowCycle(grid)
    seen = [tuple(b) for _ in range(math.ceil(len(grid) / 4)) for b in cycle.take(4)]
    assert set(seen) == {tuple(b) for b in grid}
    assert len(cycle.take(100)) == len(grid)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"after_frames": -1}, "reacquire_after"),
        ({"windows_per_frame": 0}, "reacquire_windows_per_frame"),
        ({"threshold": 1.5}, "reacquire_threshold"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReacquireSettings(**kwargs)
