"""Where the person boxes of the predict pipeline come from: one :class:`BoxSource` interface and its four
kinds, a detector (:class:`DetectorBoxes`), a box file (:class:`BoxFile`), the ground truth of a PoseTrack
input (:class:`GTBoxes`) and a callable or mapping of the user's (:class:`CallableBoxes`).

Legend: M persons in a frame. Boxes are ``[x, y, w, h]`` image pixels (float64 [M, 4]), scores [M].

A source is opened for one input (:meth:`BoxSource.open`: files are read then, before any frame is decoded),
which gives the function that returns the boxes of each key frame; a source can serve many inputs, one after
the other or at the same time. Degenerate boxes (w or h < 1) are dropped everywhere; detector,
callable and mapping boxes below ``data.box_score_thr`` too (a box file is filtered when it is read). Only
:class:`GTBoxes` gives identities (``identities = True``): its boxes keep their GT track ids and the tracker
is not run.

    >>> source = BoxFile("detections.json")            # or DetectorBoxes("hog"), GTBoxes(), CallableBoxes(f)
    >>> boxes_of = source.open(video, cfg.data)
    >>> boxes_of(0, frame)                             # FrameBoxes(boxes [M, 4], scores [M], track_ids)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..config import DataConfig
from ..data.boxes import gt_person_boxes, load_detections
from ..data.posetrack import load_json
from ..data.records import Frame, Sequence
from ..errors import ConfigError, DataFormatError
from .detectors import Detector, build_detector, check_detections
from .inputs import VideoInput

__all__ = [
    "FrameBoxes",
    "BoxSource",
    "DetectorBoxes",
    "BoxFile",
    "GTBoxes",
    "CallableBoxes",
    "as_box_source",
    "clean_boxes",
]

#: ``(frame index, frame RGB uint8 [H, W, 3]) -> FrameBoxes``: a source opened for one input
BoxesOf = Callable[[int, np.ndarray], "FrameBoxes"]


@dataclass
class FrameBoxes:
    """The boxes of one frame: ``boxes`` [M, 4] xywh float64, ``scores`` [M], ``track_ids`` [M] (GT
    identities) or None."""

    boxes: np.ndarray
    scores: np.ndarray
    track_ids: list[int] | None = None

    @classmethod
    def empty(cls, identities: bool = False) -> FrameBoxes:
        return cls(np.zeros((0, 4)), np.zeros(0), [] if identities else None)


def clean_boxes(
    boxes: Any, scores: Any, ids: list[int] | None, score_thr: float | None, where: str
) -> FrameBoxes:
    """Checked float64 boxes [M, 4], scores [M], ids; degenerate (w or h < 1) and low-score boxes dropped."""
    b, s = check_detections((boxes, scores), where)
    keep = (b[:, 2] >= 1.0) & (b[:, 3] >= 1.0)
    if score_thr is not None:
        keep &= s >= score_thr
    kept_ids = None if ids is None else [int(i) for i, k in zip(ids, keep, strict=True) if k]
    return FrameBoxes(b[keep].astype(np.float64), s[keep].astype(np.float64), kept_ids)


@runtime_checkable
class BoxSource(Protocol):
    """Person boxes per frame of one input.

    Attributes:
        identities: the boxes carry GT track ids (then the tracker is not run, and every frame has its boxes,
            so ``detect_every`` must be 1).
    """

    identities: bool

    def open(self, video: VideoInput, data: DataConfig) -> BoxesOf:
        """For ``video`` (files read and the input checked now, before any frame): the function giving the
        boxes of frame ``index`` from ``(index, frame)``."""
        ...


class _TableSource:
    """A source whose boxes are known per frame index before the run (GT, box file, mapping)."""

    identities = False

    def _read(self, video: VideoInput, data: DataConfig) -> dict[int, FrameBoxes]:
        raise NotImplementedError

    def open(self, video: VideoInput, data: DataConfig) -> BoxesOf:
        table = self._read(video, data)
        return lambda index, frame: table.get(index) or FrameBoxes.empty(self.identities)


class DetectorBoxes:
    """Boxes from a person detector run on each frame: "hog" | "whole" | "mediapipe"
    (:func:`~vidpose.inference.detectors.build_detector`) or a callable ``frame -> (boxes [M, 4] xywh,
    scores [M])``. Detections below ``data.box_score_thr`` are dropped."""

    identities = False

    def __init__(self, detector: str | Detector | Callable[[np.ndarray], Any] = "hog") -> None:
        self.detector = build_detector(detector) if isinstance(detector, str) else detector

    def open(self, video: VideoInput, data: DataConfig) -> BoxesOf:
        thr = data.box_score_thr
        return lambda index, frame: clean_boxes(*self.detector(frame), None, thr, "detector")


class CallableBoxes:
    """Boxes the caller gives per frame index: a callable ``(index, frame) -> (boxes [M, 4] xywh,
    scores [M])`` or a mapping ``index -> (boxes, scores)`` (frames it lacks have no boxes). Boxes below
    ``data.box_score_thr`` are dropped."""

    identities = False

    def __init__(self, boxes: Callable[[int, np.ndarray], Any] | Mapping[int, Any]) -> None:
        if not callable(boxes) and not isinstance(boxes, Mapping):
            raise ConfigError(
                f"CallableBoxes: expected a callable (index, frame) -> (boxes, scores) or a mapping, got "
                f"{type(boxes).__name__}"
            )
        self.source = boxes

    def open(self, video: VideoInput, data: DataConfig) -> BoxesOf:
        thr = data.box_score_thr
        if isinstance(self.source, Mapping):  # checked now, before any frame
            table = {int(i): self._checked(i, v, thr) for i, v in self.source.items()}
            return lambda index, frame: table.get(index) or FrameBoxes.empty()
        fn = self.source
        return lambda index, frame: self._checked(index, fn(index, frame), thr)

    @staticmethod
    def _checked(index: int, value: Any, thr: float) -> FrameBoxes:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise DataFormatError(f"boxes[{index}]: expected (boxes [M, 4] xywh, scores [M])")
        return clean_boxes(value[0], value[1], None, thr, f"boxes[{index}]")


class GTBoxes(_TableSource):
    """The GT boxes of a PoseTrack input with their GT track ids (the usual "GT boxes" protocol): the persons
    :func:`~vidpose.data.boxes.gt_person_boxes` scores (a box and a labelled joint), as evaluation does."""

    identities = True

    def _read(self, video: VideoInput, data: DataConfig) -> dict[int, FrameBoxes]:
        seq = video.sequence
        if seq is None:
            raise ConfigError(f"GT boxes need a PoseTrack JSON input, got a {video.kind} ({video.name})")
        table: dict[int, FrameBoxes] = {}
        for frame in seq.frames:
            found = gt_person_boxes(frame, data.gt_box_margin, seq.format)
            table[frame.index] = clean_boxes(
                np.reshape([b for _, b, _ in found], (-1, 4)),
                [p.score for p, _, _ in found],
                [int(p.track_id) for p, _, _ in found],
                None,
                f"{seq.source}: frame {frame.index} GT boxes",
            )
        return table


class BoxFile(_TableSource):
    """Boxes from a file (COCO results or PoseWarper/DCPose, :func:`vidpose.data.boxes.load_detections`),
    filtered at ``data.box_score_thr``. They match a PoseTrack input by image id or name, a video by
    ``image_id`` = 0-based frame index, a folder by ``image_id`` = index or ``image_name`` =
    ``<folder>/<file>``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _frames(self, video: VideoInput) -> Sequence:
        """The frames the file is matched against: the PoseTrack records, or placeholders (id = index)."""
        if video.sequence is not None:
            return video.sequence
        n = video.num_frames
        if n is None:  # a video whose container gives no frame count: cover every id the file names
            data = load_json(self.path)
            ids = [e.get("image_id", e.get("frame_id", 0)) for e in data if isinstance(e, dict)]
            n = 1 + max([int(i) for i in ids if isinstance(i, (int, float))] or [0])
        names = video.file_names or [f"{video.name}/{i:06d}.jpg" for i in range(n)]
        return Sequence(video.name, [Frame(image_id=i, index=i, file_name=names[i]) for i in range(n)])

    def _read(self, video: VideoInput, data: DataConfig) -> dict[int, FrameBoxes]:
        table: dict[int, FrameBoxes] = {}
        for (_, index), dets in load_detections(self.path, [self._frames(video)], data.box_score_thr).items():
            boxes = np.reshape([d[0] for d in dets], (-1, 4))
            table[index] = clean_boxes(boxes, [d[1] for d in dets], None, None, f"{self.path}: frame {index}")
        return table


def as_box_source(boxes: Any = None, detector: Any = None) -> BoxSource:
    """The :class:`BoxSource` of the estimator's ``boxes`` / ``detector`` arguments: a source as is, a path a
    :class:`BoxFile`, a mapping a :class:`CallableBoxes`; without boxes, the detector (a name or a
    callable) as :class:`DetectorBoxes`."""
    if boxes is None:
        if detector is None:
            raise ConfigError("no person boxes: give a detector or boxes (GTBoxes(), BoxFile(path), ...)")
        return detector if isinstance(detector, BoxSource) else DetectorBoxes(detector)
    if isinstance(boxes, BoxSource):
        return boxes
    if isinstance(boxes, str) and boxes == "gt":
        raise ConfigError("boxes='gt' is not a box file: pass boxes=GTBoxes() for the GT boxes")
    if isinstance(boxes, (str, Path)):
        return BoxFile(boxes)
    if isinstance(boxes, Mapping) or callable(boxes):
        return CallableBoxes(boxes)
    raise ConfigError(f"boxes: expected a BoxSource, a box file or a mapping, got {type(boxes).__name__}")
