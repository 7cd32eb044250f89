"""``VideoPoseEstimator``: a video in, tracked poses out, streamed frame by frame (the API of ``predict``).

Legend: M persons in a frame, B windows per model call, T frames per window (key frame T // 2), N tokens,
C backbone width, K = 17 joints, (H, W) model input, (h, w) heatmap. Boxes are ``[x, y, w, h]`` image pixels;
keypoints are [K, 3] (x, y, score) image pixels.

    >>> est = VideoPoseEstimator("model.safetensors", detector="hog")
    >>> for result in est("clip.mp4"):              # a generator: frames are decoded as results are consumed
    ...     for person in result.persons:
    ...         print(result.frame_index, person.track_id, person.keypoints[:, 2].mean())

Rooms: :mod:`~vidpose.inference.inputs` opens the input, :mod:`~vidpose.inference.box_sources` gives
the boxes (one :class:`BoxSource` interface: detector, box file, GT, callable),
:mod:`~vidpose.inference.estimator` turns windows into keypoints (the estimator ``vidpose evaluate`` uses
too), :mod:`~vidpose.inference.streaming` schedules the frames; this module loads the model and composes
them.

Design
------
*Streaming.* Frames are read one at a time into a ring buffer. Key frame t is processed once frame
``t + max|offset|`` has been read (``frames_per_batch`` key frames are gathered first, so that their windows
share model calls), and its result is emitted once the tracker has seen ``tracker.min_hits - 1`` more key
frames (so the id of a track confirmed a little later is already known). The buffer therefore holds at most
``2 * max|offset| + frames_per_batch`` frames (plus, with ``return_frames``, references to the few frames
whose results wait for their ids), whatever the video's length. At the end the remaining key frames are
processed with their offsets clamped to the last frame (:func:`vidpose.data.clips.clamp_frames`, as in
training).

*Per key frame.* Boxes come from the box source (:class:`DetectorBoxes`, :class:`BoxFile`, :class:`GTBoxes`
or :class:`CallableBoxes`), every
``detect_every`` frames; in between, each live track predicts its box from its own last keypoints and motion
(:meth:`PoseTracker.predict_box`). Each box gets a window (key frame + ``cfg.data.frame_offsets``) cut by ONE
affine from the key frame's box, enlarged ``cfg.data.bbox_scale`` (:class:`~vidpose.inference.crops.CropBox`,
the training crop). All windows of the gathered key frames go through the model in batches of ``batch_size``:
``encode_frames`` (backbone per frame) then ``decode_window`` (MLSME, SMML, head). The flip test mirrors the
crops, runs the same path and averages with :func:`vidpose.codec.flip_average`. The codec decodes the
heatmaps, the crop's inverse affine maps them to the image, and a joint's score is its heatmap maximum times
the box score (all of it :class:`~vidpose.inference.estimator.WindowEstimator`).

*Shared per-frame work* (``share_features=True``). Crop boxes are stabilised per person
(:class:`~vidpose.inference.crops.CropStabilizer`): a crop is held while the person's box stays inside it with
``cfg.eval.crop_hold_margin`` and keeps its size within ``cfg.eval.crop_hold_scale_tol``, and re-centred
otherwise. Consecutive windows of a person then have the same affine, so the backbone features of each
(frame, crop, flipped) triple are computed once, kept in a cache evicted together with the ring buffer, and
reused by every window containing that frame: about 1 backbone pass per person-frame (2 with the flip test)
instead of T (2T). The person is followed from frame to frame by box overlap (by GT id, or by track for
predicted boxes), independently of the tracker, so that the crops of several key frames can be chosen before
their poses are known. ``share_features=False`` crops every window from its own key-frame box and runs the
backbone on all T frames of every window, exactly like evaluation; both paths give the same keypoints when the
boxes do not move.

*Identities.* Detected boxes (detector, box file, callable) are tracked by :class:`PoseTracker` from their
poses (IoU + OKS). A track still tentative when its frame is emitted (seen fewer than ``tracker.min_hits``
frames in a row, e.g. a one-frame false positive or a person entering in the last frames) has ``track_id`` -1.
With ``boxes=GTBoxes()`` (PoseTrack input) the GT boxes keep their GT track ids and the tracker is not run:
the poses are then evaluated with the ground truth's boxes and identities, the usual "GT boxes" protocol;
``detect_every`` must be 1.

*Inputs.* A video file, a folder of images (natural order), a PoseTrack JSON (PoseTrack17/18/21; the images
are ``root / file_name``, ``root`` given or found as the nearest parent folder of the JSON that holds the
first image), or any iterable of frames (RGB uint8 [H, W, 3], or ``(index, frame)`` pairs). Box files (COCO
results or PoseWarper/DCPose, :func:`vidpose.data.boxes.load_detections`) match a PoseTrack input by image id
or name, a video by ``image_id`` = 0-based frame index, a folder by ``image_id`` = index or ``image_name`` =
``<folder>/<file>``.

*Frames per window.* A temporal model runs with its own T only: its learnable temporal position embedding has
exactly ``model.num_frames`` rows, so another T is a :class:`ConfigError`. A single-frame model reads only the
key frame, so its windows are one frame whatever T is asked (T must still be odd).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..codec import HeatmapCodec
from ..config import Config, TrackerConfig
from ..data.transforms import to_tensor_normalized
from ..errors import CheckpointError, ConfigError
from ..models.pose_model import PoseModel
from ..skeleton import PT18
from .box_sources import BoxFile, BoxSource, CallableBoxes, DetectorBoxes, GTBoxes, as_box_source
from .crops import CropBox
from .estimator import WindowEstimator
from .inputs import VideoInput, open_input
from .streaming import FrameResult, PersonResult, StreamRun

__all__ = [
    "PersonResult",
    "FrameResult",
    "VideoInput",
    "VideoPoseEstimator",
    "open_input",
    "BoxSource",
    "DetectorBoxes",
    "BoxFile",
    "GTBoxes",
    "CallableBoxes",
]


# ----------------------------------------------------------------------------------------------- estimator
def _load(checkpoint: Any, device: torch.device) -> tuple[PoseModel, Config]:
    from ..models.serialization import load_model

    if isinstance(checkpoint, (str, Path)):
        model, cfg = load_model(checkpoint, device)
    elif isinstance(checkpoint, tuple) and len(checkpoint) == 2:
        model, cfg = checkpoint
        if not isinstance(model, PoseModel) or not isinstance(cfg, Config):
            raise CheckpointError(
                f"checkpoint: expected a model file path or (PoseModel, Config), got "
                f"({type(model).__name__}, {type(cfg).__name__})"
            )
        model = model.to(device).eval()
    else:
        raise CheckpointError(
            f"checkpoint: expected a model file path or (PoseModel, Config), got {checkpoint!r}"
        )
    if cfg.model.num_joints != PT18.num_joints:
        raise CheckpointError(
            f"checkpoint: a {cfg.model.num_joints}-joint model; predict needs the {PT18.num_joints}-joint "
            "PoseTrack18 layout"
        )
    return model, cfg


class VideoPoseEstimator:
    """Tracked multi-person poses of a video, streamed (see the module docstring for the design).

    Args:
        checkpoint: a vidpose model file, or ``(model, cfg)``.
        device: torch device ("cpu", "cuda", "cuda:1").
        detector: "hog" | "whole" | "mediapipe", any callable ``frame -> (boxes [M, 4] xywh, scores [M])``, or
            None (then ``boxes`` is required). Detections below ``cfg.data.box_score_thr`` are dropped.
        boxes: instead of a detector, a :class:`BoxSource`: :class:`GTBoxes` (PoseTrack input: its GT boxes
            and track ids), :class:`BoxFile` (COCO results or PoseWarper/DCPose; a plain path is one),
            :class:`CallableBoxes` (a mapping ``frame index -> (boxes [M, 4] xywh, scores [M])`` is one).
        flip_test: None = ``cfg.eval.flip_test``.
        batch_size: windows per model call; None = ``cfg.eval.batch_size``.
        amp: autocast with ``amp_dtype`` (bfloat16 on CPU and CUDA, float16 on CUDA); False =
            ``cfg.eval.precision``.
        detect_every: run the box source on every K-th frame only; tracks predict the boxes in between.
        share_features: stabilised crops and a per-(frame, crop) backbone feature cache (faster). A model
            trained with ``data.crop_hold`` was shown exactly these crops: None (the default) shares for it,
            and ``evaluate`` gives the same keypoints. For another model the held crops differ from the
            key-frame crops it was trained on, which costs accuracy, so None does not share: every window
            is cut from its key frame's box, exactly as ``vidpose evaluate`` does.
        tracker_cfg: None = ``cfg.tracker``.
        num_frames: T frames per window; None = the model's (see "Frames per window").
        frames_per_batch: key frames gathered before a model call (more = larger batches, a longer delay).
    """

    def __init__(
        self,
        checkpoint: str | Path | tuple[PoseModel, Config],
        device: str | torch.device = "cpu",
        detector: str | Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = "hog",
        boxes: BoxSource | str | Path | Mapping[int, Any] | None = None,
        flip_test: bool | None = None,
        batch_size: int | None = None,
        amp: bool = False,
        detect_every: int = 1,
        share_features: bool | None = None,
        tracker_cfg: TrackerConfig | None = None,
        num_frames: int | None = None,
        frames_per_batch: int = 4,
        amp_dtype: Literal["bfloat16", "float16"] = "bfloat16",
    ) -> None:
        self.device = torch.device(device)
        self.model, self.cfg = _load(checkpoint, self.device)
        cfg = self.cfg
        self.codec = HeatmapCodec(cfg.codec)
        self.flip_test = cfg.eval.flip_test if flip_test is None else bool(flip_test)
        self.batch_size = cfg.eval.batch_size if batch_size is None else int(batch_size)
        self.detect_every = int(detect_every)
        self.frames_per_batch = int(frames_per_batch)
        for name, value in (
            ("batch_size", self.batch_size),
            ("detect_every", self.detect_every),
            ("frames_per_batch", self.frames_per_batch),
        ):
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        self.amp = bool(amp)
        self.windows = WindowEstimator(
            self.model,
            self.codec,
            flip_test=self.flip_test,
            precision=amp_dtype if self.amp else cfg.eval.precision,
        )
        self.share_features = cfg.data.crop_hold if share_features is None else bool(share_features)
        self.tracker_cfg = cfg.tracker if tracker_cfg is None else tracker_cfg
        self.offsets = self._offsets(num_frames)
        self.max_offset = max(abs(o) for o in self.offsets)
        self.input_size = (int(cfg.codec.input_size[0]), int(cfg.codec.input_size[1]))
        self.box_source = as_box_source(boxes, detector)
        if self.box_source.identities and self.detect_every != 1:
            raise ConfigError(
                f"detect_every {self.detect_every} with GT boxes: GT boxes exist for every frame"
            )

    def _offsets(self, num_frames: int | None) -> tuple[int, ...]:
        m = self.cfg.model
        t = m.num_frames if num_frames is None else int(num_frames)
        if t < 1 or t % 2 == 0:
            raise ConfigError(
                f"frames: T must be a positive odd number (the key frame is the middle one), got {t}"
            )
        if not m.temporal:
            return (0,)
        if t != m.num_frames:
            raise ConfigError(
                f"frames: this temporal checkpoint was trained with T={m.num_frames} frames per window and "
                f"its learnable temporal position embedding has exactly {m.num_frames} rows; it cannot run "
                f"with T={t}"
            )
        return tuple(int(o) for o in self.cfg.data.frame_offsets)

    # ------------------------------------------------------------------------------------------- public
    def open(self, source: Any, root: str | Path | None = None, fps: float | None = None) -> VideoInput:
        """:func:`open_input` (errors surface here, before any frame is decoded)."""
        return open_input(source, root, fps)

    def __call__(
        self,
        source: Any,
        root: str | Path | None = None,
        fps: float | None = None,
        return_frames: bool = False,
    ) -> Iterator[FrameResult]:
        """Open ``source``; the generator of its :class:`FrameResult`, one per input frame, in order."""
        return self.run(self.open(source, root, fps), return_frames)

    def run(self, video: VideoInput, return_frames: bool = False) -> Iterator[FrameResult]:
        """The generator of :class:`FrameResult` of an opened input (box files read now, frames lazily)."""
        boxes_of = self.box_source.open(video, self.cfg.data)
        return StreamRun(self, video, self.box_source, boxes_of, return_frames).results()

    # ------------------------------------------------------------------------------------------- model
    def _encode(self, images: np.ndarray) -> list[tuple[Tensor, Tensor | None]]:
        """images [M, H, W, 3] uint8 -> M (feats [N, C], flipped feats [N, C] or None), in chunks."""
        out: list[tuple[Tensor, Tensor | None]] = []
        chunk = self.batch_size * len(self.offsets)
        for start in range(0, len(images), chunk):
            x = to_tensor_normalized(images[start : start + chunk], self.cfg.data.mean, self.cfg.data.std)
            feats, flipped = self.windows.encode(x)
            out.extend((feats[i], None if flipped is None else flipped[i]) for i in range(len(x)))
        return out

    def estimate(
        self,
        frames: Mapping[int, np.ndarray],
        windows: list[tuple[CropBox, tuple[int, ...]]],
        box_scores: np.ndarray,
        cache: dict | None,
    ) -> np.ndarray:
        """B windows ``(crop, T indices into frames)`` with their box scores [B] -> keypoints [B, K, 3]
        (x, y, heatmap maximum x box score) in image pixels, through :class:`WindowEstimator`.

        ``cache`` (shared path): ``(frame index, crop) -> (feats [N, C], flipped feats [N, C] or None)``; the
        missing entries are computed (once each), then every window reads its T entries. None: the backbone
        runs on all T crops of every window.
        """
        num_joints, t = self.cfg.model.num_joints, len(self.offsets)
        keypoints = np.zeros((len(windows), num_joints, 3))
        if cache is not None:
            missing: dict[CropBox, list[int]] = {}
            for crop, frame_ids in windows:
                todo = missing.setdefault(crop, [])
                todo.extend(f for f in dict.fromkeys(frame_ids) if (f, crop) not in cache and f not in todo)
            keys = [(f, crop) for crop, fs in missing.items() for f in fs]
            if keys:
                warped = [c.warp([frames[f] for f in fs], self.input_size) for c, fs in missing.items() if fs]
                cache.update(zip(keys, self._encode(np.concatenate(warped)), strict=True))
        for start in range(0, len(windows), self.batch_size):
            chunk = windows[start : start + self.batch_size]
            if cache is not None:  # [B * T] (feats, flipped) in window order
                entries = [cache[(f, c)] for c, ids in chunk for f in ids]
            else:
                warped = [c.warp([frames[f] for f in ids], self.input_size) for c, ids in chunk]
                entries = self._encode(np.concatenate(warped))
            feats = torch.stack([e[0] for e in entries]).unflatten(0, (len(chunk), t))
            flipped = (
                torch.stack([e[1] for e in entries]).unflatten(0, (len(chunk), t)) if self.flip_test else None
            )
            inv = np.stack([c.affine(self.input_size, inverse=True) for c, _ in chunk])
            scores = box_scores[start : start + len(chunk)]
            keypoints[start : start + len(chunk)] = self.windows.keypoints(feats, flipped, inv, scores)
        return keypoints
