"""Tap to box (core.tap_box): a tap at the centre of an object gives that object's box, where the
fixed square gave a box four times a small person or a fraction of a car; nothing to fit gives the
square, with the reason; the benchmark CLI runs."""

from __future__ import annotations

import numpy as np
import pytest

from hit_tracker_ros.core.boxes import InvalidBoxError, iou, point_box
from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene
from hit_tracker_ros.core.tap_box import fit_box
from hit_tracker_ros.tools import benchmark_tap


@pytest.mark.parametrize("size", [(17, 50), (40, 32), (120, 60)])
def test_a_tap_at_an_object_gives_its_box(size):
    scene = SyntheticScene(SceneConfig(width=640, height=480, target_size=size, occlusion_frames=(0, 0)))
    for i in (0, 17, 33):
        truth = scene.truth(i)
        x, y = truth[0] + truth[2] / 2, truth[1] + truth[3] / 2
        fit = fit_box(scene.frame(i), x, y, 64.0)
        assert fit.fitted and "fitted" in fit.how, fit
        assert iou(fit.box, truth) > 0.6, (fit.box, truth)
        assert iou(fit.box, truth) > iou(point_box(x, y, 64.0, (640, 480)), truth)


def test_nothing_to_fit_gives_the_square_and_says_why():
    flat = np.full((240, 320, 3), 90, np.uint8)
    fit = fit_box(flat, 100.0, 80.0, 40.0)
    assert not fit.fitted and fit.box.tolist() == [80.0, 60.0, 40.0, 40.0] and "square" in fit.how
    with pytest.raises(InvalidBoxError, match="outside"):
        fit_box(flat, 400.0, 80.0, 40.0)


def test_a_spent_budget_stops_growing_the_window():
    """A 160x120 object reaches past the first window; with no time left no larger one is tried."""
    config = SceneConfig(width=640, height=480, target_size=(160, 120), occlusion_frames=(0, 0))
    scene = SyntheticScene(config)
    truth = scene.truth(0)
    x, y = truth[0] + truth[2] / 2, truth[1] + truth[3] / 2
    fit = fit_box(scene.frame(0), x, y, 32.0, budget_ms=0.0)
    assert not fit.fitted and "budget" in fit.how, fit
    roomy = fit_box(scene.frame(0), x, y, 32.0, budget_ms=1e6)  # time is not the behaviour here
    assert roomy.fitted, "with time left a larger window fits it"


def test_benchmark_cli(tmp_path, capsys):
    assert benchmark_tap.main(["--frames", "2", "--json", str(tmp_path / "tap.json")]) == 0
    assert "mean IoU, fitted" in capsys.readouterr().out and (tmp_path / "tap.json").exists()
