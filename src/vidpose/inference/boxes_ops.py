"""Box and keypoint geometry for detection and tracking: conversions, IoU, NMS, clipping, OKS.

Legend: N, M = boxes (or persons) in the two sets compared; K = joints (17, PoseTrack18 order).
Boxes are ``[x, y, w, h]`` ("xywh", the PoseTrack/COCO convention) or ``[x1, y1, x2, y2]`` ("xyxy") in pixels;
image sizes are ``(H, W)``. Functions ending in ``_torch`` take and return tensors; the others take numpy
arrays (the conversions and :func:`clip_boxes` accept both).
"""

from __future__ import annotations

import numpy as np
import torch

from ..skeleton import COCO_SIGMAS, PT18

__all__ = [
    "COCO_SIGMAS",
    "PT18_SIGMAS",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
    "clip_boxes",
    "iou_matrix",
    "iou_matrix_torch",
    "nms_torch",
    "keypoint_box",
    "oks_matrix",
]

#: ``vidpose.skeleton.PT18.sigmas`` (their home, with the reasons for the two head joints) as an array [K].
PT18_SIGMAS: np.ndarray = np.asarray(PT18.sigmas, dtype=np.float64)


def _cat(parts: list, like: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    if isinstance(like, torch.Tensor):
        return torch.cat(parts, dim=-1)
    return np.concatenate(parts, axis=-1)


def xywh_to_xyxy(boxes: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """boxes: [..., 4] xywh -> [..., 4] xyxy (same array type and dtype)."""
    return _cat([boxes[..., :2], boxes[..., :2] + boxes[..., 2:4]], boxes)


def xyxy_to_xywh(boxes: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """boxes: [..., 4] xyxy -> [..., 4] xywh (same array type and dtype)."""
    return _cat([boxes[..., :2], boxes[..., 2:4] - boxes[..., :2]], boxes)


def clip_boxes(
    boxes: np.ndarray | torch.Tensor, size: tuple[int, int], fmt: str = "xyxy"
) -> np.ndarray | torch.Tensor:
    """Clip boxes to an image of ``size = (H, W)``: [..., 4] -> [..., 4], both in ``fmt`` (xyxy | xywh).

    A box entirely outside the image ends up with zero width or height.
    """
    if fmt not in ("xyxy", "xywh"):
        raise ValueError(f"clip_boxes: fmt must be 'xyxy' or 'xywh', got {fmt!r}")
    h, w = size
    xyxy = xywh_to_xyxy(boxes) if fmt == "xywh" else boxes
    if isinstance(xyxy, torch.Tensor):
        x = xyxy[..., 0::2].clamp(0, w)
        y = xyxy[..., 1::2].clamp(0, h)
        out = torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)
    else:
        x = np.clip(xyxy[..., 0::2], 0, w)
        y = np.clip(xyxy[..., 1::2], 0, h)
        out = np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1).astype(xyxy.dtype, copy=False)
    return xyxy_to_xywh(out) if fmt == "xywh" else out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU. a: [N, 4] xyxy, b: [M, 4] xyxy -> [N, M] float64 in [0, 1] (0 for empty boxes)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou_matrix_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU. a: [N, 4] xyxy, b: [M, 4] xyxy -> [N, M] in [0, 1] (0 for empty boxes)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(
        union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter)
    )


def nms_torch(boxes: torch.Tensor, scores: torch.Tensor, iou_thr: float) -> torch.Tensor:
    """Greedy non-maximum suppression.

    boxes: [N, 4] xyxy, scores: [N] -> kept indices [N'] (int64), by decreasing score. A box is dropped when
    its IoU with a higher-scoring kept box is above ``iou_thr``. Equal scores keep the lower index first.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    over = (iou_matrix_torch(boxes[order], boxes[order]) > iou_thr).cpu().numpy()  # [N, N] in score order
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i]
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def keypoint_box(keypoints: np.ndarray, score_thr: float, scale: float = 1.0) -> np.ndarray | None:
    """Box around the confident joints. keypoints: [K, 3] (x, y, score) -> [4] xywh or None.

    Joints with score ``> score_thr`` count; with fewer than 2 the box is undefined (None). The box is scaled
    by ``scale`` about its centre.
    """
    conf = keypoints[:, 2] > score_thr
    if conf.sum() < 2:
        return None
    xy = keypoints[conf, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    centre, wh = (lo + hi) / 2.0, (hi - lo) * scale
    return np.array([centre[0] - wh[0] / 2, centre[1] - wh[1] / 2, wh[0], wh[1]], dtype=np.float64)


def oks_matrix(
    a: np.ndarray,
    b: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray = PT18_SIGMAS,
    score_thr: float = 0.0,
) -> np.ndarray:
    """Object Keypoint Similarity between two sets of poses.

    a: [N, K, 3], b: [M, K, 3] (x, y, score), areas: [N] object areas (pixels^2) of the ``a`` persons (the
    scale s^2 of COCO's OKS; a box area is a fine stand-in), sigmas: [K] -> [N, M] in [0, 1].
    ``OKS = mean_j exp(-d_j^2 / (2 s^2 (2 sigma_j)^2))`` over the joints with score ``> score_thr`` in both
    poses; 0 when they share no such joint.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return np.zeros((n, m))
    if a.shape[1:] != b.shape[1:] or a.shape[1] != len(sigmas):
        raise ValueError(f"oks_matrix: shapes {a.shape}, {b.shape} and {len(sigmas)} sigmas do not agree")
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)  # [N, M, K]
    var = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2  # [K]
    s2 = np.maximum(np.asarray(areas, dtype=np.float64), 1.0)[:, None, None]  # [N, 1, 1]
    sim = np.exp(-d2 / (2.0 * s2 * var))
    both = (a[:, None, :, 2] > score_thr) & (b[None, :, :, 2] > score_thr)  # [N, M, K]
    count = both.sum(-1)
    return np.where(count > 0, (sim * both).sum(-1) / np.maximum(count, 1), 0.0)
