"""poseval-ready prediction files: one JSON per ground-truth sequence, same file name, same ``images`` list.

A prediction file repeats the GT file's ``images`` entries in the same order (poseval pairs frames by list
position, the PoseTrack21 kit by image id), carries the PoseTrack18 ``categories`` (poseval maps joints by
name), and lists per person ``image_id``, ``track_id`` (an int, unique within the frame, below 10000),
``keypoints`` (17 x (x, y, 1) floats; an undetected joint is ``0, 0, 0``) and ``scores`` (17 per-joint
floats).
Files are written to a temporary name and renamed, so a reader never sees half a file.

Legend: K = 17 joints in PoseTrack18 order.

    >>> write_predictions(gt_sequence, persons_per_frame, "pred/val/")   # -> pred/val/<gt name>.json
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..fileio import atomic_write_json
from ..skeleton import PT18
from .records import Frame, Person, Sequence

__all__ = ["MAX_TRACK_ID", "posetrack18_categories", "prediction_json", "write_predictions", "written_joints"]

#: poseval refuses track ids at or above this value.
MAX_TRACK_ID = 10000


def posetrack18_categories() -> list[dict[str, Any]]:
    """The PoseTrack18 ``categories`` entry (1-based skeleton, as in the dataset files)."""
    return [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(PT18.names),
            "skeleton": [[a + 1, b + 1] for a, b in PT18.limbs],
        }
    ]


def _image_entries(sequence: Sequence) -> list[dict[str, Any]]:
    """The GT file's own ``images`` list (PoseTrack18/21, as read), else one rebuilt from the frames."""
    if sequence.images is not None and len(sequence.images) == len(sequence.frames):
        return sequence.images
    return [_image_entry(frame, len(sequence.frames)) for frame in sequence.frames]


def _image_entry(frame: Frame, num_frames: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": frame.image_id,
        "file_name": frame.file_name,
        "frame_id": frame.image_id,
        "nframes": num_frames,
        "is_labeled": frame.is_labeled,
    }
    if frame.width and frame.height:
        entry["width"], entry["height"] = frame.width, frame.height
    if frame.ignore_regions:
        entry["ignore_regions_x"] = [r[:, 0].tolist() for r in frame.ignore_regions]
        entry["ignore_regions_y"] = [r[:, 1].tolist() for r in frame.ignore_regions]
    return entry


def written_joints(person: Person, joint_score_thr: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The joints a prediction file holds for ``person``: keypoints [K, 3] ((x, y, 1) for a written joint,
    (0, 0, 0) for one left out) and scores [K] (0 where left out). A joint is written when its position and
    score are finite, it is not at (0, 0), and its score is above ``joint_score_thr`` (None: any score). The
    score is ``person.joint_scores``, or the keypoints' third column without them."""
    kp = np.asarray(person.keypoints, dtype=np.float64)
    assert kp.shape == (PT18.num_joints, 3), kp.shape
    scores = kp[:, 2] if person.joint_scores is None else np.asarray(person.joint_scores, dtype=np.float64)
    detected = np.isfinite(kp[:, :2]).all(axis=1) & np.isfinite(scores) & ~((kp[:, 0] == 0) & (kp[:, 1] == 0))
    if joint_score_thr is not None:
        detected &= scores > joint_score_thr
    out_kp = np.zeros_like(kp)
    out_kp[detected, :2] = kp[detected, :2]
    out_kp[detected, 2] = 1.0
    return out_kp, np.where(detected, scores, 0.0)


def _person_entry(
    person: Person, image_id: int, ann_id: int, joint_score_thr: float | None
) -> dict[str, Any]:
    out_kp, out_scores = written_joints(person, joint_score_thr)
    entry: dict[str, Any] = {
        "image_id": image_id,
        "track_id": int(person.track_id),
        "category_id": 1,
        "keypoints": [float(v) for v in out_kp.ravel()],
        "scores": [float(v) for v in out_scores],
        "id": ann_id,
    }
    if math.isfinite(person.score):
        entry["score"] = float(person.score)
    if person.box is not None and np.isfinite(person.box).all():
        entry["bbox"] = [float(v) for v in person.box]
    return entry


def prediction_json(
    sequence: Sequence, persons_per_frame: list[list[Person]], joint_score_thr: float | None = None
) -> dict[str, Any]:
    """The prediction file's content for one GT sequence (see :func:`write_predictions`)."""
    where = sequence.source or sequence.name
    if len(persons_per_frame) != len(sequence.frames):
        raise DataFormatError(
            f"{where}: {len(persons_per_frame)} frames of predictions for a sequence of "
            f"{len(sequence.frames)} frames: give one (possibly empty) list of persons per GT frame"
        )
    annotations = []
    for f, (frame, persons) in enumerate(zip(sequence.frames, persons_per_frame, strict=True)):
        ids = [p.track_id for p in persons]
        for tid in ids:
            if isinstance(tid, bool) or not isinstance(tid, (int, np.integer)) or not 0 <= tid < MAX_TRACK_ID:
                raise DataFormatError(
                    f"{where}: frame {f} ({frame.file_name}): track_id {tid} is not an integer in "
                    f"[0, {MAX_TRACK_ID}): poseval refuses it; renumber the tracks"
                )
        if len(set(ids)) != len(ids):
            raise DataFormatError(
                f"{where}: frame {f} ({frame.file_name}): track ids {sorted(ids)} repeat: each person of a "
                "frame needs its own track id"
            )
        for person in persons:
            annotations.append(_person_entry(person, frame.image_id, len(annotations), joint_score_thr))
    return {
        "images": _image_entries(sequence),
        "annotations": annotations,
        "categories": posetrack18_categories(),
    }


def write_predictions(
    sequence: Sequence,
    persons_per_frame: list[list[Person]],
    out_path: str | Path,
    joint_score_thr: float | None = None,
) -> Path:
    """Write the poseval-ready prediction file of one GT sequence, atomically.

    Args:
        sequence: the ground-truth sequence (its frames; for PoseTrack18/21 files its ``images`` entries).
        persons_per_frame: one list of predicted persons per GT frame: ``keypoints`` [K, 3] (x, y, score),
            ``joint_scores`` [K] (None = use ``keypoints[:, 2]``), ``track_id`` (int, unique per frame).
        out_path: a folder (the file is ``<folder>/<sequence.name>.json``) or a ``.json`` path.
        joint_score_thr: joints scoring at or below this are written as undetected (0, 0, 0); None keeps all
            joints with finite coordinates. Tracking results should drop low-confidence joints.

    Returns:
        the written file.
    """
    out_path = Path(out_path)
    path = out_path if out_path.suffix == ".json" else out_path / f"{sequence.name}.json"
    return atomic_write_json(path, prediction_json(sequence, persons_per_frame, joint_score_thr))
