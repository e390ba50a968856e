"""HiT pipeline pieces that need no reference data: the authors' crop quirks, box mapping,
clipping and the corner-heat-map confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hit_tracker_ros.trackers.crop import clip_box, map_box_back, normalize, sample_target
from hit_tracker_ros.trackers.hit import corner_confidence, peak_mass


def test_crop_side_rounding_and_plus_one_padding_quirk():
    frame = np.full((20, 30, 3), 200, np.uint8)
    # side = ceil(sqrt(4 * 4) * 2) = 8; centre (27, 10) -> x1 = round(23.0) = 23, x2 = 31 > W
    crop, factor = sample_target(frame, [25, 8, 4, 4], 2.0, 8)
    assert factor == 1.0
    # columns 23..29 exist, but the +1 quirk pads 2 columns: the last image column is dropped
    assert (crop[:, :6] == 200).all() and (crop[:, 6:] == 0).all()


def test_crop_corner_uses_round_half_to_even():
    frame = np.arange(40 * 40 * 3, dtype=np.uint8).reshape(40, 40, 3)
    # x + w/2 - side/2 = 12.5 -> round() = 12 (half to even), not 13
    crop, _ = sample_target(frame, [12.5, 12.5, 4, 4], 1.0, 4)
    np.testing.assert_array_equal(crop, frame[12:16, 12:16])


def test_normalize_is_imagenet_on_rgb():
    crop = np.zeros((2, 2, 3), np.uint8)
    crop[..., 0] = 255
    x = normalize(crop)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == pytest.approx((1 - 0.485) / 0.229, rel=1e-6)
    assert x[0, 2, 0, 0] == pytest.approx(-0.406 / 0.225, rel=1e-6)


def test_map_back_and_clip():
    # crop of 128 px around previous box centre (50, 50) resized to 256: factor 2
    box = map_box_back(np.array([128.0, 128.0, 20.0, 10.0]) / 2, [40, 45, 20, 10], 256, 2.0)
    assert box == pytest.approx([45.0, 47.5, 10.0, 5.0])
    assert clip_box([-5, 90, 3, 30], 100, 200, margin=10) == [0, 90, 10, 10]


def test_confidence_flat_vs_peaked_maps():
    flat = np.zeros((1, 1, 16, 16), np.float32)
    flat[0, 0, 8, 8] = 1e-6  # an uninformative map, peak inside the grid
    assert peak_mass(flat[0, 0]) == pytest.approx(9 / 256)
    assert corner_confidence(flat, flat) == pytest.approx(9 / 256)
    peaked = np.zeros_like(flat)
    peaked[0, 0, 5, 7] = 30.0
    assert corner_confidence(peaked, peaked) > 0.99
    corner = np.zeros_like(flat)
    corner[0, 0, 0, 0] = 30.0  # at the border the window is cut, not wrapped
    assert peak_mass(corner[0, 0]) > 0.99
    assert corner_confidence(peaked, flat) == pytest.approx(math.sqrt(peak_mass(peaked[0, 0]) * 9 / 256))
