"""Person boxes for the windows: ground truth (derived where PoseTrack17 has none) and detection files.

Legend: K joints. Boxes are ``[x, y, w, h]`` in image pixels.

Detection files (format detected from the first entry):

- COCO results: a JSON list of ``{"image_id", "bbox": [x, y, w, h], "score", "category_id"?}`` (MMPose's
  ``test_posetrack18_human_detections.json``); matched to frames by ``image_id``.
- PoseWarper / DCPose: a JSON list of ``{"image_name", "bbox": [x, y, w, h], "score", "category_id",
  "frame_id"?, "nframes"?}``; matched by ``image_name`` (the image path as in the annotations; another
  prefix is tolerated while ``<sequence folder>/<file>`` is unique), else by ``frame_id`` as the image id.

Entries whose ``category_id`` is present and not 1 (person) are skipped; so are detections of frames not among
the given sequences (a detection file usually covers a whole split).

    >>> dets = load_detections("val_boxes.json", sequences, score_thr=0.2)
    >>> dets[("000342_mpii_test", 0)]   # [(box [4], score), ...], best first
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import DataFormatError
from .posetrack import load_json
from .records import Frame, Person, Sequence

__all__ = [
    "Detections",
    "SCORED_MIN_JOINTS",
    "labelled_joints",
    "person_box",
    "gt_person_boxes",
    "load_detections",
]

#: (sequence name, frame index) -> [(box [4] xywh, score), ...] sorted by score, best first.
Detections = dict[tuple[str, int], list[tuple[np.ndarray, float]]]


def labelled_joints(keypoints: np.ndarray, fmt: str = "pt18") -> np.ndarray:
    """keypoints: [K, 3] raw annotation -> [K] bool, the joints that carry a label.

    PoseTrack17/18 (and poseval): a joint is labelled unless it is exactly (0, 0, 0); the PoseTrack21 kit
    counts a joint iff ``x > 0 and y > 0``. Non-finite coordinates never count.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    finite = np.isfinite(kp).all(axis=1)
    if fmt == "pt21":
        return finite & (kp[:, 0] > 0) & (kp[:, 1] > 0)
    return finite & ~((kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0))


def person_box(person: Person, margin: float, fmt: str = "pt18") -> np.ndarray | None:
    """The person's box [4] xywh; without one (PoseTrack17), the extent of its labelled keypoints and head box
    enlarged by ``margin`` x width / height on every side. None when there is nothing to build a box from."""
    if person.box is not None:
        box = np.asarray(person.box, dtype=np.float64).reshape(-1)
        if box.shape[0] == 4 and np.isfinite(box).all() and box[2] > 0 and box[3] > 0:
            return box
    pts = [
        np.asarray(person.keypoints, dtype=np.float64).reshape(-1, 3)[
            labelled_joints(person.keypoints, fmt), :2
        ]
    ]
    if person.head_box is not None:
        x, y, w, h = np.asarray(person.head_box, dtype=np.float64).reshape(-1)[:4]
        if np.isfinite([x, y, w, h]).all() and w > 0 and h > 0:
            pts.append(np.array([[x, y], [x + w, y + h]]))
    xy = np.concatenate(pts, axis=0)
    if xy.shape[0] == 0:
        return None
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    size = hi - lo
    if (size <= 0).any():
        return None
    lo, size = lo - margin * size, size * (1 + 2 * margin)
    return np.array([lo[0], lo[1], size[0], size[1]], dtype=np.float64)


#: The one rule for which GT persons are scored with GT boxes (``vidpose evaluate --boxes gt`` and
#: ``vidpose predict --boxes gt``): a box (own or derived) and at least this many labelled joints. poseval and
#: the PoseTrack21 kit drop GT persons without a labelled joint, so a pose for one could only be a false
#: positive.
SCORED_MIN_JOINTS = 1


def gt_person_boxes(
    frame: Frame, margin: float, fmt: str = "pt18", min_joints: int = SCORED_MIN_JOINTS
) -> list[tuple[Person, np.ndarray, np.ndarray]]:
    """The GT persons of ``frame`` that get a window, in annotation order: ``(person, box [4] xywh, labelled
    [K] bool)`` for each person with a box (:func:`person_box`) and at least ``min_joints`` labelled joints
    (training uses ``data.min_joints``; evaluation and prediction :data:`SCORED_MIN_JOINTS`)."""
    out = []
    for person in frame.persons:
        labelled = labelled_joints(person.keypoints, fmt)
        if int(labelled.sum()) < min_joints:
            continue
        box = person_box(person, margin, fmt)
        if box is not None:
            out.append((person, box, labelled))
    return out


# ----------------------------------------------------------------------------------------------- detections
def _number(entry: dict[str, Any], key: str, where: str) -> float:
    if key not in entry:
        raise DataFormatError(f"{where}: missing field '{key}'")
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataFormatError(f"{where}.{key} is {value!r}, expected a finite number")
    return float(value)


def _bbox(entry: dict[str, Any], where: str) -> np.ndarray:
    if "bbox" not in entry:
        raise DataFormatError(f"{where}: missing field 'bbox'")
    raw = entry["bbox"]
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        n = len(raw) if isinstance(raw, (list, tuple)) else type(raw).__name__
        raise DataFormatError(f"{where}.bbox has {n} values, expected 4 (x, y, w, h)")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in raw):
        raise DataFormatError(f"{where}.bbox is {raw!r}, expected 4 finite numbers (x, y, w, h)")
    return np.asarray(raw, dtype=np.float64)


def _path_keys(name: str) -> tuple[str, str]:
    """(normalised path, '<parent folder>/<file>') of an image path."""
    p = PurePosixPath(name.replace("\\", "/").lstrip("./"))
    return str(p), "/".join(p.parts[-2:])


class _FrameIndex:
    """Frames of the given sequences by image id, by path and by '<sequence folder>/<file>'."""

    def __init__(self, sequences: Iterable[Sequence]):
        self.by_id: dict[int, tuple[str, int] | None] = {}
        self.by_path: dict[str, tuple[str, int]] = {}
        self.by_tail: dict[str, tuple[str, int] | None] = {}
        self.num_frames = 0
        for seq in sequences:
            for frame in seq.frames:
                key = (seq.name, frame.index)
                self.num_frames += 1
                iid = int(frame.image_id)
                self.by_id[iid] = None if iid in self.by_id else key  # None = ambiguous
                path, tail = _path_keys(frame.file_name)
                self.by_path[path] = key
                self.by_tail[tail] = None if tail in self.by_tail else key

    def by_image_id(self, image_id: int, where: str) -> tuple[str, int] | None:
        if image_id in self.by_id and self.by_id[image_id] is None:
            raise DataFormatError(f"{where}.image_id {image_id} names frames of several sequences")
        return self.by_id.get(image_id)

    def by_name(self, name: str, where: str) -> tuple[str, int] | None:
        path, tail = _path_keys(name)
        if path in self.by_path:
            return self.by_path[path]
        if tail in self.by_tail and self.by_tail[tail] is None:
            raise DataFormatError(f"{where}.image_name {name!r} matches frames of several sequences")
        return self.by_tail.get(tail)


def _image_id(entry: dict[str, Any], key: str, where: str) -> int:
    value = entry[key]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise DataFormatError(f"{where}.{key} is {value!r}, expected an integer image id")
    return int(value)


def load_detections(path: str | Path, sequences: list[Sequence], score_thr: float) -> Detections:
    """Read a COCO or PoseWarper/DCPose detection file and group its person boxes by frame of ``sequences``.

    Returns ``{(sequence name, frame index): [(box [4] xywh, score), ...]}`` (best first) for every frame with
    at least one person detection of score >= ``score_thr``. Degenerate boxes (w or h <= 0) are dropped.
    Raises :class:`DataFormatError` naming the file, the entry and the field on malformed input, and when no
    detection matches any frame of the sequences.
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, list):
        raise DataFormatError(
            f"{path}: expected a JSON list of detections (COCO results or PoseWarper/DCPose), "
            f"got {type(data).__name__}"
        )
    index = _FrameIndex(sequences)
    out: Detections = {}
    num_matched = num_persons = 0
    fmt = None
    for i, entry in enumerate(data):
        where = f"{path}: [{i}]"
        if not isinstance(entry, dict):
            raise DataFormatError(f"{where} is not an object ({type(entry).__name__}), expected a detection")
        if fmt is None:
            if "image_name" in entry:
                fmt = "dcpose"
            elif "image_id" in entry:
                fmt = "coco"
            else:
                raise DataFormatError(
                    f"{where}: neither 'image_id' (COCO) nor 'image_name' (PoseWarper/DCPose); "
                    "cannot tell the format"
                )
        box = _bbox(entry, where)
        score = _number(entry, "score", where)
        if "category_id" in entry and entry["category_id"] != 1:
            continue
        num_persons += 1
        if fmt == "dcpose":
            if "image_name" in entry:
                if not isinstance(entry["image_name"], str):
                    raise DataFormatError(f"{where}.image_name is {entry['image_name']!r}, expected a string")
                key = index.by_name(entry["image_name"], where)
            elif "frame_id" in entry:
                key = index.by_image_id(_image_id(entry, "frame_id", where), where)
            else:
                raise DataFormatError(f"{where}: missing field 'image_name' (PoseWarper/DCPose detections)")
        else:
            if "image_id" not in entry:
                raise DataFormatError(f"{where}: missing field 'image_id' (COCO detections)")
            key = index.by_image_id(_image_id(entry, "image_id", where), where)
        if key is None:
            continue
        num_matched += 1
        if score < score_thr or box[2] <= 0 or box[3] <= 0:
            continue
        out.setdefault(key, []).append((box, score))
    if num_persons and not num_matched:
        how = "image_name" if fmt == "dcpose" else "image_id"
        raise DataFormatError(
            f"{path}: none of its {num_persons} person detections matches any of the "
            f"{index.num_frames} frames of the given sequences (matched by {how}); "
            "wrong detection file for this split?"
        )
    for dets in out.values():
        dets.sort(key=lambda d: -d[1])
    return out
