"""Streaming: one video through the estimator, frame by frame, with a bounded buffer (the scheduler of
:class:`~vidpose.inference.pipeline.VideoPoseEstimator`; its module docstring describes the design).

Frames are read one at a time into a ring buffer. Key frame t is processed once frame ``t + max|offset|``
has been read (``frames_per_batch`` key frames are gathered first, so that their windows share model calls),
and its result is emitted once the tracker has seen ``tracker.min_hits - 1`` more key frames. At the end the
remaining key frames are processed with their offsets clamped to the last frame
(:func:`vidpose.data.clips.clamp_frames`, as in training).

Legend: M persons in a frame, K joints. Boxes are ``[x, y, w, h]`` image pixels; keypoints [K, 3] (x, y,
score) image pixels.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..data.clips import clamp_frames
from ..errors import DataFormatError
from .box_sources import BoxesOf, BoxSource
from .crops import CropBox, CropStabilizer
from .inputs import VideoInput
from .tracker import PoseTracker, Track

if TYPE_CHECKING:
    from .pipeline import VideoPoseEstimator

__all__ = ["PersonResult", "FrameResult", "StreamRun"]


@dataclass
class PersonResult:
    """One person in one frame: ``track_id`` (-1 = track not confirmed), ``box`` [4] xywh, ``score`` (the
    box's), ``keypoints`` [K, 3] (x, y, score) in image pixels, score = heatmap maximum x box score."""

    track_id: int
    box: np.ndarray
    score: float
    keypoints: np.ndarray


@dataclass
class FrameResult:
    """The poses of one input frame. ``image_id`` / ``file_name``: from the PoseTrack JSON or the folder, else
    None; ``size`` (H, W); ``frame`` [H, W, 3] RGB when asked for (``return_frames``)."""

    frame_index: int
    image_id: int | None
    file_name: str | None
    size: tuple[int, int]
    persons: list[PersonResult]
    frame: np.ndarray | None = None


@dataclass
class _Pending:
    """A processed key frame waiting for its track ids."""

    index: int
    size: tuple[int, int]
    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    ids: list[int] | list[Track]
    frame: np.ndarray | None = None


@dataclass
class StreamRun:
    """The state of one video run: ring buffer, crops, feature cache, tracker, results waiting for ids."""

    est: VideoPoseEstimator
    video: VideoInput
    source: BoxSource
    boxes_of: BoxesOf
    return_frames: bool
    frames: dict[int, np.ndarray] = field(default_factory=dict)
    num_read: int = 0
    next_key: int = 0
    pending: deque = field(default_factory=deque)

    def __post_init__(self) -> None:
        est = self.est
        self.first_size: tuple[int, ...] | None = None
        self.tracker = None if self.source.identities else PoseTracker(est.tracker_cfg)
        self.id_delay = 0 if self.tracker is None else est.tracker_cfg.min_hits - 1
        self.cache: dict | None = {} if est.share_features else None
        self.stabilizer = (
            CropStabilizer(
                est.input_size,
                est.cfg.data.bbox_scale,
                est.cfg.eval.crop_hold_margin,
                est.cfg.eval.crop_hold_scale_tol,
            )
            if est.share_features
            else None
        )

    def results(self) -> Iterator[FrameResult]:
        for _, frame in self.video.frames:
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise DataFormatError(
                    f"{self.video.name}: frame {self.num_read}: expected RGB uint8 [H, W, 3], got "
                    f"{frame.dtype} {list(frame.shape)}"
                )
            if self.first_size is None:
                self.first_size = frame.shape[:2]
            elif frame.shape[:2] != self.first_size:
                _, file_name = self.video.frame_info(self.num_read)
                (h, w), (h0, w0) = frame.shape[:2], self.first_size
                raise DataFormatError(
                    f"{self.video.path or self.video.name}: frame {self.num_read}"
                    f"{f' ({file_name})' if file_name else ''} is {h}x{w}, frame 0 is {h0}x{w0}; the frames "
                    "of one input must have one size (tracks follow pixel positions): resize them first"
                )
            self.frames[self.num_read] = frame
            self.num_read += 1
            yield from self._advance(final=False)
        if self.num_read == 0:
            raise DataFormatError(f"{self.video.path or self.video.name}: the input has no frames")
        yield from self._advance(final=True)

    # ------------------------------------------------------------------------------------------- scheduling
    def _is_detect_frame(self, index: int) -> bool:
        return self.est.detect_every == 1 or index % self.est.detect_every == 0

    def _ready(self, index: int, final: bool) -> bool:
        return index < self.num_read and (final or index + self.est.max_offset < self.num_read)

    def _group(self, final: bool) -> list[int]:
        """The next key frames to process together; [] to wait for more frames."""
        t = self.next_key
        if not self._ready(t, final):
            return []
        group = [t]
        while len(group) < self.est.frames_per_batch and self._is_detect_frame(t + len(group)):
            if not self._ready(t + len(group), final):
                return group if final else []  # the batch could still grow: wait for its frames
            group.append(t + len(group))
        return group

    def _advance(self, final: bool) -> Iterator[FrameResult]:
        while group := self._group(final):
            self._process(group)
            oldest = self.next_key - self.est.max_offset  # the oldest frame a future window reads
            for f in [f for f in self.frames if f < oldest]:
                del self.frames[f]
            if self.cache is not None:
                for key in [k for k in self.cache if k[0] < oldest]:
                    del self.cache[key]
        done = self.next_key - 1  # the last key frame whose tracking is done
        while self.pending and (final or self.pending[0].index + self.id_delay <= done):
            yield self._emit(self.pending.popleft())

    # ------------------------------------------------------------------------------------------- one batch
    def _boxes(
        self, t: int
    ) -> tuple[np.ndarray, np.ndarray, list[int] | None, list | None, list[Track | None] | None]:
        """boxes [M, 4], scores [M], GT ids or None, stabiliser keys or None, and (frames without
        detection) the track each box was predicted from, for key frame t."""
        # Tracks present in the last frame: matched to a detection, or carried by their own predicted box.
        live = [] if self.tracker is None else [tr for tr in self.tracker.tracks if tr.misses == tr.coasting]
        if not self._is_detect_frame(t) and live:
            assert self.tracker is not None
            boxes = np.stack([self.tracker.predict_box(tr) for tr in live])
            keep = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] >= 1.0) & (boxes[:, 3] >= 1.0)
            scores = np.array([tr.score for tr in live], dtype=np.float64)[keep]
            keys = [("track", tr.uid) for tr, k in zip(live, keep, strict=True) if k]
            sources: list[Track | None] = [tr for tr, k in zip(live, keep, strict=True) if k]
            return boxes[keep], scores, None, keys, sources
        found = self.boxes_of(t, self.frames[t])
        return found.boxes, found.scores, found.track_ids, found.track_ids, None

    def _process(self, group: list[int]) -> None:
        est = self.est
        per_frame = []
        windows: list[tuple[CropBox, tuple[int, ...]]] = []
        box_scores: list[np.ndarray] = []
        for t in group:
            boxes, scores, ids, keys, sources = self._boxes(t)
            if self.stabilizer is not None:
                crops = self.stabilizer.assign(boxes, keys)
            else:
                crops = [CropBox.from_box(b, est.input_size, est.cfg.data.bbox_scale) for b in boxes]
            frame_ids = clamp_frames(t, est.offsets, self.num_read)
            windows.extend((c, frame_ids) for c in crops)
            box_scores.append(scores)
            per_frame.append((t, boxes, scores, ids, sources))
        keypoints = est.estimate(self.frames, windows, np.concatenate(box_scores), self.cache)
        start = 0
        for t, boxes, scores, ids, sources in per_frame:
            m = len(boxes)
            kp = keypoints[start : start + m]
            start += m
            refs: list = (
                ids if self.tracker is None else self.tracker.update_tracks(boxes, scores, kp, given=sources)
            )
            frame = self.frames[t]
            self.pending.append(
                _Pending(t, frame.shape[:2], boxes, scores, kp, refs, frame if self.return_frames else None)
            )
        self.next_key = group[-1] + 1

    def _emit(self, p: _Pending) -> FrameResult:
        ids = [r.track_id if isinstance(r, Track) else int(r) for r in p.ids]
        persons = [
            PersonResult(tid, box, float(score), kp)
            for tid, box, score, kp in zip(ids, p.boxes, p.scores, p.keypoints, strict=True)
        ]
        image_id, file_name = self.video.frame_info(p.index)
        return FrameResult(p.index, image_id, file_name, (int(p.size[0]), int(p.size[1])), persons, p.frame)
