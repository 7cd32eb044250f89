"""Fitting converted weights to a vidpose model (pure functions on state dicts and configs; the converters
themselves live in :mod:`vidpose.models.weights`).

:func:`infer_model_config` reads the architecture off the converted weights, :func:`resample_pos_embed` moves
the position grid to another ``(h, w)`` (explicit, never assumed square), :func:`fit_pos_embed` does it for a
target config, :func:`config_for_model` wraps a model config into a whole valid :class:`Config`, and
:func:`load_backbone_and_head` loads strictly (backbone + head must match exactly; the temporal modules keep
their initialisation).

Shape legend: N tokens (h x w patch grid), C width, K joints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import CodecConfig, Config, DataConfig, ModelConfig, validate
from ..errors import CheckpointError, ConfigError
from ..state_dicts import diff_state_dict
from .heads import head_output_size
from .vit import VIT_SIZES, conv_grid_size

__all__ = [
    "KNOWN_GRIDS",
    "infer_source_grid",
    "infer_model_config",
    "resample_pos_embed",
    "fit_pos_embed",
    "config_for_model",
    "load_backbone_and_head",
]

#: Position grids of the input sizes ViTPose and MAE checkpoints are published at, by token count:
# 256x192 -> 16x12, 384x288 -> 24x18, 256x256 -> 16x16, 224x224 (MAE) -> 14x14, 512x384 -> 32x24.
KNOWN_GRIDS: dict[int, tuple[int, int]] = {
    192: (16, 12),
    432: (24, 18),
    256: (16, 16),
    196: (14, 14),
    768: (32, 24),
}


# --------------------------------------------------------------------------------------- geometry
def infer_source_grid(
    num_tokens: int, hint: tuple[int, int] | None = None, fallback: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(h, w) of a position grid holding ``num_tokens`` tokens.

    In order, the first that holds that many tokens: ``hint`` (the checkpoint's own grid, when known), the
    grids of the published ViTPose / MAE input sizes (``KNOWN_GRIDS``), ``fallback`` (e.g. the target model's
    grid), a square; otherwise :class:`CheckpointError`.
    """
    if hint is not None and hint[0] * hint[1] == num_tokens:
        return hint
    if num_tokens in KNOWN_GRIDS:
        return KNOWN_GRIDS[num_tokens]
    if fallback is not None and fallback[0] * fallback[1] == num_tokens:
        return fallback
    side = math.isqrt(num_tokens)
    if side * side == num_tokens:
        return side, side
    raise CheckpointError(
        f"cannot tell the (h, w) position grid of {num_tokens} tokens; pass the checkpoint's input size "
        "(image_size) so that its grid is known"
    )


def resample_pos_embed(pos_embed: Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int]) -> Tensor:
    """Bicubic resampling of a position grid with explicit (h, w): ``[1, h*w, C] -> [1, h'*w', C]``."""
    _, n, c = pos_embed.shape
    if n != src_grid[0] * src_grid[1]:
        raise CheckpointError(f"position embedding has {n} tokens, not a {src_grid[0]}x{src_grid[1]} grid")
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    grid = pos_embed.reshape(1, src_grid[0], src_grid[1], c).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=tuple(dst_grid), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, dst_grid[0] * dst_grid[1], c).to(pos_embed.dtype)


def fit_pos_embed(
    converted: Mapping[str, Tensor], cfg: ModelConfig, src_grid: tuple[int, int] | None = None
) -> dict[str, Tensor]:
    """Return ``converted`` with ``backbone.pos_embed`` resampled to the token grid of ``cfg.image_size``."""
    out = dict(converted)
    pos = out["backbone.pos_embed"]
    dst = conv_grid_size(cfg.image_size, cfg.vit.patch_size, cfg.vit.patch_padding)
    src = infer_source_grid(pos.shape[1], src_grid, fallback=dst)
    out["backbone.pos_embed"] = resample_pos_embed(pos, src, dst)
    return out


# ----------------------------------------------------------------------------------------- config
def infer_model_config(
    converted: Mapping[str, Tensor],
    *,
    num_heads: int | None = None,
    frames: int = 1,
    image_size: tuple[int, int] | None = None,
    source_grid: tuple[int, int] | None = None,
    base: ModelConfig | None = None,
) -> ModelConfig:
    """The :class:`ModelConfig` that the converted backbone + head weights describe.

    Read off the weights: width C and patch size (patch-embedding conv), depth (blocks), MLP ratio, qkv bias
    (``attn.qkv.bias`` present), head kind (deconv layers present -> classic, else simple), deconv channels
    and count, final kernel, K joints.
    Heads: ``num_heads``, else the ``VIT_SIZES`` row with the same (width, depth), else ``C // 64``.
    Image size: ``image_size``, else the position grid times the patch size (ViTPose: 16x12 -> 256x192).
    The checkpoint's grid: :func:`infer_source_grid` with ``source_grid`` as hint and ``image_size``'s grid as
    fallback.
    ``frames`` = T: 1 builds the single-frame model, T > 1 the temporal one (its new modules keep their init).
    Other fields (LayerNorm eps, activation, ...) come from ``base`` (default: ``ModelConfig()``).
    """
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    for key in ("backbone.patch_embed.proj.weight", "backbone.pos_embed", "head.final_layer.weight"):
        if key not in converted:
            raise CheckpointError(f"converted weights have no {key}")
    proj = converted["backbone.patch_embed.proj.weight"]  # [C, 3, p, p]
    embed_dim, patch = int(proj.shape[0]), int(proj.shape[-1])
    if proj.shape[-2] != patch:
        raise CheckpointError(f"non-square patch embedding {tuple(proj.shape)} is not supported")
    block_ids = {int(m.group(1)) for k in converted if (m := re.match(r"backbone\.blocks\.(\d+)\.", k))}
    depth = len(block_ids)
    if depth == 0:
        raise CheckpointError("converted weights have no backbone.blocks.*")
    if block_ids != set(range(depth)):
        raise CheckpointError(f"backbone blocks are not numbered 0..{depth - 1}: {sorted(block_ids)}")
    mlp_ratio = converted["backbone.blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    base = base if base is not None else ModelConfig()
    qkv_bias = base.vit.qkv_bias
    if "backbone.blocks.0.attn.qkv.weight" in converted:
        qkv_bias = "backbone.blocks.0.attn.qkv.bias" in converted

    sizes = VIT_SIZES
    size_name = next(
        (n for n, r in sizes.items() if (r["embed_dim"], r["depth"]) == (embed_dim, depth)), None
    )
    if num_heads is None:
        num_heads = sizes[size_name]["num_heads"] if size_name is not None else max(1, embed_dim // 64)
    if embed_dim % num_heads:
        raise ConfigError(f"num_heads {num_heads} does not divide the width {embed_dim}")
    if size_name is None:
        size_name = next((n for n, r in sizes.items() if r["embed_dim"] == embed_dim), next(iter(sizes)))

    vit = replace(
        base.vit,
        size=size_name,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        qkv_bias=qkv_bias,
        patch_size=patch,
    )

    final = converted["head.final_layer.weight"]  # [K, C', k, k]
    deconv_ids = sorted(
        int(m.group(1))
        for k, v in converted.items()
        if (m := re.fullmatch(r"head\.deconv_layers\.(\d+)\.weight", k)) and v.ndim == 4
    )
    kernel = int(final.shape[-1])
    if deconv_ids:
        channels = int(converted[f"head.deconv_layers.{deconv_ids[-1]}.weight"].shape[1])
        head = replace(
            base.head,
            kind="classic",
            deconv_channels=channels,
            num_deconv=len(deconv_ids),
            final_kernel=None if kernel == 1 else kernel,  # None = the kind's default (classic 1, simple 3)
        )
    else:
        head = replace(base.head, kind="simple", final_kernel=None if kernel == 3 else kernel)

    n = int(converted["backbone.pos_embed"].shape[1])
    target_grid = conv_grid_size(image_size, patch, vit.patch_padding) if image_size is not None else None
    grid = infer_source_grid(n, source_grid, fallback=target_grid)
    if image_size is None:
        image_size = (grid[0] * patch, grid[1] * patch)
        if conv_grid_size(image_size, patch, vit.patch_padding) != grid:
            raise CheckpointError(
                f"the {grid[0]}x{grid[1]} position grid matches no image size; pass image_size"
            )
    # Frame masking needs more frames than masked ones; a short window masks fewer (none for T = 1).
    mlsme = replace(base.mlsme, frame_mask_count=min(base.mlsme.frame_mask_count, frames - 1))
    return replace(
        base,
        temporal=frames > 1,
        num_frames=frames,
        num_joints=int(final.shape[0]),
        image_size=(int(image_size[0]), int(image_size[1])),
        vit=vit,
        head=head,
        mlsme=mlsme,
    )


def config_for_model(model_cfg: ModelConfig, name: str = "converted") -> Config:
    """A whole, valid :class:`Config` around ``model_cfg``: codec sizes and frame offsets made consistent."""
    t = model_cfg.num_frames
    h, w = model_cfg.image_size
    offsets = tuple(range(-(t // 2), t - t // 2))
    cfg = Config(
        name=name,
        model=model_cfg,
        codec=replace(CodecConfig(), input_size=(h, w), heatmap_size=head_output_size(model_cfg)),
        data=replace(DataConfig(), frame_offsets=offsets),
    )
    validate(cfg)
    return cfg


# ------------------------------------------------------------------------------------ strict load
_BN_COUNTER = ".num_batches_tracked"


def load_backbone_and_head(
    model: nn.Module, converted: Mapping[str, Tensor], where: str = "converted"
) -> None:
    """Load converted weights strictly into ``model.backbone`` and ``model.head``; the rest keeps its init.

    The converted keys must be exactly the model's ``backbone.*`` + ``head.*`` keys with the same shapes
    (a missing BatchNorm ``num_batches_tracked`` counter is filled with 0); otherwise :class:`CheckpointError`
    lists every missing, unexpected and mis-shaped key.
    """
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(("backbone.", "head."))}
    got = dict(converted)
    for key, value in expected.items():
        if key.endswith(_BN_COUNTER) and key not in got:
            got[key] = torch.zeros_like(value)
    diff = diff_state_dict(expected, got)
    if diff:
        raise CheckpointError(f"{where}: weights do not fit the model's backbone + head: {diff.describe()}")
    result = model.load_state_dict(got, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert not any(k.startswith(("backbone.", "head.")) for k in result.missing_keys), result.missing_keys
