"""The torch Dataset of windows: frames from disk -> one affine crop -> normalised clip, targets, meta.

Legend: T frames, K joints, (H, W) input size, (h, w) heatmap size.

One item (a dict; torch's default collate stacks a list of them into a batch):

==================  ===============  =================================================================
key                 shape, dtype     meaning
==================  ===============  =================================================================
clip                [T, 3, H, W] f32 normalised RGB crops, key frame in the middle slot
target              [K, h, w] f32    Gaussian heatmaps of the key frame (zeros without keypoints)
target_weight       [K] f32          1 for labelled joints inside the crop, else 0
keypoints           [K, 3] f32       (x, y, labelled) in input pixels (zeros without keypoints)
center, size_wh     [2] f32          crop centre (x, y) and size (w, h) in image pixels
rotation            [] f32           crop rotation in degrees
flipped             [] bool          the crop is mirrored
inv_affine          [2, 3] f64       input pixels -> image pixels (``codec.to_image_coords``)
box                 [4] f32          the window's box xywh in image pixels
box_score           [] f32           1 for ground truth, the detector's score otherwise
sequence_index      [] i64           index into the sequence list
frame_index         [] i64           key frame index in the sequence
frame_indices       [T] i64          the T frame indices actually used
track_id, image_id  [] i64           GT track id (-1 for detections), the key frame's image id
window_index        [] i64           the item's index
==================  ===============  =================================================================

Randomness of an item (augmentation, resampled offsets) is a pure function of ``(seed, epoch, rank, index)``:
the dataset owns it, and :class:`vidpose.engine.sampler.EpochLoader` selects the stream by calling
:meth:`PoseTrackWindows.set_epoch` before each epoch. Items therefore change from epoch to epoch, differ
between DDP ranks, do not depend on the number of workers, and an interrupted run repeats them on resume.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..codec import HeatmapCodec
from ..config import Config, DataConfig
from ..errors import ConfigError
from ..skeleton import PT18
from .boxes import SCORED_MIN_JOINTS, Detections, gt_person_boxes, load_detections
from .clips import Window, build_windows, clamp_frames, sample_offsets
from .corruptions import motion_blur, occlude
from .records import Sequence
from .transforms import Sample, build_pipeline, sample_from_box, to_tensor_normalized
from .video_io import read_image

__all__ = ["PoseTrackWindows", "build_dataset"]


class PoseTrackWindows(Dataset):
    """Windows of PoseTrack-style sequences as training / evaluation items (see the module docstring).

    Args:
        sequences: the records the windows index into.
        root: dataset root; a frame is read from ``root / frame.file_name``.
        windows: from :func:`vidpose.data.clips.build_windows` over the same ``sequences``.
        cfg: the whole :class:`Config` or its :class:`DataConfig` (offsets, box scale, normalisation,
            augmentation, frame cache); items without keypoints have K = ``model.num_joints`` (17 given
            a DataConfig).
        codec: the heatmap codec (input and heatmap sizes, targets).
        train: augment (``cfg.augment``) and resample offsets (``cfg.resample_offsets``); False = plain crops.
        seed: base seed of the per-item generators (``train.seed`` in :func:`build_dataset`).
    """

    def __init__(
        self,
        sequences: list[Sequence],
        root: str | Path,
        windows: list[Window],
        cfg: Config | DataConfig,
        codec: HeatmapCodec,
        train: bool,
        seed: int = 0,
    ):
        data_cfg = cfg.data if isinstance(cfg, Config) else cfg
        self.sequences = sequences
        self.root = Path(root)
        self.windows = windows
        self.cfg = data_cfg
        self.codec = codec
        self.train = train
        self.seed = int(seed)
        self.epoch = 0
        self.rank = 0
        #: K of items without keypoints (detected boxes)
        self.num_joints = cfg.model.num_joints if isinstance(cfg, Config) else PT18.num_joints
        self.pipeline = build_pipeline(data_cfg, codec.input_size, train)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.windows)

    def set_epoch(self, epoch: int, rank: int = 0) -> None:
        """Select the augmentation stream of ``epoch`` on process ``rank`` (items are a function of
        seed, epoch, rank and index)."""
        self.epoch = int(epoch)
        self.rank = int(rank)

    def item_rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch and rank."""
        return np.random.default_rng([self.seed, self.epoch, self.rank, int(index)])

    def load_frame(self, sequence: int, frame: int) -> np.ndarray:
        """Frame ``frame`` of sequence ``sequence`` as [h_img, w_img, 3] uint8 RGB (read-only; cached)."""
        path = self.root / self.sequences[sequence].frames[frame].file_name
        key = str(path)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        image = read_image(path)
        image.flags.writeable = False
        if self.cfg.frame_cache > 0:
            self._cache[key] = image
            while len(self._cache) > self.cfg.frame_cache:
                self._cache.popitem(last=False)
        return image

    def _probe_key_frame(self, w: Window, key: np.ndarray) -> np.ndarray:
        """The key frame as ``data.key_frame`` asks for it (see :class:`vidpose.config.DataConfig`)."""
        if self.cfg.key_frame == "black":
            return np.zeros_like(key)
        if self.cfg.key_frame == "neighbour":
            n = len(self.sequences[w.sequence].frames)
            neighbour = w.key_frame + 1 if w.key_frame + 1 < n else w.key_frame - 1
            return self.load_frame(w.sequence, max(neighbour, 0))
        raise ConfigError(f"data.key_frame: expected clean, black or neighbour, got {self.cfg.key_frame!r}")

    def _corrupt_key_frame(self, sample: Sample, key: int, rng: np.random.Generator) -> None:
        """Occlude and / or blur the key frame's crop ``sample.images[key]`` in place, with the probabilities
        ``data.augment.key_frame_occlude_prob`` / ``key_frame_blur_prob`` (labels unchanged). The draws are
        made only for a probability > 0, so recipes without these corruptions keep their random streams."""
        aug = self.cfg.augment
        for prob, corrupt in ((aug.key_frame_occlude_prob, occlude), (aug.key_frame_blur_prob, motion_blur)):
            if prob > 0 and rng.random() < prob:
                images = sample.images if sample.images.flags.writeable else sample.images.copy()
                images[key] = corrupt(images[key], rng)
                sample.images = images

    def __getitem__(self, index: int) -> dict[str, Any]:
        w = self.windows[index]
        rng = self.item_rng(index)
        frame_ids = w.frames  # the window's offsets, clamped at the ends of the sequence
        if self.train and self.cfg.resample_offsets:
            offsets = sample_offsets(self.cfg.frame_offsets, rng)
            frame_ids = clamp_frames(w.key_frame, offsets, len(self.sequences[w.sequence].frames))
        frames = [self.load_frame(w.sequence, f) for f in frame_ids]
        key = len(frames) // 2
        if not self.train and self.cfg.key_frame != "clean":
            frames[key] = self._probe_key_frame(w, frames[key])
        drop = self.cfg.augment.key_frame_drop_prob
        if self.train and drop > 0 and rng.random() < drop:
            frames[key] = np.zeros_like(frames[key])
        sample = sample_from_box(frames, w.box, self.codec.input_size, self.cfg.bbox_scale, w.keypoints, rng)
        if w.crop is not None:  # data.crop_hold: the crop predict --share holds for this person
            sample.center = np.asarray(w.crop[0], dtype=np.float64)
            sample.size_wh = np.asarray(w.crop[1], dtype=np.float64)
        sample = self.pipeline(sample)
        if self.train:
            self._corrupt_key_frame(sample, key, rng)
        if sample.input_keypoints is not None:
            kp = sample.input_keypoints
            target, weight = self.codec.encode(kp[:, :2], kp[:, 2] > 0)
            keypoints = kp.astype(np.float32)
        else:
            target = np.zeros((self.num_joints, *self.codec.heatmap_size), dtype=np.float32)
            weight = np.zeros(self.num_joints, dtype=np.float32)
            keypoints = np.zeros((self.num_joints, 3), dtype=np.float32)
        return {
            "clip": to_tensor_normalized(sample.images, self.cfg.mean, self.cfg.std),
            "target": torch.from_numpy(target),
            "target_weight": torch.from_numpy(weight),
            "keypoints": torch.from_numpy(keypoints),
            "center": torch.as_tensor(sample.center, dtype=torch.float32),
            "size_wh": torch.as_tensor(sample.size_wh, dtype=torch.float32),
            "rotation": torch.tensor(float(sample.rotation), dtype=torch.float32),
            "flipped": torch.tensor(bool(sample.flipped)),
            "inv_affine": torch.as_tensor(sample.inv_affine, dtype=torch.float64),
            "box": torch.as_tensor(w.box, dtype=torch.float32),
            "box_score": torch.tensor(float(w.box_score), dtype=torch.float32),
            "sequence_index": torch.tensor(w.sequence, dtype=torch.int64),
            "frame_index": torch.tensor(w.key_frame, dtype=torch.int64),
            "frame_indices": torch.tensor(frame_ids, dtype=torch.int64),
            "track_id": torch.tensor(w.track_id, dtype=torch.int64),
            "image_id": torch.tensor(w.image_id, dtype=torch.int64),
            "window_index": torch.tensor(index, dtype=torch.int64),
        }


#: ``frames -> crops``: for the frames of one sequence in order, each ``(boxes [M, 4] xywh, identities [M] or
#: None)``, the crop ``(center (x, y), size (w, h))`` of every box (``data.crop_hold``; the application layer
#: passes :func:`vidpose.inference.crops.hold_crops` with the recipe's settings).
CropHolder = Callable[
    [list[tuple[np.ndarray, list[int] | None]]], list[list[tuple[tuple[float, float], tuple[float, float]]]]
]


def build_dataset(
    cfg: Config, sequences: list[Sequence], train: bool, hold_crops: CropHolder | None = None
) -> PoseTrackWindows:
    """The dataset of a split as the recipe says: GT windows with ``data.min_joints`` labelled joints in
    training; in evaluation, windows from ``data.val_boxes`` ("gt": labelled GT persons; else a detection file
    relative to ``data.root``, filtered at ``data.box_score_thr``). Items are seeded from ``train.seed``.

    With ``data.crop_hold`` each window is cut by the crop ``hold_crops`` gives its box when it is run over
    the boxes of every frame of the sequence, as ``predict`` sees them (GT: the scored GT persons with their
    track ids; detections: the file's boxes, no identities)."""
    d = cfg.data
    codec = HeatmapCodec(cfg.codec)
    use_gt = train or d.val_boxes == "gt"
    if use_gt:
        min_joints = d.min_joints if train else SCORED_MIN_JOINTS
        windows = build_windows(sequences, d.frame_offsets, "gt", True, min_joints, d.gt_box_margin)
    else:
        dets = load_detections(Path(d.root) / d.val_boxes, sequences, d.box_score_thr)
        windows = build_windows(sequences, d.frame_offsets, dets, True, 0, d.gt_box_margin)
    if d.crop_hold:
        if hold_crops is None:
            raise ConfigError("data.crop_hold: build_dataset needs hold_crops (the crop stabiliser)")
        windows = _held_windows(sequences, windows, hold_crops, d, None if use_gt else dets)
    return PoseTrackWindows(sequences, d.root, windows, cfg, codec, train, cfg.train.seed)


def _held_windows(
    sequences: list[Sequence],
    windows: list[Window],
    hold_crops: CropHolder,
    d: DataConfig,
    dets: Detections | None,
) -> list[Window]:
    """``windows`` with the crops ``hold_crops`` gives over every frame's boxes (GT keyed by track id,
    detections by their order in the frame); a window whose box is not among them keeps its own crop."""
    crops: dict[tuple[int, int, int], tuple] = {}
    for s, seq in enumerate(sequences):
        frames = []
        for frame in seq.frames:
            if dets is None:
                found = gt_person_boxes(frame, d.gt_box_margin, seq.format)
                ids = [int(p.track_id) for p, _, _ in found]
                frames.append((np.reshape([b for _, b, _ in found], (-1, 4)), ids))
            else:
                boxes = [np.asarray(b, dtype=np.float64) for b, _ in dets.get((seq.name, frame.index), [])]
                frames.append((np.reshape(boxes, (-1, 4)), None))
        for pos, ((_, ids), held) in enumerate(zip(frames, hold_crops(frames), strict=True)):
            for i, crop in enumerate(held):
                crops[(s, pos, ids[i] if ids is not None else i)] = crop
    out, order = [], 0
    for j, w in enumerate(windows):
        if dets is not None:  # detection windows of a frame come in the file's order
            first = j == 0 or (windows[j - 1].sequence, windows[j - 1].key_frame) != (w.sequence, w.key_frame)
            order = 0 if first else order + 1
        key = (w.sequence, w.key_frame, w.track_id if dets is None else order)
        out.append(dataclasses.replace(w, crop=crops[key]) if key in crops else w)
    return out
