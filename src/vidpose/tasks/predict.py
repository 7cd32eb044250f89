"""Predict: a video, a frame folder or a PoseTrack JSON in; tracked poses (PoseTrack18 and COCO JSON) and a
rendered video out. The composition of the estimator (:class:`~vidpose.inference.VideoPoseEstimator`) and the
output writers (:func:`~vidpose.inference.predict_to_files`) behind ``vidpose predict``.

    >>> summary = predict("clip.mp4", "model.safetensors", "clip_poses/", boxes=BoxFile("dets.json"))
    >>> summary.paths["posetrack"], summary.fps
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.video_io import FrameSource
from ..inference import (
    BoxFile,
    BoxSource,
    FrameResult,
    GTBoxes,
    PredictSummary,
    VideoPoseEstimator,
    predict_to_files,
)

__all__ = ["predict", "box_source"]


def box_source(boxes: str | Path | None) -> BoxSource | None:
    """The box source a command-line ``--boxes`` value names: ``gt`` the input's GT boxes (:class:`GTBoxes`),
    anything else a box file (:class:`BoxFile`), None none (a detector is used)."""
    if boxes is None:
        return None
    return GTBoxes() if str(boxes) == "gt" else BoxFile(boxes)


def predict(
    source: str | Path,
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    root: str | Path | None = None,
    fps: float | None = None,
    strict_frames: bool = False,
    save_frames: bool = False,
    write_video: bool = True,
    draw_tentative: bool = False,
    on_frame: Callable[[FrameResult, int | None], None] | None = None,
    **estimator_args: Any,
) -> PredictSummary:
    """Estimate and track every person's pose in ``source`` and write the outputs into ``out_dir``.

    Args:
        source, root, fps: the input (:func:`vidpose.inference.open_input`).
        checkpoint: a vidpose model file.
        strict_frames: a video shorter than its container announces is an error (default: a warning).
        save_frames, write_video, draw_tentative, on_frame: see :func:`vidpose.inference.predict_to_files`.
        estimator_args: :class:`~vidpose.inference.VideoPoseEstimator`'s options (device, boxes, detector,
            flip_test, batch_size, amp, detect_every, share_features, num_frames).

    An output folder this call created is removed again when the run fails before writing anything.
    """
    out_dir = Path(out_dir)
    estimator = VideoPoseEstimator(checkpoint, **estimator_args)
    video = estimator.open(source, root=root, fps=fps)
    if isinstance(video.frames, FrameSource):
        video.frames.strict = strict_frames
    created = not out_dir.exists()
    try:
        return predict_to_files(
            estimator,
            video,
            out_dir,
            save_frames=save_frames,
            write_video=write_video,
            on_frame=on_frame,
            draw_tentative=draw_tentative,
        )
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # no empty folder left behind by a failed run
        raise
