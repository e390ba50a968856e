"""OPE metrics against hand-computed values (pytracking conventions, invalid frames skipped)."""

from __future__ import annotations

import numpy as np
import pytest

from hit_tracker_ros.tools import metrics
from hit_tracker_ros.tools.datasets import load_boxes


def test_pixel_convention_iou_and_centre_error():
    gt = np.array([[0.0, 0, 10, 10]])
    pred = np.array([[5.0, 0, 10, 10]])
    # overlap columns 5..9 (5 px) x rows 0..9 (10 px) = 50; union 150
    assert metrics.iou_pixel(pred, gt)[0] == pytest.approx(1 / 3)
    assert metrics.center_error(pred, gt)[0] == pytest.approx(5.0)
    assert metrics.center_error(pred, gt, normalized=True)[0] == pytest.approx(0.5)
    # boxes that touch at a pixel edge do not overlap
    assert metrics.iou_pixel(np.array([[10.0, 0, 10, 10]]), gt)[0] == 0.0


def test_perfect_tracking_scores():
    gt = np.array([[0.0, 0, 10, 10], [3, 4, 10, 12], [5, 5, 8, 8]])
    c = metrics.sequence_curves(gt.copy(), gt)
    # IoU 1 exceeds every threshold but 1.0 itself: 20 of 21
    assert c.auc == pytest.approx(20 / 21)
    assert c.precision_20 == 1.0 and c.norm_precision_20 == 1.0 and c.mean_iou == 1.0


def test_invalid_ground_truth_frames_are_skipped():
    gt = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 10], [np.nan] * 4])
    pred = np.array([[50.0, 50, 3, 3], [5, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    c = metrics.sequence_curves(pred, gt)
    assert c.valid_frames == 2  # frame 0 (replaced by the ground truth) and frame 1
    # thresholds 0..0.30 (7): both succeed; 0.35..0.95 (13): only frame 0; 1.0: none
    assert c.auc == pytest.approx((7 * 1.0 + 13 * 0.5) / 21)
    assert c.success[6] == 1.0 and c.success[7] == 0.5
    assert c.precision_20 == 1.0  # centre errors 0 and 5 px
    assert c.norm_precision_20 == 0.5  # normalized errors 0 and 0.5


def test_absent_frames_are_skipped_and_short_predictions_padded():
    gt = np.array([[0.0, 0, 10, 10]] * 4)
    visible = np.array([1, 1, 0, 1], dtype=bool)
    pred = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10], [90, 90, 5, 5]])  # frame 3 missing -> empty box
    c = metrics.sequence_curves(pred, gt, visible)
    assert c.valid_frames == 3
    assert c.success[0] == pytest.approx(2 / 3)  # padded frame 3 has IoU 0
    with pytest.raises(ValueError, match="no valid"):
        metrics.sequence_curves(pred, np.zeros((3, 4)))


def test_dataset_scores_average_sequences_equally():
    a = metrics.sequence_curves(np.array([[0.0, 0, 10, 10]] * 2), np.array([[0.0, 0, 10, 10]] * 2))
    gt = np.array([[0.0, 0, 10, 10]] * 101)
    b = metrics.sequence_curves(np.array([[0.0, 0, 10, 10]] + [[200.0, 200, 10, 10]] * 100), gt)
    s = metrics.dataset_scores([a, b])
    assert s.auc == pytest.approx((a.auc + b.auc) / 2)
    assert s.precision_20 == pytest.approx((1.0 + 1 / 101) / 2)


def test_ground_truth_files_with_any_separator(tmp_path):
    f = tmp_path / "gt.txt"
    f.write_text("1,2,3,4\n5\t6\t7\t8\n9 10 11 12\nNaN,NaN,NaN,NaN\n\n")
    boxes = load_boxes(f)
    assert boxes.shape == (5, 4)
    np.testing.assert_array_equal(boxes[:3], [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    assert np.isnan(boxes[3:]).all()


def test_zero_size_prediction_repeats_the_previous_one():
    gt = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 10, 10]])
    pred = np.array([[0.0, 0, 10, 10], [20, 20, 10, 10], [7, 7, 0, 0]])
    c = metrics.sequence_curves(pred, gt)
    # frame 2 takes frame 1's box [20, 20, 10, 10]: IoU 1 there, 0 in frame 1
    assert c.success[1] == pytest.approx(2 / 3)
