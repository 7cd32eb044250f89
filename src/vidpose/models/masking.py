"""Masking for the MLSME and patch (un)folding for the context target. Standalone functions: they return bool
masks (True = masked) that the caller applies, and draw their randomness from an optional ``torch.Generator``.

Legend: B batch, T frames, N = h * w tokens per frame, (h, w) token grid, p patch size, (H, W) = (h p, w p).

    >>> g = torch.Generator().manual_seed(0)
    >>> cube_mask(2, 5, grid=(16, 12), ratio=0.5, cube=(0, 2, 2), generator=g).shape
    torch.Size([2, 5, 192])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ["cube_mask", "frame_mask", "patchify", "unpatchify"]


def _uniform(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str | None
) -> Tensor:
    """U(0, 1) noise drawn on the generator's device (so a CPU generator drives a GPU run), then moved."""
    draw_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=draw_device).to(device)


def cube_mask(
    batch: int,
    frames: int,
    grid: tuple[int, int],
    ratio: float,
    cube: tuple[int, int, int] = (0, 2, 2),
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Random cube (or tube) mask of a [T, h, w] token volume, per sample -> bool [B, T, N].

    The (h, w) grid is cut into aligned blocks of ``ch x cw`` tokens starting at the top-left corner, so
    there are ``S = ceil(h / ch) * ceil(w / cw)`` spatial blocks (those on the bottom and right edges are
    smaller when ``ch`` or ``cw`` does not divide the grid). With ``t = cube[0] > 0`` the frames are cut the
    same way into ``ceil(T / t)`` temporal blocks of ``t`` frames (the last one may be shorter); with
    ``t = 0`` there is a single temporal block of all T frames, i.e. a *tube*: the same positions are masked
    in every frame.

    For every sample and every temporal block, exactly ``round(ratio * S)`` of the S spatial blocks are chosen
    uniformly at random without replacement and all their tokens are masked. The masked fraction is therefore
    exactly ``round(ratio * S) / S`` when the blocks tile the grid, and close to it (edge blocks count less)
    otherwise.

    Args:
        batch, frames: B and T.
        grid: token grid (h, w).
        ratio: fraction of spatial blocks to mask, in [0, 1].
        cube: (t, ch, cw) tokens per masked block; t = 0 means a tube through all frames.
        generator: source of randomness (None = torch's global generator).
        device: device of the returned mask.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"cube_mask: ratio must be in [0, 1], got {ratio}")
    t, ch, cw = (int(v) for v in cube)
    if t < 0 or ch < 1 or cw < 1:
        raise ConfigError(f"cube_mask: cube (t, h, w) must have t >= 0 and h, w >= 1, got {tuple(cube)}")
    h, w = grid
    bh, bw = math.ceil(h / ch), math.ceil(w / cw)
    num_spatial = bh * bw
    span = frames if t == 0 else t
    num_temporal = math.ceil(frames / span)
    num_masked = round(ratio * num_spatial)

    noise = _uniform((batch, num_temporal, num_spatial), generator, device)
    chosen = noise.argsort(dim=-1)[..., :num_masked]
    blocks = torch.zeros(batch, num_temporal, num_spatial, dtype=torch.bool, device=noise.device)
    blocks.scatter_(-1, chosen, True)
    blocks = blocks.view(batch, num_temporal, bh, bw)
    tokens = blocks.repeat_interleave(span, dim=1).repeat_interleave(ch, dim=2).repeat_interleave(cw, dim=3)
    return tokens[:, :frames, :h, :w].reshape(batch, frames, h * w)


def frame_mask(
    batch: int,
    frames: int,
    count: int,
    key_index: int,
    key_prob: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Mask exactly ``count`` whole frames per sample -> bool [B, T].

    If ``count > 0`` the key frame is one of them with probability ``key_prob``; the remaining
    ``count - [key masked]`` frames are drawn uniformly without replacement from the other T - 1 frames.
    So a non-key frame is masked with probability ``(count - key_prob) / (T - 1)``.

    Args:
        batch, frames: B and T.
        count: frames masked per sample, 0 <= count < T.
        key_index: index of the key frame in [0, T).
        key_prob: probability that the key frame is masked, in [0, 1].
        generator: source of randomness (None = torch's global generator).
        device: device of the returned mask.
    """
    if not 0 <= count < frames:
        raise ConfigError(f"frame_mask: count must be in [0, T) with T = {frames}, got {count}")
    if not 0 <= key_index < frames:
        raise ConfigError(f"frame_mask: key_index must be in [0, {frames}), got {key_index}")
    if not 0.0 <= key_prob <= 1.0:
        raise ConfigError(f"frame_mask: key_prob must be in [0, 1], got {key_prob}")
    if count == 0:
        return torch.zeros(batch, frames, dtype=torch.bool, device=device)
    draws = _uniform((batch, frames + 1), generator, device)
    key_masked = draws[:, 0] < key_prob  # [B]
    noise = draws[:, 1:].clone()
    noise[:, key_index] = 2.0  # ranked last: never drawn among the "other" frames
    rank = noise.argsort(dim=1).argsort(dim=1)  # rank of each frame's noise within its sample
    others = rank < (count - key_masked.long())[:, None]
    is_key = torch.zeros(frames, dtype=torch.bool, device=noise.device)
    is_key[key_index] = True
    return others | (key_masked[:, None] & is_key)


def patchify(images: Tensor, patch: int) -> Tensor:
    """images [B, 3, H, W] -> patches [B, N, p * p * 3], N = (H / p) * (W / p) row-major; each patch is
    flattened as (row, column, channel)."""
    B, C, H, W = images.shape
    if H % patch or W % patch:
        raise ConfigError(f"patchify: image {H}x{W} is not divisible by the patch size {patch}")
    h, w = H // patch, W // patch
    x = images.reshape(B, C, h, patch, w, patch).permute(0, 2, 4, 3, 5, 1)  # [B, h, w, p, p, 3]
    return x.reshape(B, h * w, patch * patch * C)


def unpatchify(patches: Tensor, patch: int, grid: tuple[int, int]) -> Tensor:
    """patches [B, N, p * p * 3] -> images [B, 3, h p, w p]; the inverse of :func:`patchify`."""
    B, N, D = patches.shape
    h, w = grid
    C = D // (patch * patch)
    if h * w != N or C * patch * patch != D:
        raise ConfigError(f"unpatchify: {N} patches of {D} values do not fit grid {grid} and patch {patch}")
    x = patches.reshape(B, h, w, patch, patch, C).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, C, h * patch, w * patch)
