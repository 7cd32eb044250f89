"""Person crops for inference: the crop box of a window, its stabilisation from frame to frame, and the warp.

Legend: M persons in a frame, T frames per window, (H, W) model input size. Boxes are ``[x, y, w, h]`` image
pixels. The crop is the training crop (:mod:`vidpose.data.transforms`): the box fitted to the input aspect,
enlarged ``bbox_scale`` times, warped by ONE affine for all frames of a window (:class:`TopdownAffine`).

Stabilisation (for shared per-frame features): a person's crop box is *held* while the person's box stays
inside it with a margin and keeps about its size, and re-centred on the box otherwise. Consecutive windows of
that person then use the same affine, so the backbone features of a (frame, crop) pair serve every window
containing the frame.

    >>> stab = CropStabilizer(input_size=(256, 192), bbox_scale=1.25, margin=0.05, scale_tol=0.15)
    >>> crops = stab.assign(boxes)                    # [M] CropBox, one per box, held where possible
    >>> images = crops[0].warp([frame_a, frame_b], (256, 192))   # [2, 256, 192, 3]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..data.transforms import Sample, TopdownAffine, box_to_center_scale, get_affine
from .boxes_ops import iou_matrix, xywh_to_xyxy

__all__ = ["CropBox", "CropStabilizer", "hold_crops"]


@dataclass(frozen=True)
class CropBox:
    """A crop region: ``center`` (x, y) and ``size_wh`` (w, h) image pixels (already enlarged, aspect-fitted).

    Hashable, so that it can key a feature cache: two windows share features only with the very same crop.
    """

    center: tuple[float, float]
    size_wh: tuple[float, float]

    @classmethod
    def from_box(
        cls, box: np.ndarray | Sequence[float], input_size: tuple[int, int], bbox_scale: float
    ) -> CropBox:
        """box [4] xywh -> the crop training would use for it (:func:`box_to_center_scale`)."""
        center, size = box_to_center_scale(box, input_size, bbox_scale)
        return cls((float(center[0]), float(center[1])), (float(size[0]), float(size[1])))

    def contains(self, box: np.ndarray | Sequence[float], margin: float) -> bool:
        """Whether box [4] xywh lies inside this crop shrunk by ``margin`` x its size on every side."""
        x, y, w, h = (float(v) for v in box)
        (cx, cy), (sw, sh) = self.center, self.size_wh
        x0, x1 = cx - sw / 2 + margin * sw, cx + sw / 2 - margin * sw
        y0, y1 = cy - sh / 2 + margin * sh, cy + sh / 2 - margin * sh
        return x >= x0 and y >= y0 and x + w <= x1 and y + h <= y1

    def affine(self, input_size: tuple[int, int], inverse: bool = False) -> np.ndarray:
        """[2, 3] image -> input pixels (``inverse``: input -> image): the training affine, no rotation."""
        return get_affine(self.center, self.size_wh, 0.0, input_size, inverse=inverse)

    def warp(self, frames: list[np.ndarray], input_size: tuple[int, int]) -> np.ndarray:
        """frames: T x [h_img, w_img, 3] uint8 -> [T, H, W, 3] uint8, all cut by this crop's one affine.

        Goes through :class:`TopdownAffine`, the warp of training (a frame repeated in the list is warped
        once). Parts of the crop outside the image are black, as in training.
        """
        sample = Sample(
            frames=list(frames),
            keypoints=None,
            center=np.asarray(self.center, dtype=np.float64),
            size_wh=np.asarray(self.size_wh, dtype=np.float64),
        )
        out = TopdownAffine(input_size)(sample).images
        assert out is not None
        return out


@dataclass
class _Held:
    box: np.ndarray
    crop: CropBox
    key: Hashable | None


class CropStabilizer:
    """Per-person crop boxes that stay put while the person stays inside them (one instance per video).

    Each call gets the boxes of the next frame. A box is paired with one box of the previous call: the one
    with the same ``key`` when keys are given (GT track ids, tracker track uids), else by box overlap (greedy,
    highest IoU first, one to one). It inherits that box's crop if it lies inside the crop with ``margin`` and
    the crop its own box would get is within ``scale_tol`` of the held crop's size; otherwise (and for
    unpaired boxes) it gets its own crop. Only the previous frame is remembered: a person missing for a frame
    starts afresh.

    Args:
        input_size: (H, W) of the model input.
        bbox_scale: box enlargement of the crop (``cfg.data.bbox_scale``).
        margin: fraction of the crop's width / height kept free around the box
            (``cfg.eval.crop_hold_margin``).
        scale_tol: allowed relative size change (``cfg.eval.crop_hold_scale_tol``).
    """

    def __init__(
        self, input_size: tuple[int, int], bbox_scale: float, margin: float, scale_tol: float
    ) -> None:
        if not 0.0 <= margin < 0.5:
            raise ValueError(f"CropStabilizer: margin must be in [0, 0.5), got {margin}")
        if scale_tol < 0.0:
            raise ValueError(f"CropStabilizer: scale_tol must be >= 0, got {scale_tol}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.bbox_scale = float(bbox_scale)
        self.margin = float(margin)
        self.scale_tol = float(scale_tol)
        self._held: list[_Held] = []

    def _pairs(self, boxes: np.ndarray, keys: Sequence[Hashable] | None) -> dict[int, int]:
        """new box index -> previous entry index."""
        pairs: dict[int, int] = {}
        taken: set[int] = set()
        if keys is not None:
            by_key = {h.key: j for j, h in enumerate(self._held) if h.key is not None}
            for i, key in enumerate(keys):
                j = by_key.get(key) if key is not None else None
                if j is not None and j not in taken:
                    pairs[i] = j
                    taken.add(j)
        free_new = [i for i in range(len(boxes)) if i not in pairs]
        free_old = [j for j in range(len(self._held)) if j not in taken]
        if free_new and free_old:
            old = np.stack([self._held[j].box for j in free_old])
            iou = iou_matrix(xywh_to_xyxy(boxes[free_new]), xywh_to_xyxy(old))  # [new, old]
            order = np.argsort(-iou, axis=None, kind="stable")
            used_new: set[int] = set()
            for flat in order:
                a, b = divmod(int(flat), len(free_old))
                if iou[a, b] <= 0.0:
                    break
                if a in used_new or free_old[b] in taken:
                    continue
                pairs[free_new[a]] = free_old[b]
                used_new.add(a)
                taken.add(free_old[b])
        return pairs

    def _holds(self, crop: CropBox, box: np.ndarray, own: CropBox) -> bool:
        ratio = own.size_wh[0] / crop.size_wh[0]
        return abs(ratio - 1.0) <= self.scale_tol and crop.contains(box, self.margin)

    def assign(self, boxes: np.ndarray, keys: Sequence[Hashable] | None = None) -> list[CropBox]:
        """boxes: [M, 4] xywh of a frame, keys: [M] identities or None -> [M] crops, held where possible."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if keys is not None and len(keys) != len(boxes):
            raise ValueError(f"CropStabilizer.assign: {len(boxes)} boxes but {len(keys)} keys")
        pairs = self._pairs(boxes, keys)
        crops = []
        for i, box in enumerate(boxes):
            own = CropBox.from_box(box, self.input_size, self.bbox_scale)
            j = pairs.get(i)
            crops.append(
                self._held[j].crop if j is not None and self._holds(self._held[j].crop, box, own) else own
            )
        self._held = [
            _Held(box.copy(), crop, None if keys is None else keys[i])
            for i, (box, crop) in enumerate(zip(boxes, crops, strict=True))
        ]
        return crops


def hold_crops(
    frames: Iterable[tuple[np.ndarray, Sequence[Hashable] | None]],
    input_size: tuple[int, int],
    bbox_scale: float,
    margin: float,
    scale_tol: float,
) -> list[list[tuple[tuple[float, float], tuple[float, float]]]]:
    """The crops ``predict --share`` holds: one :class:`CropStabilizer` run over a sequence's frames in order.

    frames: per frame ``(boxes [M, 4] xywh, keys [M] or None)`` -> per frame M crops ``(center (x, y), size
    (w, h))`` (``data.crop_hold`` cuts the training and evaluation windows with them)."""
    stabilizer = CropStabilizer(input_size, bbox_scale, margin, scale_tol)
    return [[(c.center, c.size_wh) for c in stabilizer.assign(boxes, keys)] for boxes, keys in frames]
