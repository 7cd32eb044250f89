"""Heatmap codec: keypoints <-> Gaussian heatmaps, sub-pixel decoding, and the flip test (its one home).

Legend: B batch, T frames, K joints, (H, W) input (crop) size, (h, w) heatmap size; coordinates are (x, y).

Pixel convention (ViTPose's "UDP", aligned corners): pixel centres sit at integer coordinates, and the centres
of the corner pixels of the input crop and of the heatmap coincide, so input ``x`` and heatmap ``u`` are
related by ``u = x * (w - 1) / (W - 1)`` (and likewise for ``y``). ``encode`` and ``decode`` use the same
mapping, so a round trip is unbiased, and a horizontal flip of the crop (``x -> W - 1 - x``) is exactly a flip
of the heatmap array (``u -> w - 1 - u``): the flip test needs no one-pixel shift (ViTPose runs with
``shift_heatmap=False``). :func:`vidpose.data.transforms.get_affine` maps the enlarged box onto the input
pixels ``[0, W - 1]`` to match.

    >>> codec = HeatmapCodec(CodecConfig())
    >>> hm, w = codec.encode(kp, vis)                    # numpy, one sample
    >>> coords, scores = codec.decode(torch.from_numpy(hm)[None])   # torch, batched
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .config import CodecConfig
from .errors import ConfigError

__all__ = ["HeatmapCodec", "flip_back", "flip_average", "flip_images", "to_image_coords"]


class HeatmapCodec:
    """MSRA-style Gaussian heatmaps with the aligned-corner (UDP) pixel convention.

    Args:
        cfg: ``input_size`` (H, W) of the crop, ``heatmap_size`` (h, w), Gaussian ``sigma`` in heatmap pixels,
            ``decode`` "shift" (argmax + quarter-pixel shift) or "dark" (Taylor refinement of the smoothed log
            heatmap, ``dark_kernel`` the odd size of the smoothing kernel).
    """

    def __init__(self, cfg: CodecConfig):
        (in_h, in_w), (hm_h, hm_w) = cfg.input_size, cfg.heatmap_size
        if min(in_h, in_w, hm_h, hm_w) < 2:
            raise ConfigError(
                f"codec: input_size {cfg.input_size} and heatmap_size {cfg.heatmap_size} must be >= 2"
            )
        if cfg.sigma <= 0:
            raise ConfigError(f"codec.sigma must be > 0, got {cfg.sigma}")
        if cfg.decode not in ("shift", "dark"):
            raise ConfigError(f"codec.decode must be 'shift' or 'dark', got {cfg.decode!r}")
        if cfg.dark_kernel < 1 or cfg.dark_kernel % 2 == 0:
            raise ConfigError(f"codec.dark_kernel must be a positive odd number, got {cfg.dark_kernel}")
        self.cfg = cfg
        self.input_size = (int(in_h), int(in_w))
        self.heatmap_size = (int(hm_h), int(hm_w))
        self.sigma = float(cfg.sigma)
        self.method = cfg.decode
        self.dark_kernel = int(cfg.dark_kernel)
        #: input pixels per heatmap pixel along (x, y)
        self.scale_xy = np.array([(in_w - 1) / (hm_w - 1), (in_h - 1) / (hm_h - 1)], dtype=np.float64)

    # ------------------------------------------------------------------------------------------- encode
    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """keypoints: [K, 2] input pixels, visible: [K] -> heatmaps [K, h, w] float32, weights [K] float32.

        An unnormalised Gaussian (value 1 at the sub-pixel centre) per visible joint; joints that are
        invisible or whose centre lies outside the heatmap (by more than half a heatmap pixel) get an all-zero
        map and weight 0.
        """
        kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
        vis = np.asarray(visible).reshape(-1) > 0
        num_joints = kp.shape[0]
        if vis.shape[0] != num_joints:
            raise ValueError(f"encode: {num_joints} keypoints but {vis.shape[0]} visibility flags")
        hm_h, hm_w = self.heatmap_size
        mu = kp / self.scale_xy  # [K, 2] heatmap pixels
        inside = (
            np.isfinite(mu).all(axis=1)
            & (mu[:, 0] >= -0.5)
            & (mu[:, 0] <= hm_w - 0.5)
            & (mu[:, 1] >= -0.5)
            & (mu[:, 1] <= hm_h - 0.5)
        )
        weights = (vis & inside).astype(np.float32)
        mu = np.where(weights[:, None] > 0, mu, 0.0)
        xs = np.arange(hm_w, dtype=np.float64)
        ys = np.arange(hm_h, dtype=np.float64)
        gx = np.exp(-((xs[None, :] - mu[:, :1]) ** 2) / (2 * self.sigma**2))  # [K, w]
        gy = np.exp(-((ys[None, :] - mu[:, 1:]) ** 2) / (2 * self.sigma**2))  # [K, h]
        heatmaps = (gy[:, :, None] * gx[:, None, :]).astype(np.float32) * weights[:, None, None]
        return heatmaps, weights

    # ------------------------------------------------------------------------------------------- decode
    def decode(self, heatmaps: Tensor) -> tuple[Tensor, Tensor]:
        """heatmaps: [B, K, h, w] -> coords [B, K, 2] (x, y) in input pixels, scores [B, K] (heatmap maxima).

        Any float dtype and device; the result is float32 on the heatmaps' device.
        """
        if heatmaps.dim() != 4:
            raise ValueError(f"decode expects heatmaps [B, K, h, w], got shape {tuple(heatmaps.shape)}")
        hm = heatmaps.detach().float()
        uv, scores = _argmax_2d(hm)
        if self.method == "dark":
            uv = uv + _dark_offsets(hm, uv, self.dark_kernel)
        else:
            uv = uv + _shift_offsets(hm, uv)
        return self.heatmap_to_input(uv), scores

    def heatmap_to_input(self, uv: Tensor) -> Tensor:
        """uv: [..., 2] heatmap pixels -> [..., 2] input pixels."""
        return uv * torch.as_tensor(self.scale_xy, dtype=uv.dtype, device=uv.device)


# ----------------------------------------------------------------------------------------------- decode maths
def _argmax_2d(hm: Tensor) -> tuple[Tensor, Tensor]:
    """hm: [B, K, h, w] -> integer positions uv [B, K, 2] (as float) and maxima [B, K]."""
    b, k, _, w = hm.shape
    scores, flat = hm.reshape(b, k, -1).max(dim=-1)
    uv = torch.stack([flat % w, torch.div(flat, w, rounding_mode="floor")], dim=-1).float()
    return uv, scores


def _gather(hm: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """hm: [B, K, h, w], u, v: [B, K] integer (clamped here) -> hm[b, k, v, u]: [B, K]."""
    _, _, h, w = hm.shape
    u = u.clamp(0, w - 1)
    v = v.clamp(0, h - 1)
    flat = (v * w + u).unsqueeze(-1)
    return hm.flatten(2).gather(2, flat).squeeze(-1)


def _shift_offsets(hm: Tensor, uv: Tensor) -> Tensor:
    """Quarter-pixel step from the argmax towards the higher neighbour, per axis with both neighbours."""
    _, _, h, w = hm.shape
    u, v = uv[..., 0].long(), uv[..., 1].long()
    dx = torch.sign(_gather(hm, u + 1, v) - _gather(hm, u - 1, v)) * ((u > 0) & (u < w - 1))
    dy = torch.sign(_gather(hm, u, v + 1) - _gather(hm, u, v - 1)) * ((v > 0) & (v < h - 1))
    return 0.25 * torch.stack([dx, dy], dim=-1)


def _gaussian_blur(hm: Tensor, kernel: int) -> Tensor:
    """Depthwise Gaussian smoothing of [B, K, h, w], zero outside the map (as MMPose's DARK), sigma as OpenCV
    derives it from the kernel size."""
    if kernel == 1:
        return hm
    b, k, h, w = hm.shape
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    x = torch.arange(kernel, dtype=hm.dtype, device=hm.device) - (kernel - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    pad = kernel // 2
    x2 = F.pad(hm.reshape(b * k, 1, h, w), (pad, pad, pad, pad))
    x2 = F.conv2d(x2, g.view(1, 1, 1, kernel))
    x2 = F.conv2d(x2, g.view(1, 1, kernel, 1))
    return x2.reshape(b, k, h, w)


def _dark_offsets(hm: Tensor, uv: Tensor, kernel: int) -> Tensor:
    """DARK (Zhang et al., CVPR 2020): one Newton step on the smoothed log heatmap at the argmax.

    ``offset = -H^-1 g`` with finite-difference gradient g and Hessian H of ``log(blur(hm))``. Where the
    smoothing window would reach past the map's edge (the zero border pulls the peak inwards), the unsmoothed
    log heatmap is used instead; where no Newton step is possible (argmax on the border, Hessian not negative
    definite, flat map) the quarter-pixel shift is used. Steps are clipped to one pixel.
    """
    _, _, h, w = hm.shape
    u, v = uv[..., 0].long(), uv[..., 1].long()
    r = kernel // 2
    near_edge = (u < r) | (u > w - 1 - r) | (v < r) | (v > h - 1 - r)
    log_raw = torch.log(hm.clamp_min(1e-10))
    log_blur = torch.log(_gaussian_blur(hm, kernel).clamp_min(1e-10)) if kernel > 1 else log_raw

    def at(du: int, dv: int) -> Tensor:
        return torch.where(near_edge, _gather(log_raw, u + du, v + dv), _gather(log_blur, u + du, v + dv))

    c = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = at(1, 0) - 2 * c + at(-1, 0)
    dyy = at(0, 1) - 2 * c + at(0, -1)
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    ok = (u > 0) & (u < w - 1) & (v > 0) & (v < h - 1) & (dxx < 0) & (det > 1e-12)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    off_x = -(dyy * dx - dxy * dy) / safe_det
    off_y = -(dxx * dy - dxy * dx) / safe_det
    off = torch.stack([off_x, off_y], dim=-1).clamp(-1.0, 1.0)
    return torch.where(ok.unsqueeze(-1), off, _shift_offsets(hm, uv))


# ----------------------------------------------------------------------------------------------- flip test
def _permutation(flip: Sequence[int] | Sequence[Sequence[int]], num_joints: int) -> list[int]:
    """A channel permutation from either a permutation list or (left, right) pairs."""
    items = list(flip)
    if items and not isinstance(items[0], (int, np.integer)):
        perm = list(range(num_joints))
        for a, b in items:
            perm[a], perm[b] = b, a
        return perm
    if sorted(int(i) for i in items) != list(range(num_joints)):
        raise ValueError(f"flip permutation {items} is not a permutation of {num_joints} channels")
    return [int(i) for i in items]


def flip_back(
    heatmaps: Tensor, flip_perm: Sequence[int] | Sequence[Sequence[int]], shift: bool = False
) -> Tensor:
    """heatmaps of a horizontally flipped crop [B, K, h, w] -> [B, K, h, w] in the unflipped frame.

    Flips the maps horizontally and swaps left/right channels (``flip_perm`` from
    ``skeleton.PT18.flip_permutation()``, or the skeleton's ``flip_pairs``). ``shift`` moves the result one
    heatmap pixel to the right, the correction MSRA-convention models need; with this codec's aligned-corner
    convention the flip is exact and ``shift`` must stay False (it would bias x by one heatmap pixel).
    """
    perm = _permutation(flip_perm, heatmaps.shape[1])
    out = heatmaps.flip(-1)[:, perm]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out


def flip_average(
    heatmaps: Tensor,
    heatmaps_flipped: Tensor,
    flip_perm: Sequence[int] | Sequence[Sequence[int]],
    shift: bool = False,
) -> Tensor:
    """Flip test: heatmaps [B, K, h, w] of the crop, raw heatmaps of the flipped crop -> mean [B, K, h, w]."""
    return 0.5 * (heatmaps + flip_back(heatmaps_flipped, flip_perm, shift=shift))


def flip_images(clip: Tensor) -> Tensor:
    """clip: [..., 3, H, W] -> the same clip mirrored horizontally (the flip test's input)."""
    return clip.flip(-1)


def to_image_coords(coords: Tensor, inv_affine: Tensor) -> Tensor:
    """coords: [B, K, 2] input pixels, inv_affine: [B, 2, 3] (input -> image) -> [B, K, 2] image pixels."""
    inv = torch.as_tensor(inv_affine, device=coords.device).to(coords.dtype)
    return coords @ inv[:, :, :2].transpose(1, 2) + inv[:, None, :, 2]
