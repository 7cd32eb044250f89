"""``VideoPoseEstimator``: a video in, tracked poses out, streamed frame by frame (the API of ``predict``).

Legend: M persons in a frame, B windows per model call, T frames per window (key frame T // 2), N tokens,
C backbone width, K = 17 joints, (H, W) model input, (h, w) heatmap. Boxes are ``[x, y, w, h]`` image pixels;
keypoints are [K, 3] (x, y, score) image pixels.

    >>> est = VideoPoseEstimator("model.safetensors", detector="hog")
    >>> for result in est("clip.mp4"):              # a generator: frames are decoded as results are consumed
    ...     for person in result.persons:
    ...         print(result.frame_index, person.track_id, person.keypoints[:, 2].mean())

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

*Per key frame.* Boxes come from the box source (a detector, a box file, GT boxes or a mapping), every
``detect_every`` frames; in between, each live track predicts its box from its own last keypoints and motion
(:meth:`PoseTracker.predict_box`). Each box gets a window (key frame + ``cfg.data.frame_offsets``) cut by ONE
affine from the key frame's box, enlarged ``cfg.data.bbox_scale`` (:class:`~vidpose.inference.crops.CropBox`,
the training crop). All windows of the gathered key frames go through the model in batches of ``batch_size``:
``encode_frames`` (backbone per frame) then ``decode_window`` (MLSME, SMML, head). The flip test mirrors the
crops, runs the same path and averages with :func:`vidpose.codec.flip_average`. The codec decodes the
heatmaps, the crop's inverse affine maps them to the image, and a joint's score is its heatmap maximum times
the box score.

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

*Identities.* Detected boxes (detector, box file, mapping) are tracked by :class:`PoseTracker` from their
poses (IoU + OKS). A track still tentative when its frame is emitted (seen fewer than ``tracker.min_hits``
frames in a row, e.g. a one-frame false positive or a person entering in the last frames) has ``track_id`` -1.
With ``boxes="gt"`` (PoseTrack input) the GT boxes keep their GT track ids and the tracker is not run: the
poses are then evaluated with the ground truth's boxes and identities, the usual "GT boxes" protocol;
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

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..codec import HeatmapCodec
from ..config import Config, TrackerConfig
from ..data.boxes import gt_person_boxes, load_detections
from ..data.clips import clamp_frames
from ..data.posetrack import load_json, read_sequence
from ..data.records import Frame, Sequence
from ..data.transforms import to_tensor_normalized
from ..data.video_io import DEFAULT_FOLDER_FPS, ImageFolderSource, open_source, read_image
from ..errors import CheckpointError, ConfigError, DataFormatError
from ..models.pose_model import PoseModel
from ..skeleton import PT18
from .crops import CropBox, CropStabilizer
from .detectors import build_detector, check_detections
from .estimator import WindowEstimator
from .tracker import PoseTracker, Track

__all__ = ["PersonResult", "FrameResult", "VideoInput", "VideoPoseEstimator", "open_input"]

#: (boxes [M, 4] xywh, scores [M], GT track ids [M] or None) per frame index.
BoxTable = dict[int, tuple[np.ndarray, np.ndarray, list[int] | None]]


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
class VideoInput:
    """An opened input: ``frames`` yields ``(index, frame [H, W, 3] RGB uint8)`` lazily.

    Attributes: ``name`` (output stem), ``kind`` (video | folder | posetrack | frames), ``num_frames``
    (None if unknown), ``fps``, ``sequence`` (PoseTrack input: its records, GT persons included),
    ``file_names`` (per frame, when known), ``path`` (the file or folder, None for an iterable).
    """

    name: str
    kind: Literal["video", "folder", "posetrack", "frames"]
    frames: Iterable[tuple[int, np.ndarray]]
    num_frames: int | None
    fps: float
    sequence: Sequence | None = None
    file_names: list[str] | None = None
    path: Path | None = None

    def frame_info(self, index: int) -> tuple[int | None, str | None]:
        """(image id, file name) of frame ``index`` when the input has them."""
        if self.sequence is not None and index < len(self.sequence.frames):
            frame = self.sequence.frames[index]
            return frame.image_id, frame.file_name
        if self.file_names is not None and index < len(self.file_names):
            return None, self.file_names[index]
        return None, None


# ----------------------------------------------------------------------------------------------- inputs
def _find_root(json_path: Path, file_name: str) -> Path:
    for parent in json_path.resolve().parents:
        if (parent / file_name).is_file():
            return parent
    raise DataFormatError(
        f"{json_path}: cannot find its images: no parent folder of the file holds {file_name!r} (the first "
        "`images[].file_name`, relative to the dataset root); pass the dataset root (--root)"
    )


def _posetrack_frames(seq: Sequence, root: Path) -> Iterator[tuple[int, np.ndarray]]:
    for frame in seq.frames:
        yield frame.index, read_image(root / frame.file_name)


def _enumerate_frames(frames: Iterable[Any]) -> Iterator[tuple[int, np.ndarray]]:
    for i, item in enumerate(frames):
        frame = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        yield i, frame


def open_input(
    source: str | Path | VideoInput | Iterable[Any], root: str | Path | None = None, fps: float | None = None
) -> VideoInput:
    """Open a video file, an image folder, a PoseTrack JSON (``root``: its dataset root, None = find it) or an
    iterable of frames as a lazy :class:`VideoInput`. ``fps``: rate of a folder, JSON or iterable (and of a
    video whose container has none). Raises :class:`DataFormatError` naming the input when it cannot be
    read."""
    if isinstance(source, VideoInput):
        return source
    rate = DEFAULT_FOLDER_FPS if fps is None else float(fps)
    if not isinstance(source, (str, Path)):
        num = len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]
        return VideoInput("frames", "frames", _enumerate_frames(source), num, rate)
    path = Path(source)
    if path.suffix.lower() == ".json":
        seq = read_sequence(path)
        if not seq.frames:
            raise DataFormatError(f"{path}: the sequence has no images")
        base = _find_root(path, seq.frames[0].file_name) if root is None else Path(root)
        return VideoInput(
            seq.name, "posetrack", _posetrack_frames(seq, base), len(seq), rate, sequence=seq, path=path
        )
    src = open_source(path, fps=rate)
    if isinstance(src, ImageFolderSource):
        names = [f"{path.name}/{p.name}" for p in src.files]
        return VideoInput(path.name, "folder", src, src.num_frames, src.fps, file_names=names, path=path)
    return VideoInput(path.stem, "video", src, src.num_frames, src.fps, path=path)


# ----------------------------------------------------------------------------------------------- boxes
def _clean(boxes: Any, scores: Any, ids: list[int] | None, score_thr: float | None, where: str) -> tuple:
    """Checked float64 boxes [M, 4], scores [M], ids; degenerate (w or h < 1) and low-score boxes dropped."""
    b, s = check_detections((boxes, scores), where)
    keep = (b[:, 2] >= 1.0) & (b[:, 3] >= 1.0)
    if score_thr is not None:
        keep &= s >= score_thr
    kept_ids = None if ids is None else [int(i) for i, k in zip(ids, keep, strict=True) if k]
    return b[keep].astype(np.float64), s[keep].astype(np.float64), kept_ids


def _gt_table(seq: Sequence, margin: float) -> BoxTable:
    table: BoxTable = {}
    for frame in seq.frames:
        boxes, scores, ids = [], [], []
        for person, box, _ in gt_person_boxes(frame, margin, seq.format):
            boxes.append(box)
            scores.append(person.score)
            ids.append(int(person.track_id))
        table[frame.index] = _clean(
            np.reshape(boxes, (-1, 4)), scores, ids, None, f"{seq.source}: frame {frame.index} GT boxes"
        )
    return table


def _box_file_sequence(video: VideoInput, path: Path) -> Sequence:
    """The frames a box file is matched against: the PoseTrack records, or placeholders (id = frame index)."""
    if video.sequence is not None:
        return video.sequence
    n = video.num_frames
    if n is None:  # a video whose container gives no frame count: cover every id the file names
        data = load_json(path)
        ids = [e.get("image_id", e.get("frame_id", 0)) for e in data if isinstance(e, dict)]
        n = 1 + max([int(i) for i in ids if isinstance(i, (int, float))] or [0])
    names = video.file_names or [f"{video.name}/{i:06d}.jpg" for i in range(n)]
    return Sequence(video.name, [Frame(image_id=i, index=i, file_name=names[i]) for i in range(n)])


def _file_table(path: Path, video: VideoInput, score_thr: float) -> BoxTable:
    seq = _box_file_sequence(video, path)
    table: BoxTable = {}
    for (_, index), dets in load_detections(path, [seq], score_thr).items():
        boxes = np.reshape([d[0] for d in dets], (-1, 4))
        table[index] = _clean(boxes, [d[1] for d in dets], None, None, f"{path}: frame {index}")
    return table


def _mapping_table(mapping: Mapping[int, Any], score_thr: float) -> BoxTable:
    table: BoxTable = {}
    for index, value in mapping.items():
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise DataFormatError(f"boxes[{index}]: expected (boxes [M, 4] xywh, scores [M])")
        table[int(index)] = _clean(value[0], value[1], None, score_thr, f"boxes[{index}]")
    return table


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
        boxes: instead of a detector: a box file (COCO results or PoseWarper/DCPose), "gt" (PoseTrack
            input: its GT boxes and track ids), or a mapping ``frame index -> (boxes [M, 4] xywh, scores
            [M])``.
        flip_test: None = ``cfg.eval.flip_test``.
        batch_size: windows per model call; None = ``cfg.eval.batch_size``.
        amp: autocast with ``amp_dtype`` (bfloat16 on CPU and CUDA, float16 on CUDA).
        detect_every: run the box source on every K-th frame only; tracks predict the boxes in between.
        share_features: stabilised crops and a per-(frame, crop) backbone feature cache (faster; the held
            crops differ from the key-frame crops of training, which costs accuracy); False (the default)
            crops every window from its key frame's box, exactly as ``vidpose evaluate`` does.
        tracker_cfg: None = ``cfg.tracker``.
        num_frames: T frames per window; None = the model's (see "Frames per window").
        frames_per_batch: key frames gathered before a model call (more = larger batches, a longer delay).
    """

    def __init__(
        self,
        checkpoint: str | Path | tuple[PoseModel, Config],
        device: str | torch.device = "cpu",
        detector: str | Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = "hog",
        boxes: str | Path | Mapping[int, Any] | None = None,
        flip_test: bool | None = None,
        batch_size: int | None = None,
        amp: bool = False,
        detect_every: int = 1,
        share_features: bool = False,
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
            self.model, self.codec, flip_test=self.flip_test, precision=amp_dtype if self.amp else "float32"
        )
        self.share_features = bool(share_features)
        self.tracker_cfg = cfg.tracker if tracker_cfg is None else tracker_cfg
        self.offsets = self._offsets(num_frames)
        self.max_offset = max(abs(o) for o in self.offsets)
        self.input_size = (int(cfg.codec.input_size[0]), int(cfg.codec.input_size[1]))
        if boxes is None and detector is None:
            raise ConfigError("no person boxes: give a detector or boxes (a box file, 'gt' or a mapping)")
        if isinstance(boxes, str) and boxes == "gt" and self.detect_every != 1:
            raise ConfigError(
                f"detect_every {self.detect_every} with GT boxes: GT boxes exist for every frame"
            )
        self.boxes = boxes
        self.detector = (
            None if boxes is not None else build_detector(detector) if isinstance(detector, str) else detector
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
        table: BoxTable | None = None
        cfg = self.cfg
        use_gt = isinstance(self.boxes, str) and self.boxes == "gt"
        if use_gt:
            if video.sequence is None:
                raise ConfigError(
                    f"boxes='gt' needs a PoseTrack JSON input, got a {video.kind} ({video.name})"
                )
            table = _gt_table(video.sequence, cfg.data.gt_box_margin)
        elif isinstance(self.boxes, (str, Path)):
            table = _file_table(Path(self.boxes), video, cfg.data.box_score_thr)
        elif isinstance(self.boxes, Mapping):
            table = _mapping_table(self.boxes, cfg.data.box_score_thr)
        elif self.boxes is not None:
            raise ConfigError(
                f"boxes: expected a box file, 'gt' or a mapping, got {type(self.boxes).__name__}"
            )
        return _Run(self, video, table, use_gt, return_frames).results()

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


# ----------------------------------------------------------------------------------------------- one video
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
class _Run:
    """The state of one video run: ring buffer, crops, feature cache, tracker, results waiting for ids."""

    est: VideoPoseEstimator
    video: VideoInput
    table: BoxTable | None
    use_gt: bool
    return_frames: bool
    frames: dict[int, np.ndarray] = field(default_factory=dict)
    num_read: int = 0
    next_key: int = 0
    pending: deque = field(default_factory=deque)

    def __post_init__(self) -> None:
        est = self.est
        self.first_size: tuple[int, ...] | None = None
        self.tracker = None if self.use_gt else PoseTracker(est.tracker_cfg)
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
        if self.table is not None:
            empty = (np.zeros((0, 4)), np.zeros(0), [] if self.use_gt else None)
            boxes, scores, ids = self.table.get(t, empty)
            return boxes, scores, ids, ids, None
        det = self.est.detector
        assert det is not None
        boxes, scores, _ = _clean(*det(self.frames[t]), None, self.est.cfg.data.box_score_thr, "detector")
        return boxes, scores, None, None, None

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
