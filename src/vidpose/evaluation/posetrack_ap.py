"""Per-joint average precision of multi-person pose estimation, as poseval's ``evaluateAP`` computes it.

Every predicted joint becomes one (score, label) pair: label 1 if its person is assigned to a GT person and
the joint lies within PCKh@0.5 of that person's joint, else 0. Pairs are pooled per joint over all frames of
all sequences (frame order, then prediction order, exactly as poseval appends them, so that tied scores rank
the same way), sorted by score, and scored with the VOC all-point interpolated AP against the number of
annotated GT joints. ``Total`` is the mean of the 15 per-joint values, skipping NaN.

pt18 (poseval): a joint without GT but with predictions has recall 0/0 and AP NaN.
pt21 (PoseTrack21 kit): recall divides by ``max(nGT, 1)``, so that joint scores AP 0.
In both, a joint without GT and without predictions scores 0 (it still counts in ``Total``).

Legend: J = 15 scored joints in poseval's id order (:data:`vidpose.skeleton.POSEVAL_NAMES`); the result
arrays have J + 1 entries, the last being ``Total``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.records import Sequence
from ..skeleton import POSEVAL_NAMES
from .matching import MODES, SequenceMatch, match_sequences, mean_skip_nan

__all__ = ["APResult", "evaluate_ap", "ap_from_matches", "voc_ap", "precision_recall"]

_J = len(POSEVAL_NAMES)


@dataclass(frozen=True)
class APResult:
    """Per-joint AP, and the precision / recall at the lowest score, in percent.

    Attributes:
        ap, precision, recall: [J + 1], poseval joint order, last = Total (mean over joints skipping NaN).
        num_gt: [J] annotated GT joints.
        num_pred: [J] predicted joints.
        mode: pt18 | pt21.
    """

    ap: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    num_gt: np.ndarray
    num_pred: np.ndarray
    mode: str = "pt18"


def precision_recall(scores: np.ndarray, labels: np.ndarray, num_gt: float, mode: str = "pt18"):
    """Precision and recall after each prediction, ranked by descending score.

    The ranking is poseval's ``np.argsort(scores)[::-1]`` (the same array gives the same order of ties).

    Args:
        scores: [N] float64; labels: [N] bool; num_gt: positives.

    Returns:
        precision [N], recall [N].
    """
    order = np.asarray(scores, dtype=np.float64).argsort()[::-1]
    true_pos = np.cumsum(np.asarray(labels)[order] == 1)
    precision = true_pos / np.arange(1, len(order) + 1)
    denominator = max(num_gt, 1) if mode == "pt21" else np.float64(num_gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = true_pos / denominator
    return precision, recall


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP: area under the monotone precision envelope. recall, precision: [N]."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def ap_from_matches(matches: list[SequenceMatch], mode: str = "pt18") -> APResult:
    """Pool the (score, label) pairs of matched sequences and compute per-joint AP."""
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}, expected one of {', '.join(MODES)}")
    ap = np.zeros(_J + 1)
    pre = np.zeros(_J + 1)
    rec = np.zeros(_J + 1)
    num_gt = np.zeros(_J)
    num_pred = np.zeros(_J, dtype=np.int64)
    for m in matches:
        num_gt += m.gt_present.sum(axis=(0, 1))
    for j in range(_J):
        # row-major (frame, prediction) order = the order poseval appends the pairs in
        scores = np.concatenate(
            [m.pred_scores[..., j][m.pred_present[..., j]] for m in matches] or [np.zeros(0)]
        )
        labels = np.concatenate(
            [m.correct[..., j][m.pred_present[..., j]] for m in matches] or [np.zeros(0, bool)]
        )
        num_pred[j] = len(scores)
        if len(scores) == 0:
            continue
        precision, recall = precision_recall(scores, labels, num_gt[j], mode)
        with np.errstate(invalid="ignore"):
            ap[j] = voc_ap(recall, precision) * 100.0
        pre[j] = precision[-1] * 100.0
        rec[j] = recall[-1] * 100.0
    for values in (ap, pre, rec):
        values[_J] = mean_skip_nan(values[:_J])
    return APResult(ap=ap, precision=pre, recall=rec, num_gt=num_gt, num_pred=num_pred, mode=mode)


def evaluate_ap(gt: list[Sequence], pred: list[Sequence], mode: str = "pt18") -> APResult:
    """Per-joint AP of predictions against ground truth, sequences paired by name.

    Args:
        gt: ground-truth sequences (:func:`vidpose.data.posetrack.read_sequences`).
        pred: prediction sequences (:func:`vidpose.data.posetrack.read_prediction_folder`), one per GT name.
        mode: pt18 (poseval, PoseTrack17/18) or pt21 (PoseTrack21 kit).
    """
    return ap_from_matches(match_sequences(gt, pred, mode), mode)
