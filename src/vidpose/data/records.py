"""Dataset records shared by the readers, the clip builder, the evaluator and the writers.

Legend: K = 17 joints in PoseTrack18 order. Coordinates are image pixels. Boxes are ``[x, y, w, h]``.
Keypoints keep the raw annotation values: a joint is annotated unless it is exactly ``(0, 0, 0)``
(PoseTrack17/18 rule); the PoseTrack21 kit counts a joint iff ``x > 0 and y > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Person", "Frame", "Sequence"]


@dataclass
class Person:
    """One person in one frame.

    Attributes:
        keypoints: [K, 3] (x, y, visibility or score).
        box: [4] person box xywh, or None when the source has none (PoseTrack17).
        head_box: [4] head box xywh, or None.
        track_id: identity within the sequence (-1 = unknown).
        score: person score (1.0 for ground truth).
        joint_scores: [K] per-joint scores for predictions, None for ground truth.
        person_id: PoseTrack21 identity across sequences, None elsewhere.
        attributes: dataset-specific scalar fields of the annotation, read once with it (the synthetic
            benchmark's ``hard``, ``occlusion``, ``blur``); empty for plain PoseTrack.
    """

    keypoints: np.ndarray
    box: np.ndarray | None = None
    head_box: np.ndarray | None = None
    track_id: int = -1
    score: float = 1.0
    joint_scores: np.ndarray | None = None
    person_id: int | None = None
    attributes: dict[str, bool | int | float | str] = field(default_factory=dict)


@dataclass
class Frame:
    """One frame of a sequence.

    Attributes:
        image_id: the JSON's image id (PT17: a synthetic id from the frame position).
        index: position of the frame in the sequence's image list (0-based); frames are ordered by the JSON.
        file_name: image path relative to the dataset root, as written in the JSON.
        is_labeled: whether this frame carries pose labels (unlabelled frames still serve as auxiliary
            frames).
        ignore_regions: polygons, each [P, 2] (x, y).
        persons: annotated (or predicted) persons.
        width, height: image size if known, else 0.
    """

    image_id: int
    index: int
    file_name: str
    is_labeled: bool = True
    ignore_regions: list[np.ndarray] = field(default_factory=list)
    persons: list[Person] = field(default_factory=list)
    width: int = 0
    height: int = 0


@dataclass
class Sequence:
    """One video: its frames in JSON order.

    Attributes:
        name: the annotation file's stem (prediction files must use the same file name).
        frames: every image entry of the JSON, in order.
        source: the file it was read from (None for in-memory sequences).
        format: pt17 | pt18 | pt21.
        images: the file's own ``images`` entries (PoseTrack18/21), kept verbatim so that prediction files
            can repeat them exactly; None for PoseTrack17 and in-memory sequences.
    """

    name: str
    frames: list[Frame]
    source: Path | None = None
    format: str = "pt18"
    images: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def only_frames(self, keep: set[int]) -> Sequence:
        """This sequence with the frames whose ``index`` is not in ``keep`` emptied of persons and marked
        unlabelled, so that the evaluators skip them (poseval skips frames without GT persons, the PoseTrack21
        kit unlabelled frames): a subset to score."""
        frames = [f if f.index in keep else replace(f, persons=[], is_labeled=False) for f in self.frames]
        return replace(self, frames=frames)
