"""Eval PoseTrack: a folder of prediction files scored against a folder of ground truth, like poseval (and,
in pt21 mode, the PoseTrack21 kit), with the official output files written (the job behind
``vidpose eval-posetrack``).

    >>> result = eval_posetrack("gt/", "pred/", "out/", tracking=True)
    >>> print(result.table); result.written
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..evaluation import (
    EvalReport,
    ThresholdPoint,
    best_threshold,
    evaluate_folders,
    format_diagnosis,
    format_pose_hota_results,
    format_sweep,
    format_table,
    sweep_folders,
    write_diagnosis_json,
    write_pose_hota_results,
    write_poseval_json,
    write_sweep_json,
)
from ..evaluation.joint_threshold import parse_thresholds  # the --joint-thr-sweep text, for the CLI

__all__ = ["PosetrackEvaluation", "eval_posetrack", "parse_thresholds"]


@dataclass(frozen=True)
class PosetrackEvaluation:
    """What :func:`eval_posetrack` found and wrote.

    Attributes:
        report: the evaluation (AP, MOTA with tracking, HOTA in pt21 mode with tracking).
        table: poseval's printed table(s).
        hota: the kit's ``pose_hota_results.txt`` text, or None without HOTA.
        written: the files written, in order (``total_AP_metrics.json``, ``total_MOT_metrics.json``,
            ``pose_hota_results.txt``, ``error_diagnosis.json``, ``joint_threshold_sweep.json``; those that
            apply).
        diagnosis: the error diagnosis tables (Markdown), or None when not asked.
        sweep: AP and MOTA at each joint-score threshold asked for
            (:mod:`vidpose.evaluation.joint_threshold`), or None.
        sweep_table: that sweep as a Markdown table with the best-MOTA threshold marked, or None.
    """

    report: EvalReport
    table: str
    hota: str | None
    written: list[Path]
    diagnosis: str | None = None
    sweep: list[ThresholdPoint] | None = None
    sweep_table: str | None = None


def eval_posetrack(
    gt_dir: str | Path,
    pred_dir: str | Path,
    out: str | Path,
    *,
    tracking: bool = False,
    mode: str = "pt18",
    strict_hota: bool = False,
    diagnose: bool = False,
    joint_thresholds: Sequence[float] | None = None,
) -> PosetrackEvaluation:
    """Evaluate ``pred_dir`` against ``gt_dir`` (:func:`vidpose.evaluation.evaluate_folders`) and write
    poseval's JSON files (and, with HOTA, the kit's results file; with ``diagnose``, the error diagnosis of
    :mod:`vidpose.evaluation.error_diagnosis`; with ``joint_thresholds``, AP and MOTA with the joints at or
    below each threshold dropped, which needs ``tracking``) into ``out``."""
    if joint_thresholds is not None and not tracking:
        raise ConfigError("a joint threshold sweep chooses the threshold by MOTA: evaluate with tracking")
    report = evaluate_folders(
        gt_dir, pred_dir, tracking=tracking, mode=mode, strict_hota=strict_hota, diagnose=diagnose
    )
    table = format_table(report)
    written = write_poseval_json(report, out)
    hota = None
    if report.hota is not None:
        hota = format_pose_hota_results(report.hota)
        written.append(write_pose_hota_results(report.hota, out))
    diagnosis = None
    if report.diagnosis is not None:
        diagnosis = format_diagnosis(report.diagnosis)
        written.append(write_diagnosis_json(report.diagnosis, out))
    sweep = sweep_table = None
    if joint_thresholds is not None:
        sweep = sweep_folders(gt_dir, pred_dir, joint_thresholds, mode)
        sweep_table = format_sweep(sweep, best_threshold(sweep))
        written.append(write_sweep_json(sweep, out))
    return PosetrackEvaluation(report, table, hota, written, diagnosis, sweep, sweep_table)
