"""Dataset sanity check behind ``vidpose check-data``: every annotation file parses, the frames it names exist
on disk, frame counts agree, and an optional person-box (detections) file is well formed.

Annotation files are looked for in the split folders of ``ROOT/annotations`` (PoseTrack17/18) or
``ROOT/posetrack_data`` (PoseTrack21), else anywhere under ``ROOT``; frame paths (``file_name`` /
``image.name``) are relative to ``ROOT``, as in the released datasets. Problems are collected, not raised: the
report lists each one with the file and the field it concerns.

    >>> report = check_dataset("data/posetrack18", format="pt18")
    >>> report.ok, report.num_sequences, [str(p) for p in report.problems][:3]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataFormatError
from .boxes import labelled_joints, load_detections
from .posetrack import FORMATS, load_json, parse_sequence
from .records import Sequence

__all__ = ["Problem", "DataCheckReport", "check_dataset", "find_annotation_files"]

# Missing frames listed by name per sequence before the rest are only counted.
_SHOW_MISSING = 3


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the dataset.

    Attributes:
        file: the file concerned.
        field: the entry / field inside it (``images[3].nframes``), or "" for the file as a whole.
        message: what is wrong and what was expected.
    """

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


@dataclass
class DataCheckReport:
    """Summary of :func:`check_dataset`.

    Attributes:
        root: the dataset root; format: pt17 | pt18 | pt21.
        num_sequences: annotation files read without error.
        num_frames: image entries; num_labeled_frames: those with pose labels.
        num_persons: person entries; num_joints: annotated joints (format's rule).
        num_boxes: entries of the boxes file (None without one).
        detection_files: JSON files under the root that are person-detection lists, not annotations (they
            are not checked as annotations; pass one with ``boxes`` to check it).
        problems: everything found wrong.
    """

    root: str
    format: str
    num_sequences: int = 0
    num_frames: int = 0
    num_labeled_frames: int = 0
    num_persons: int = 0
    num_joints: int = 0
    num_boxes: int | None = None
    detection_files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_annotation_files(root: Path, exclude: Path | None = None) -> list[Path]:
    """The ``*.json`` annotation files of a dataset root (see the module docstring), sorted.

    Under ``annotations/`` or ``posetrack_data/`` with split folders (train, val, ...), only the files inside
    the split folders count: merged files beside them (MMPose's ``test_posetrack18_val.json``) repeat frames.
    """
    for sub in ("annotations", "posetrack_data"):
        if (root / sub).is_dir():
            base = root / sub
            nested = sorted(p for p in base.glob("*/**/*.json") if p.is_file())
            files = nested or sorted(p for p in base.glob("*.json") if p.is_file())
            break
    else:
        files = sorted(p for p in root.rglob("*.json") if p.is_file())
    if exclude is not None:
        files = [p for p in files if p.resolve() != exclude.resolve()]
    return files


def _looks_like_detections(data: Any) -> bool:
    """A JSON list of box records (COCO results or PoseWarper/DCPose): a detection file, not annotations."""
    return (
        isinstance(data, list)
        and len(data) > 0
        and all(isinstance(d, dict) and "bbox" in d and "score" in d for d in data[:50])
    )


def _split_error(err: DataFormatError, path: Path) -> Problem:
    """Turn a reader error ``"<file>: <field>: <message>"`` into a :class:`Problem`."""
    text = str(err)
    prefix = f"{path}: "
    if text.startswith(prefix):
        rest = text[len(prefix) :]
        head, sep, tail = rest.partition(": ")
        if sep and (" " not in head or head == "top level"):
            return Problem(str(path), head, tail)
        return Problem(str(path), "", rest)
    return Problem(str(path), "", text)


def _present_joints(seq: Sequence) -> int:
    return sum(int(labelled_joints(p.keypoints, seq.format).sum()) for f in seq.frames for p in f.persons)


def _check_frame_counts(path: Path, data: Any, problems: list[Problem]) -> None:
    """PoseTrack18/21: every image's ``nframes`` equals the number of image entries."""
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        return
    for i, image in enumerate(images):
        if isinstance(image, dict) and "nframes" in image and image["nframes"] != len(images):
            problems.append(
                Problem(
                    str(path),
                    f"images[{i}].nframes",
                    f"says {image['nframes']} frames but the file lists {len(images)} images (a video needs "
                    "every frame listed, labelled or not)",
                )
            )
            return


def _check_sequence(seq: Sequence, root: Path, problems: list[Problem]) -> None:
    path = str(seq.source)
    missing = [f.file_name for f in seq.frames if not (root / f.file_name).is_file()]
    if missing:
        shown = ", ".join(missing[:_SHOW_MISSING]) + (", ..." if len(missing) > _SHOW_MISSING else "")
        problems.append(
            Problem(
                path,
                "images[].file_name" if seq.format != "pt17" else "annolist[].image.name",
                f"{len(missing)} of {len(seq.frames)} frames not found under {root} ({shown})",
            )
        )
    for i, frame in enumerate(seq.frames):
        ids = [p.track_id for p in frame.persons]
        if len(set(ids)) != len(ids):
            problems.append(
                Problem(path, f"frame {i} ({frame.file_name})", f"track ids repeat: {sorted(ids)}")
            )
        for k, person in enumerate(frame.persons):
            if labelled_joints(person.keypoints).any() and person.head_box is None:
                problems.append(
                    Problem(
                        path,
                        f"frame {i} ({frame.file_name}) person {k}",
                        "has keypoints but no head box (PCKh evaluation needs bbox_head / x1,y1,x2,y2)",
                    )
                )


def _check_boxes(path: Path, sequences: list[Sequence], report: DataCheckReport) -> None:
    """A detection file, read by :func:`vidpose.data.boxes.load_detections` against the checked sequences."""
    try:
        detections = load_detections(path, sequences, score_thr=0.0)
    except DataFormatError as e:
        report.problems.append(_split_error(e, path))
        return
    report.num_boxes = sum(len(v) for v in detections.values())


def check_dataset(root: str | Path, format: str, boxes: str | Path | None = None) -> DataCheckReport:
    """Check a PoseTrack dataset folder and return a summary with every problem found.

    Args:
        root: the dataset root (frame paths in the annotations are relative to it).
        format: pt17 | pt18 | pt21 (each annotation file must be in this layout).
        boxes: an optional person-detection file (COCO results ``{image_id, bbox, score}`` or
            PoseWarper/DCPose ``{image_name, bbox, score}``), matched against the checked frames.
    """
    root = Path(root)
    if format not in FORMATS:
        raise DataFormatError(f"unknown format {format!r}, expected one of {', '.join(FORMATS)}")
    if not root.is_dir():
        raise DataFormatError(f"{root}: dataset root not found (expected a folder)")
    report = DataCheckReport(root=str(root), format=format)
    boxes_path = Path(boxes) if boxes is not None else None
    files = find_annotation_files(root, exclude=boxes_path)
    if not files:
        report.problems.append(Problem(str(root), "", "no .json annotation files found"))
    sequences: list[Sequence] = []
    for path in files:
        try:
            data = load_json(path)
            if _looks_like_detections(data):
                report.detection_files.append(str(path))
                continue
            seq = parse_sequence(data, path, format=format)
        except DataFormatError as e:
            report.problems.append(_split_error(e, path))
            continue
        report.num_sequences += 1
        report.num_frames += len(seq.frames)
        report.num_labeled_frames += sum(f.is_labeled for f in seq.frames)
        report.num_persons += sum(len(f.persons) for f in seq.frames)
        report.num_joints += _present_joints(seq)
        sequences.append(seq)
        if format != "pt17":
            _check_frame_counts(path, data, report.problems)
        _check_sequence(seq, root, report.problems)
    if boxes_path is not None:
        _check_boxes(boxes_path, sequences, report)
    return report
