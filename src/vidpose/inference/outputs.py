"""The files ``vidpose predict`` writes: PoseTrack18 and COCO-style JSON, rendered H.264 video and frames.

Legend: K = 17 joints (PoseTrack18 order); keypoints are (x, y, score) in image pixels; boxes ``[x, y, w, h]``
pixels.

For an input named ``<name>`` (video stem, folder name, PoseTrack JSON stem), in the output folder:

- ``<name>.json``: poseval-ready PoseTrack18 predictions
  (:func:`vidpose.data.posetrack_writer.write_predictions`): one ``images`` entry per input frame in order (a
  PoseTrack input's own entries), ``categories``, per person ``track_id`` (unique per frame), 51 keypoint
  values and 17 ``scores``. Persons whose track was never confirmed (id -1) are left out (poseval needs real
  ids); joints scoring at or below ``cfg.eval.joint_score_thr`` are written as undetected. Images of a video
  are named ``frames/<index:06d>.jpg`` (the ``--save-frames`` files).
- ``<name>.coco.json``: COCO keypoint style: ``images`` (id, file_name, width, height, frame_index),
  ``annotations`` (id, image_id, category_id 1, track_id, bbox, area, score = box score, keypoints as 17 x (x,
  y, score), keypoint_scores, num_keypoints = joints above the threshold), ``categories``. Unconfirmed persons
  are kept, with ``track_id`` -1.
- ``<name>.mp4``: every frame with each person's skeleton, box and id in its track's colour; a joint's disc
  grows with its confidence and joints below ``draw_score_thr`` are hidden. Unconfirmed persons (track -1:
  seen in fewer than ``tracker.min_hits`` frames in a row) are drawn only with ``draw_tentative``, as grey
  boxes labelled "?", so that the video shows what the PoseTrack JSON holds.
- ``frames/<index:06d>.jpg`` (``save_frames``): the rendered frames.

Nothing is half-written: the JSON files and the video appear under their names only when the run completes
(temp file + rename); a failure leaves only complete files (the frames rendered so far).

    >>> summary = predict_to_files(VideoPoseEstimator("model.safetensors"), "clip.mp4", "out/")
    >>> summary.paths["posetrack"], summary.fps
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.posetrack_writer import posetrack18_categories, write_predictions
from ..data.records import Frame, Person, Sequence
from ..data.video_io import VideoWriter
from ..errors import DataFormatError
from ..fileio import atomic_write_bytes, atomic_write_json
from .pipeline import FrameResult, VideoInput, VideoPoseEstimator
from .render import draw_poses

__all__ = ["PredictSummary", "PredictionWriter", "predict_to_files"]


@dataclass
class PredictSummary:
    """What :func:`predict_to_files` did: ``paths`` by kind (posetrack, coco, video, frames), ``num_frames``,
    ``num_person_frames``, ``num_tracks`` (distinct confirmed ids), wall ``seconds``."""

    paths: dict[str, Path]
    num_frames: int
    num_person_frames: int
    num_tracks: int
    seconds: float

    @property
    def fps(self) -> float:
        """Frames per second over the whole run (decoding, detection, model, writing)."""
        return self.num_frames / self.seconds if self.seconds > 0 else float("inf")


def _write_jpeg_atomic(rgb: np.ndarray, path: Path) -> None:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DataFormatError(f"{path}: OpenCV could not encode the frame as JPEG")
    atomic_write_bytes(path, data.tobytes())


@dataclass
class _FrameRecord:
    index: int
    image_id: int
    file_name: str
    size: tuple[int, int]
    persons: list[Person]


class PredictionWriter:
    """Collects :class:`FrameResult` one by one and writes the files of the module docstring.

    Frames are rendered into the video (and ``frames/``) as they come; the JSON files are written by
    :meth:`close`. Use as a context manager: leaving the block by an exception calls :meth:`abort`.

    Args:
        out_dir: output folder (created).
        video: the opened input (name, fps, PoseTrack records).
        joint_score_thr: see the module docstring (``cfg.eval.joint_score_thr``).
        write_video, save_frames: which renderings to write (both need ``FrameResult.frame``).
        draw_score_thr: joints below this are not drawn.
    """

    def __init__(
        self,
        out_dir: str | Path,
        video: VideoInput,
        joint_score_thr: float | None,
        write_video: bool = True,
        save_frames: bool = False,
        draw_score_thr: float = 0.3,
        draw_tentative: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.video = video
        self.joint_score_thr = joint_score_thr
        self.draw_score_thr = float(draw_score_thr)
        self.draw_tentative = bool(draw_tentative)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.frames_dir = self.out_dir / "frames" if save_frames else None
        if self.frames_dir is not None:
            self.frames_dir.mkdir(exist_ok=True)
        self._video_writer = (
            VideoWriter(self.out_dir / f"{video.name}.mp4", fps=video.fps) if write_video else None
        )
        self.records: list[_FrameRecord] = []

    def add(self, result: FrameResult) -> None:
        """Record one frame's poses; render it into the video / frames folder."""
        if result.frame_index != len(self.records):
            raise ValueError(
                f"PredictionWriter: frame {result.frame_index} arrived, expected {len(self.records)}"
            )
        persons = [
            Person(
                keypoints=p.keypoints.copy(),
                box=np.asarray(p.box, dtype=np.float64),
                track_id=int(p.track_id),
                score=float(p.score),
                joint_scores=p.keypoints[:, 2].copy(),
            )
            for p in result.persons
        ]
        default_name = (
            f"frames/{result.frame_index:06d}.jpg"
            if self.video.kind in ("video", "frames")
            else str(result.frame_index)
        )
        self.records.append(
            _FrameRecord(
                result.frame_index,
                result.frame_index if result.image_id is None else int(result.image_id),
                result.file_name or default_name,
                result.size,
                persons,
            )
        )
        if self._video_writer is None and self.frames_dir is None:
            return
        if result.frame is None:
            raise ValueError(
                "PredictionWriter: rendering needs FrameResult.frame (run with return_frames=True)"
            )
        shown = [p for p in persons if p.track_id >= 0 or self.draw_tentative]
        drawn = draw_poses(
            result.frame, [(p.track_id, p.box, p.keypoints) for p in shown], score_thr=self.draw_score_thr
        )
        if self._video_writer is not None:
            self._video_writer.write(drawn)
        if self.frames_dir is not None:
            _write_jpeg_atomic(drawn, self.frames_dir / f"{result.frame_index:06d}.jpg")

    # ------------------------------------------------------------------------------------------- JSON
    def _sequence(self) -> Sequence:
        seq = self.video.sequence
        if seq is not None:
            if len(seq.frames) != len(self.records):
                raise DataFormatError(
                    f"{seq.source}: {len(self.records)} frames were predicted for a sequence of "
                    f"{len(seq.frames)}"
                )
            return seq
        frames = [
            Frame(r.image_id, r.index, r.file_name, is_labeled=True, width=r.size[1], height=r.size[0])
            for r in self.records
        ]
        return Sequence(self.video.name, frames)

    def _coco(self) -> dict[str, Any]:
        thr = -np.inf if self.joint_score_thr is None else self.joint_score_thr
        images, annotations = [], []
        for r in self.records:
            images.append(
                {
                    "id": r.image_id,
                    "file_name": r.file_name,
                    "width": r.size[1],
                    "height": r.size[0],
                    "frame_index": r.index,
                }
            )
            for p in r.persons:
                box = [float(v) for v in p.box]
                annotations.append(
                    {
                        "id": len(annotations),
                        "image_id": r.image_id,
                        "category_id": 1,
                        "track_id": p.track_id,
                        "bbox": box,
                        "area": box[2] * box[3],
                        "score": p.score,
                        "keypoints": [float(v) for v in p.keypoints.ravel()],
                        "keypoint_scores": [float(v) for v in p.keypoints[:, 2]],
                        "num_keypoints": int((p.keypoints[:, 2] > thr).sum()),
                    }
                )
        info = {"description": f"vidpose predictions for {self.video.name}", "fps": self.video.fps}
        return {
            "info": info,
            "images": images,
            "annotations": annotations,
            "categories": posetrack18_categories(),
        }

    def close(self) -> dict[str, Path]:
        """Finish the video and write the JSON files -> their paths by kind."""
        paths: dict[str, Path] = {}
        if self._video_writer is not None:
            self._video_writer.close()
            paths["video"] = self._video_writer.path
        if self.frames_dir is not None:
            paths["frames"] = self.frames_dir
        confirmed = [[p for p in r.persons if p.track_id >= 0] for r in self.records]
        paths["posetrack"] = write_predictions(
            self._sequence(), confirmed, self.out_dir / f"{self.video.name}.json", self.joint_score_thr
        )
        paths["coco"] = self.out_dir / f"{self.video.name}.coco.json"
        atomic_write_json(paths["coco"], self._coco())
        return paths

    def abort(self) -> None:
        """Stop without writing the JSON files; the partial video is deleted."""
        if self._video_writer is not None:
            self._video_writer.abort()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()


def predict_to_files(
    estimator: VideoPoseEstimator,
    source: Any,
    out_dir: str | Path,
    root: str | Path | None = None,
    fps: float | None = None,
    save_frames: bool = False,
    write_video: bool = True,
    on_frame: Callable[[FrameResult, int | None], None] | None = None,
    draw_tentative: bool = False,
) -> PredictSummary:
    """Run ``estimator`` on ``source`` (see :func:`vidpose.inference.pipeline.open_input`) and write every
    output into ``out_dir``. ``on_frame(result, total frames or None)`` is called after each frame (progress
    display). ``draw_tentative``: also draw unconfirmed persons (grey "?") in the video."""
    start = time.perf_counter()
    video = estimator.open(source, root, fps)
    results = estimator.run(video, return_frames=write_video or save_frames)
    num_persons = 0
    tracks: set[int] = set()
    with PredictionWriter(
        out_dir,
        video,
        estimator.cfg.eval.joint_score_thr,
        write_video=write_video,
        save_frames=save_frames,
        draw_tentative=draw_tentative,
    ) as writer:
        for result in results:
            writer.add(result)
            num_persons += len(result.persons)
            tracks.update(p.track_id for p in result.persons if p.track_id >= 0)
            if on_frame is not None:
                on_frame(result, video.num_frames)
        paths = writer.close()
    return PredictSummary(paths, len(writer.records), num_persons, len(tracks), time.perf_counter() - start)
