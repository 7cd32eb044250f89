"""Folder-level PoseTrack evaluation and poseval's outputs: ``total_AP_metrics.json``,
``total_MOT_metrics.json`` (same keys, order and joint names as poseval) and its printed LaTeX-style tables.
In pt21 mode, tracking also gives the PoseTrack21 kit's keypoint HOTA (:mod:`.pose_hota`, whose
``write_pose_hota_results`` writes the kit's ``pose_hota_results.txt``).

    >>> report = evaluate_folders("gt/val", "pred/val", tracking=True)
    >>> print(format_table(report))
    >>> write_poseval_json(report, "out/")

Legend: J = 15 scored joints in poseval's id order; result arrays have J + 1 entries (last = Total).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.posetrack import read_predictions, read_sequences
from ..data.records import Sequence
from ..errors import DataFormatError
from ..fileio import atomic_write_json
from ..skeleton import POSEVAL_NAMES
from .error_diagnosis import ERROR_KINDS, ErrorDiagnosis, diagnose_matches
from .matching import MODES, match_sequences
from .pose_hota import HOTAResult, evaluate_hota
from .posetrack_ap import APResult, ap_from_matches
from .tracking_mota import MOTResult, mota_from_matches

__all__ = [
    "EvalReport",
    "POSEVAL_JOINT_NAMES",
    "TABLE_COLUMNS",
    "evaluate_folders",
    "read_folders",
    "table_values",
    "format_table",
    "write_poseval_json",
    "diagnosis_dict",
    "diagnosis_shares",
    "format_diagnosis",
    "write_diagnosis_json",
]

#: poseval's ``names`` entry of its JSON files, keys in poseval's order (its ``Joint().name`` dict).
POSEVAL_JOINT_NAMES: dict[str, str] = {
    "0": "right_ankle",
    "1": "right_knee",
    "2": "right_hip",
    "8": "right_shoulder",
    "7": "right_elbow",
    "6": "right_wrist",
    "5": "left_ankle",
    "4": "left_knee",
    "3": "left_hip",
    "9": "left_shoulder",
    "10": "left_elbow",
    "11": "left_wrist",
    "12": "neck",
    "13": "nose",
    "14": "head_top",
    "15": "total",
}

#: Table column -> poseval joint ids averaged into it (Total is the separate J + 1-th value).
TABLE_COLUMNS: dict[str, tuple[int, ...]] = {
    "Head": (14, 12, 13),
    "Shou": (8, 9),
    "Elb": (7, 10),
    "Wri": (6, 11),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankl": (0, 5),
}

_J = len(POSEVAL_NAMES)
_AP_HEADER = "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"
_MOT_HEADER = (
    "& MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTP & Prec & Rec  \\\\\n"
    "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total& Total& Total& Total\\\\"
)


@dataclass(frozen=True)
class EvalReport:
    """Result of :func:`evaluate_folders`.

    Attributes:
        ap: per-joint AP.
        mot: tracking metrics (MOTA, poseval's algorithm; in pt21 mode under the PoseTrack21 frame and
            keypoint rules), or None when tracking was not evaluated.
        sequences: names of the evaluated sequences, in evaluation order.
        num_frames: GT frames evaluated (after dropping frames without labels).
        mode: pt18 | pt21.
        hota: the PoseTrack21 kit's keypoint HOTA (pt21 mode with tracking), else None.
        diagnosis: the error diagnosis of the AP (:mod:`~vidpose.evaluation.error_diagnosis`), when asked.
    """

    ap: APResult
    mot: MOTResult | None
    sequences: tuple[str, ...]
    num_frames: int
    mode: str
    hota: HOTAResult | None = None
    diagnosis: ErrorDiagnosis | None = None


def read_folders(gt_dir: str | Path, pred_dir: str | Path) -> tuple[list[Sequence], list[Sequence]]:
    """Every GT sequence file of ``gt_dir`` and the prediction file of the same name in ``pred_dir`` (extra
    prediction files are ignored, as in poseval), in GT file-name order."""
    gt = read_sequences(gt_dir)
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DataFormatError(f"{pred_dir}: prediction folder not found")
    preds = []
    for seq in gt:
        path = pred_dir / f"{seq.name}.json"
        if not path.is_file():
            raise DataFormatError(
                f"{path}: prediction file missing for ground truth {seq.source}: write one prediction file "
                "per GT sequence, with the same file name (an empty `annotations` list if none)"
            )
        preds.append(read_predictions(path))
    return gt, preds


def evaluate_folders(
    gt_dir: str | Path,
    pred_dir: str | Path,
    tracking: bool = False,
    mode: str = "pt18",
    strict_hota: bool = False,
    diagnose: bool = False,
) -> EvalReport:
    """Evaluate every GT sequence file of ``gt_dir`` against the file of the same name in ``pred_dir``.

    Args:
        gt_dir: PoseTrack17 ``annolist`` or PoseTrack18/21 ground-truth files, one per sequence (or one file).
        pred_dir: prediction files with the GT file names (extra files are ignored, as in poseval).
        tracking: also compute MOTA / MOTP (needs consistent ``track_id`` values) and, in pt21 mode, the
            PoseTrack21 kit's keypoint HOTA.
        mode: pt18 (poseval) or pt21 (PoseTrack21 kit rules).
        strict_hota: fix the kit's empty-frame FN rule in HOTA (see :func:`.pose_hota.evaluate_hota`).
        diagnose: also classify every predicted joint's error and compute the AP of each fix
            (:func:`.error_diagnosis.diagnose_matches`).
    """
    if mode not in MODES:
        raise DataFormatError(f"unknown evaluation mode {mode!r}, expected one of {', '.join(MODES)}")
    gt, preds = read_folders(gt_dir, pred_dir)
    matches = match_sequences(gt, preds, mode)
    return EvalReport(
        ap=ap_from_matches(matches, mode),
        mot=mota_from_matches(matches, mode) if tracking else None,
        sequences=tuple(m.name for m in matches),
        num_frames=sum(m.num_frames for m in matches),
        mode=mode,
        hota=evaluate_hota(gt, preds, strict=strict_hota) if tracking and mode == "pt21" else None,
        diagnosis=diagnose_matches(matches, mode) if diagnose else None,
    )


# ------------------------------------------------------------------------------------------------- tables
def table_values(values: np.ndarray) -> list[float]:
    """[J + 1 + extra] -> the 7 column means (NaN propagates, as in poseval) followed by values[J:]."""
    values = np.asarray(values, dtype=np.float64)
    cols = [float(values[list(ids)].mean()) for ids in TABLE_COLUMNS.values()]
    return cols + [float(v) for v in values[_J:]]


def _row(cells: list[float]) -> str:
    fmt = [f"{f'{v:1.1f}':>5}" for v in cells]
    return "&" + "".join(c + " &" for c in fmt[:-1]) + fmt[-1] + " \\\\"


def format_table(result: EvalReport | APResult | MOTResult) -> str:
    """poseval's printed table(s) for a report, an AP result or a MOT result."""
    if isinstance(result, APResult):
        return f"{_AP_HEADER}\n{_row(table_values(result.ap))}"
    if isinstance(result, MOTResult):
        totals = [result.motp[_J:], result.precision[_J:], result.recall[_J:]]
        values = np.concatenate([result.mota, *totals])
        return f"{_MOT_HEADER}\n{_row(table_values(values))}"
    text = f"Average Precision (AP) metric:\n{format_table(result.ap)}"
    if result.mot is not None:
        text += f"\nMultiple Object Tracking (MOT) metrics:\n{format_table(result.mot)}"
    return text


# --------------------------------------------------------------------------------------------------- JSON


def write_poseval_json(result: EvalReport | APResult | MOTResult, out_dir: str | Path) -> list[Path]:
    """Write ``total_AP_metrics.json`` (``ap``, ``pre``, ``rec``, ``names``) and/or ``total_MOT_metrics.json``
    (``mota``, ``motp``, ``pre``, ``rec``, ``names``) in poseval's schema; returns the written paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(result, EvalReport):
        parts: list[APResult | MOTResult] = [result.ap] + ([result.mot] if result.mot is not None else [])
    else:
        parts = [result]
    written = []
    for part in parts:
        if isinstance(part, APResult):
            path = out_dir / "total_AP_metrics.json"
            obj = {"ap": part.ap.tolist(), "pre": part.precision.tolist(), "rec": part.recall.tolist()}
        else:
            path = out_dir / "total_MOT_metrics.json"
            obj = {
                "mota": part.mota.tolist(),
                "motp": part.motp.tolist(),
                "pre": part.precision.tolist(),
                "rec": part.recall.tolist(),
            }
        obj["names"] = dict(POSEVAL_JOINT_NAMES)
        atomic_write_json(path, obj)
        written.append(path)
    return written


def diagnosis_dict(d: ErrorDiagnosis) -> dict[str, Any]:
    """The diagnosis, JSON-ready: counts per kind, the AP and the AP after each fix in poseval joint order
    (AP lists end with Total), and the share of each kind per table column (:func:`diagnosis_shares`)."""
    return {
        "names": list(POSEVAL_NAMES),
        "counts": {k: v.tolist() for k, v in d.counts.items()},
        "ap": d.ap.tolist(),
        "ap_fixed": {k: v.tolist() for k, v in d.ap_fixed.items()},
        "shares": {"columns": [*TABLE_COLUMNS, "Total"], **diagnosis_shares(d)},
    }


def write_diagnosis_json(d: ErrorDiagnosis, out_dir: str | Path) -> Path:
    """Write :func:`diagnosis_dict` to ``out_dir/error_diagnosis.json`` (atomically)."""
    return atomic_write_json(Path(out_dir) / "error_diagnosis.json", diagnosis_dict(d))


def diagnosis_shares(d: ErrorDiagnosis) -> dict[str, list[float]]:
    """kind -> the share (%) of each :data:`ERROR_KINDS` kind among the assigned, annotated predicted joints
    per table column (Head ... Ankl) and over all joints (Total)."""
    scored = sum(d.counts[k] for k in ERROR_KINDS).astype(np.float64)  # [J]
    groups = [list(ids) for ids in TABLE_COLUMNS.values()] + [list(range(_J))]
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in ERROR_KINDS:
            out[k] = [float(100.0 * d.counts[k][ids].sum() / scored[ids].sum()) for ids in groups]
    return out


def format_diagnosis(d: ErrorDiagnosis) -> str:
    """Two Markdown tables: the share of each error kind per table column, and the AP after each fix."""
    columns = [*TABLE_COLUMNS, "Total"]
    head = "| | " + " | ".join(columns) + " |\n" + "|---" * (len(columns) + 1) + "|"
    lines = ["Predicted joints of assigned persons with an annotated GT joint, % per kind", "", head]
    for kind, cells in diagnosis_shares(d).items():
        lines.append(f"| {kind} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
    other = ", ".join(f"{k} {int(d.counts[k].sum())}" for k in ("no_gt", "unassigned", "not_predicted"))
    lines += ["", f"Other false positives and misses (joints): {other}", "", "AP after each fix", "", head]
    for name, ap in {"as measured": d.ap, **d.ap_fixed}.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in table_values(ap)) + " |")
    return "\n".join(lines)
