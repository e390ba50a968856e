"""One-pass evaluation (OPE) metrics as the standard toolkits define them (pytracking's analysis
code, used for LaSOT, GOT-10k and OTB reports by STARK, OSTrack, HiT, MixFormer ...):

* boxes are [x, y, w, h] in pixels with the pixel-index convention: the last pixel of a box is
  x + w - 1, its centre x + (w - 1) / 2;
* a prediction of zero width or height repeats the previous frame's prediction; missing frames at
  the end count as empty boxes; the first frame's prediction is replaced by the ground truth;
* frames whose ground truth is invalid (w <= 0 or h <= 0, NaN, or marked absent) are skipped:
  they count neither as success nor as failure;
* success curve: fraction of frames with IoU > t for t = 0, 0.05, ..., 1; AUC = its mean;
* precision: fraction of frames with centre error <= 20 px (curve over 0..50 px);
* normalized precision: centre error after dividing both centres by the ground-truth size,
  fraction <= 0.2 (curve over 0..0.5);
* dataset scores average the per-sequence curves (every sequence weighs the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.boxes import iou_rows, xywh_to_xyxy

OVERLAP_THRESHOLDS = np.arange(0.0, 1.0 + 0.05, 0.05)
CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
PRECISION_AT = 20  # index of 20 px in CENTER_THRESHOLDS
NORM_PRECISION_AT = 20  # index of 0.20


def iou_pixel(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame IoU of (N, 4) [x, y, w, h] boxes. The toolkits' inclusive pixel convention (a box
    covers pixels x .. x + w - 1) gives the same overlap as half-open boxes [x, x + w)."""
    return iou_rows(xywh_to_xyxy(pred), xywh_to_xyxy(gt))


def center_error(pred: np.ndarray, gt: np.ndarray, normalized: bool = False) -> np.ndarray:
    pc = pred[:, :2] + 0.5 * (pred[:, 2:] - 1.0)
    gc = gt[:, :2] + 0.5 * (gt[:, 2:] - 1.0)
    if normalized:
        with np.errstate(divide="ignore", invalid="ignore"):
            pc, gc = pc / gt[:, 2:], gc / gt[:, 2:]
    return np.sqrt(((pc - gc) ** 2).sum(axis=1))


@dataclass(frozen=True)
class SequenceCurves:
    """Curves of one sequence over its valid frames."""

    success: np.ndarray  # over OVERLAP_THRESHOLDS
    precision: np.ndarray  # over CENTER_THRESHOLDS
    norm_precision: np.ndarray  # over NORM_CENTER_THRESHOLDS
    mean_iou: float
    valid_frames: int

    @property
    def auc(self) -> float:
        return float(self.success.mean())

    @property
    def precision_20(self) -> float:
        return float(self.precision[PRECISION_AT])

    @property
    def norm_precision_20(self) -> float:
        return float(self.norm_precision[NORM_PRECISION_AT])


def sequence_curves(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> SequenceCurves:
    """Curves of one sequence. `pred` and `gt` are (N, 4); `visible` marks frames with the target
    present (LaSOT's absence flags). A shorter prediction is padded with empty boxes."""
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.array(pred, dtype=np.float64)
    if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
        raise ValueError("predictions hold NaN or negative sizes")
    for i in range(1, min(len(pred), len(gt))):  # a zero-size prediction repeats the previous one
        if (pred[i, 2:] == 0).any() and not np.isnan(gt[i]).any():
            pred[i] = pred[i - 1]
    if len(pred) < len(gt):  # missing frames count as empty boxes (after the repeat rule)
        pred = np.vstack([pred, np.zeros((len(gt) - len(pred), 4))])
    pred = pred[: len(gt)]
    pred[0] = gt[0]
    valid = np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    if visible is not None:
        valid &= np.asarray(visible, dtype=bool)
    n = int(valid.sum())
    if n == 0:
        raise ValueError("sequence has no valid ground-truth frame")
    overlap = iou_pixel(pred[valid], gt[valid])
    center = center_error(pred[valid], gt[valid])
    norm = center_error(pred[valid], gt[valid], normalized=True)
    return SequenceCurves(
        success=(overlap[:, None] > OVERLAP_THRESHOLDS[None, :]).sum(0) / n,
        precision=(center[:, None] <= CENTER_THRESHOLDS[None, :]).sum(0) / n,
        norm_precision=(norm[:, None] <= NORM_CENTER_THRESHOLDS[None, :]).sum(0) / n,
        mean_iou=float(overlap.mean()),
        valid_frames=n,
    )


@dataclass(frozen=True)
class Scores:
    auc: float
    precision_20: float
    norm_precision_20: float
    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray


def dataset_scores(curves: list[SequenceCurves]) -> Scores:
    """Average of the per-sequence curves, then AUC / precision@20 / normalized precision@0.2."""
    success = np.mean([c.success for c in curves], axis=0)
    precision = np.mean([c.precision for c in curves], axis=0)
    norm = np.mean([c.norm_precision for c in curves], axis=0)
    return Scores(
        float(success.mean()),
        float(precision[PRECISION_AT]),
        float(norm[NORM_PRECISION_AT]),
        success,
        precision,
        norm,
    )


@dataclass(frozen=True)
class LostStatistics:
    """How a tracker's LOST state behaved on a sequence: how often and how long it was LOST, and
    how often LOST was wrong (the box still on the target: IoU > 0.5 with valid ground truth)."""

    frames: int  # frames tracked (after the first)
    lost_frames: int
    episodes: int  # runs of consecutive LOST frames
    longest: int  # frames in the longest run
    wrong_lost_frames: int  # LOST frames whose box overlaps the truth by IoU > 0.5

    @property
    def lost_fraction(self) -> float:
        return self.lost_frames / self.frames if self.frames else 0.0

    @property
    def wrong_fraction(self) -> float:
        """Share of the LOST frames that were wrong (nan when it was never LOST)."""
        return self.wrong_lost_frames / self.lost_frames if self.lost_frames else float("nan")


def lost_statistics(lost: np.ndarray, pred: np.ndarray, gt: np.ndarray, start: int) -> LostStatistics:
    """`lost`: per frame, whether the tracker reported LOST; frames up to `start` (the
    initialization) do not count."""
    lost = np.asarray(lost, dtype=bool)[start + 1 :]
    overlap = iou_pixel(pred[start + 1 :], gt[start + 1 :])
    valid = np.all(np.isfinite(gt[start + 1 :]), axis=1) & (gt[start + 1 :, 2] > 0) & (gt[start + 1 :, 3] > 0)
    edges = np.diff(np.concatenate([[0], lost.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return LostStatistics(
        frames=int(lost.size),
        lost_frames=int(lost.sum()),
        episodes=int(starts.size),
        longest=int((ends - starts).max()) if starts.size else 0,
        wrong_lost_frames=int(np.sum(lost & valid & (overlap > 0.5))),
    )
