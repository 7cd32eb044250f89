"""PoseTrack evaluation: a native, vectorised reimplementation of poseval (AP and MOTA, PoseTrack17/18) and of
the PoseTrack21 kit's pose AP and keypoint HOTA, with poseval's JSON outputs and tables and the kit's
``pose_hota_results.txt``.

    >>> from vidpose.evaluation import evaluate_folders, format_table
    >>> print(format_table(evaluate_folders("gt/", "pred/", tracking=True)))
"""

from __future__ import annotations

from .error_diagnosis import ERROR_KINDS, ErrorDiagnosis, diagnose_errors
from .joint_threshold import (
    ThresholdPoint,
    best_threshold,
    drop_joints_at_or_below,
    format_sweep,
    sweep_folders,
    sweep_joint_threshold,
    write_sweep_json,
)
from .matching import MODES, SequenceMatch, match_sequences, points_in_polygons
from .pose_hota import HOTAResult, evaluate_hota, format_pose_hota_results, write_pose_hota_results
from .posetrack_ap import APResult, evaluate_ap
from .report import (
    EvalReport,
    evaluate_folders,
    format_diagnosis,
    format_table,
    read_folders,
    write_diagnosis_json,
    write_poseval_json,
)
from .tracking_mota import ClearMotAccumulator, MOTResult, evaluate_mota

__all__ = [
    "MODES",
    "APResult",
    "MOTResult",
    "HOTAResult",
    "EvalReport",
    "SequenceMatch",
    "ClearMotAccumulator",
    "evaluate_ap",
    "evaluate_mota",
    "evaluate_hota",
    "format_pose_hota_results",
    "write_pose_hota_results",
    "evaluate_folders",
    "format_table",
    "write_poseval_json",
    "match_sequences",
    "ERROR_KINDS",
    "ErrorDiagnosis",
    "diagnose_errors",
    "format_diagnosis",
    "write_diagnosis_json",
    "points_in_polygons",
    "read_folders",
    "ThresholdPoint",
    "sweep_joint_threshold",
    "sweep_folders",
    "best_threshold",
    "format_sweep",
    "drop_joints_at_or_below",
    "write_sweep_json",
]
