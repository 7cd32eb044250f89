"""The one road from windows to image keypoints: backbone per frame, the temporal model and head per window,
the flip test, decoding, the inverse affine and the joint score. ``vidpose evaluate`` (via
:func:`vidpose.tasks.evaluate.predict_windows`) and ``vidpose predict`` (:class:`VideoPoseEstimator`) both go
through :class:`WindowEstimator`, so with the same crops they give the same keypoints.

Legend: M frames (crops), B windows, T frames per window (key frame T // 2), N tokens, C backbone width,
K joints, (H, W) model input, (h, w) heatmap.

    >>> est = WindowEstimator(model, HeatmapCodec(cfg.codec), flip_test=True)
    >>> keypoints = est.estimate(clip, inv_affine, box_score)     # [B, K, 3] (x, y, score), image pixels
    >>> feats = est.encode(frames)                                 # shared per-frame work, [M, N, C] (x2)
    >>> keypoints = est.keypoints(feats_bt, flipped_bt, inv_affine, box_score)
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..codec import HeatmapCodec, flip_average, flip_images, to_image_coords
from ..errors import CheckpointError
from ..models.pose_model import PoseModel
from ..precision import autocast_dtype
from ..skeleton import PT18

__all__ = ["WindowEstimator"]


class WindowEstimator:
    """Image keypoints with scores from windows, for a model in eval mode.

    Args:
        model: a :class:`PoseModel` (``encode_frames`` / ``decode_window``); it is put in eval mode.
        codec: the model's heatmap codec (decoding; ``heatmap_size`` is checked against the model's output).
        flip_test: average with the mirrored crops' heatmaps (flipped back, left / right swapped).
        precision: "float32" | "bfloat16" | "float16" (:mod:`vidpose.precision`), autocast of the model.

    A joint's score is its heatmap maximum times the box score of its window.
    """

    def __init__(
        self, model: PoseModel, codec: HeatmapCodec, *, flip_test: bool, precision: str = "float32"
    ) -> None:
        self.model = model.eval()
        self.codec = codec
        self.flip_test = bool(flip_test)
        self.precision = precision
        self.dtype = autocast_dtype(precision)
        self.flip_perm = PT18.flip_permutation()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def autocast(self) -> Any:
        """The model's precision context (a no-op for float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @torch.inference_mode()
    def encode(self, frames: Tensor) -> tuple[Tensor, Tensor | None]:
        """frames [M, 3, H, W] normalised crops -> (feats [M, N, C], the mirrored crops' feats or None)."""
        frames = frames.to(self.device)
        with self.autocast():
            feats = self.model.encode_frames(frames)
            flipped = self.model.encode_frames(flip_images(frames)) if self.flip_test else None
        return feats, flipped

    @torch.inference_mode()
    def heatmaps(self, feats: Tensor, flipped: Tensor | None) -> Tensor:
        """feats (and mirrored feats) [B, T, N, C] -> heatmaps [B, K, h, w], flip-averaged, float32."""
        with self.autocast():
            heatmaps = self.model.decode_window(feats)
            if flipped is not None:
                heatmaps = flip_average(heatmaps, self.model.decode_window(flipped), self.flip_perm)
        if tuple(heatmaps.shape[-2:]) != tuple(self.codec.heatmap_size):
            raise CheckpointError(
                f"checkpoint: the model makes {tuple(heatmaps.shape[-2:])} heatmaps but its "
                f"codec.heatmap_size is {tuple(self.codec.heatmap_size)}"
            )
        return heatmaps.float()

    def keypoints(
        self,
        feats: Tensor,
        flipped: Tensor | None,
        inv_affine: np.ndarray | Tensor,
        box_score: np.ndarray | Tensor,
    ) -> np.ndarray:
        """feats (and mirrored feats) [B, T, N, C], inv_affine [B, 2, 3] (input -> image pixels), box_score
        [B] -> keypoints [B, K, 3] float64 (x, y, joint score) in image pixels."""
        coords, maxima = self.codec.decode(self.heatmaps(feats, flipped))
        inv = torch.as_tensor(np.asarray(inv_affine, dtype=np.float64))
        image = to_image_coords(coords.cpu().double(), inv).numpy()
        scores = maxima.cpu().double().numpy() * np.asarray(box_score, dtype=np.float64)[:, None]
        return np.concatenate([image, scores[..., None]], axis=-1)

    def estimate(
        self, clip: Tensor, inv_affine: np.ndarray | Tensor, box_score: np.ndarray | Tensor
    ) -> np.ndarray:
        """clip [B, T, 3, H, W] normalised crops of B windows -> keypoints [B, K, 3] (see :meth:`keypoints`).

        A single-frame model reads only the key frame (T // 2)."""
        B, T = clip.shape[:2]
        if not self.model.temporal:
            clip = clip[:, T // 2 : T // 2 + 1]
            T = 1
        feats, flipped = self.encode(clip.flatten(0, 1))
        feats = feats.unflatten(0, (B, T))
        flipped = None if flipped is None else flipped.unflatten(0, (B, T))
        return self.keypoints(feats, flipped, inv_affine, box_score)
