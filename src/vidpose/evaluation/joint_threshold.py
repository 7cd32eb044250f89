"""The joint-score threshold of a tracking submission: AP and MOTA of the same predictions at each threshold.

poseval scores one prediction file for both metrics, and they want different things: AP ranks every joint by
its score, so low-scoring joints cost it nothing, while MOTA counts each submitted joint that matches no
ground truth as a false positive. A tracking submission therefore drops joints whose score is at or below
a threshold (``eval.joint_score_thr`` in vidpose's configs, applied by the prediction writer), and that
threshold is chosen on validation data. :func:`sweep_joint_threshold` evaluates the predictions as the
writer would have written them at each threshold (a dropped joint becomes ``(0, 0, 0)`` with score 0),
without re-running a model; :func:`best_threshold` picks the one with the highest MOTA.

Legend: K = 17 joints (PoseTrack18 order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence as Seq
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.posetrack_writer import written_joints
from ..data.records import Person, Sequence
from ..errors import ConfigError, DataFormatError
from ..fileio import atomic_write_json
from .matching import MODES, match_sequences
from .posetrack_ap import ap_from_matches
from .report import read_folders
from .tracking_mota import mota_from_matches

__all__ = [
    "ThresholdPoint",
    "drop_joints_at_or_below",
    "sweep_joint_threshold",
    "sweep_folders",
    "best_threshold",
    "format_sweep",
    "write_sweep_json",
    "parse_thresholds",
]


@dataclass(frozen=True)
class ThresholdPoint:
    """AP and tracking metrics (percent, Total over joints) of the predictions at one joint-score threshold.

    Attributes:
        threshold: joints scoring at or below it were dropped.
        ap: AP Total.
        mota, motp, precision, recall: poseval's tracking metrics, Total.
        num_switches, num_false_positives, num_misses: event counts summed over joints.
        joints_kept: fraction of the submitted joints that survive the threshold.
    """

    threshold: float
    ap: float
    mota: float
    motp: float
    precision: float
    recall: float
    num_switches: int
    num_false_positives: int
    num_misses: int
    joints_kept: float


def _drop(person: Person, threshold: float) -> tuple[Person, int, int]:
    """``person`` as a prediction file written with ``joint_score_thr=threshold`` holds it
    (:func:`vidpose.data.posetrack_writer.written_joints`: keypoints [K, 3], joint_scores [K]); plus the
    joints such a file holds without a threshold and with it."""
    keypoints, scores = written_joints(person, threshold)
    submitted = int(written_joints(person, None)[0][:, 2].sum())
    dropped = dataclasses.replace(person, keypoints=keypoints, joint_scores=scores)
    return dropped, submitted, int(keypoints[:, 2].sum())


def drop_joints_at_or_below(seq: Sequence, threshold: float) -> tuple[Sequence, int, int]:
    """The prediction sequence ``seq`` as the prediction writer writes it with ``joint_score_thr=threshold``
    (every joint scoring at or below it left out; a PoseTrack18 file, whatever ``seq`` was read from); plus
    the joints written without a threshold and with it. ``seq`` is not changed."""
    before = after = 0
    frames = []
    for frame in seq.frames:
        persons = []
        for person in frame.persons:
            dropped, b, a = _drop(person, threshold)
            persons.append(dropped)
            before, after = before + b, after + a
        frames.append(dataclasses.replace(frame, persons=persons))
    return dataclasses.replace(seq, frames=frames, format="pt18"), before, after


def sweep_joint_threshold(
    gt: list[Sequence], preds: list[Sequence], thresholds: Seq[float], mode: str = "pt18"
) -> list[ThresholdPoint]:
    """AP and MOTA of ``preds`` against ``gt`` (sequences paired by name) with the joints at or below each
    threshold dropped, in the order of ``thresholds``. The same numbers as writing the predictions with
    ``joint_score_thr=threshold`` and evaluating the files (tested)."""
    if not thresholds:
        raise ConfigError("joint threshold sweep: no thresholds given")
    if mode not in MODES:
        raise DataFormatError(f"unknown evaluation mode {mode!r}, expected one of {', '.join(MODES)}")
    points = []
    for threshold in thresholds:
        dropped = [drop_joints_at_or_below(p, float(threshold)) for p in preds]
        before = sum(b for _, b, _ in dropped)
        after = sum(a for _, _, a in dropped)
        matches = match_sequences(gt, [d for d, _, _ in dropped], mode)
        ap = ap_from_matches(matches, mode)
        mot = mota_from_matches(matches, mode)
        points.append(
            ThresholdPoint(
                threshold=float(threshold),
                ap=float(ap.ap[-1]),
                mota=float(mot.mota[-1]),
                motp=float(mot.motp[-1]),
                precision=float(mot.precision[-1]),
                recall=float(mot.recall[-1]),
                num_switches=int(mot.num_switches.sum()),
                num_false_positives=int(mot.num_false_positives.sum()),
                num_misses=int(mot.num_misses.sum()),
                joints_kept=after / before if before else float("nan"),
            )
        )
    return points


def best_threshold(points: list[ThresholdPoint]) -> ThresholdPoint:
    """The point with the highest MOTA (the lowest threshold among ties)."""
    if not points:
        raise ConfigError("joint threshold sweep: no points to choose from")
    return max(sorted(points, key=lambda p: p.threshold), key=lambda p: np.nan_to_num(p.mota, nan=-np.inf))


def format_sweep(points: list[ThresholdPoint], chosen: ThresholdPoint | None = None) -> str:
    """A markdown table of the sweep, the chosen threshold marked."""
    lines = [
        "| joint score threshold | AP | MOTA | MOTP | precision | recall | switches | false positives "
        "| misses | joints kept |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        best = chosen is not None and p.threshold == chosen.threshold and np.isfinite(chosen.mota)
        mark = " (best MOTA)" if best else ""
        lines.append(
            f"| {p.threshold:g}{mark} | {p.ap:.1f} | {p.mota:.1f} | {p.motp:.1f} | {p.precision:.1f} "
            f"| {p.recall:.1f} | {p.num_switches} | {p.num_false_positives} | {p.num_misses} "
            f"| {100 * p.joints_kept:.0f} % |"
        )
    return "\n".join(lines)


def sweep_folders(
    gt_dir: str | Path, pred_dir: str | Path, thresholds: Seq[float], mode: str = "pt18"
) -> list[ThresholdPoint]:
    """:func:`sweep_joint_threshold` of the prediction folder ``pred_dir`` against ``gt_dir`` (files paired as
    by :func:`vidpose.evaluation.evaluate_folders`)."""
    gt, preds = read_folders(gt_dir, pred_dir)
    return sweep_joint_threshold(gt, preds, thresholds, mode)


def write_sweep_json(points: list[ThresholdPoint], out_dir: str | Path) -> Path:
    """``joint_threshold_sweep.json`` in ``out_dir``: every point, and the threshold with the best MOTA."""
    best = best_threshold(points)
    data = {"points": [asdict(p) for p in points], "best_mota_threshold": best.threshold}
    return atomic_write_json(Path(out_dir) / "joint_threshold_sweep.json", data)


def parse_thresholds(text: str) -> list[float]:
    """``"0,0.1,0.25"`` -> [0.0, 0.1, 0.25]; a clear error for anything else (not a number, not finite,
    repeated)."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or not all(np.isfinite(values)) or len(set(values)) != len(values):
        raise ConfigError(
            "--joint-thr-sweep: expected distinct finite numbers separated by commas, such as 0,0.1,0.2,0.3, "
            f"got {text!r}"
        )
    return values
