"""Check data: a PoseTrack dataset folder (annotations, frames on disk, frame counts) and a person-box file,
summarised for a person (the job behind ``vidpose check-data``).

    >>> report = check_data("data/posetrack18", "pt18", boxes="data/posetrack18/dets.json")
    >>> report.ok, summary_rows(report)[0]
"""

from __future__ import annotations

from pathlib import Path

from ..data.check import DataCheckReport, Problem, check_dataset

__all__ = ["DataCheckReport", "Problem", "check_data", "summary_rows"]


def check_data(root: str | Path, fmt: str, boxes: str | Path | None = None) -> DataCheckReport:
    """Every problem of the dataset at ``root`` in layout ``fmt`` (pt17 | pt18 | pt21) and of ``boxes``
    (:func:`vidpose.data.check.check_dataset`); problems are collected, not raised."""
    return check_dataset(root, format=fmt, boxes=boxes)


def summary_rows(report: DataCheckReport) -> list[tuple[str, str]]:
    """``(name, value)`` rows of the summary table: counts, the boxes ("-" without a file), problems."""
    return [
        (name, str(value))
        for name, value in (
            ("sequences", report.num_sequences),
            ("frames", report.num_frames),
            ("labelled frames", report.num_labeled_frames),
            ("persons", report.num_persons),
            ("annotated joints", report.num_joints),
            ("boxes", "-" if report.num_boxes is None else report.num_boxes),
            ("problems", len(report.problems)),
        )
    ]
