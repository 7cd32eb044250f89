"""Plain ViT backbone as in ViTPose: conv patch embedding, absolute position embedding, pre-norm blocks,
final LayerNorm, no class token.

Legend: B batch, N = h * w tokens, C embed_dim, (H, W) image size, (h, w) token grid.

Sizes are data (:data:`VIT_SIZES`); :func:`create_vit` is the only builder. Parameter names are the
contract with the weight converter (``models/weights.py``): ``patch_embed.proj``, ``pos_embed`` [1, N, C]
(no class slot: the converter folds ViTPose's ``pos_embed[:, 1:] + pos_embed[:, :1]`` into it),
``blocks.{i}.norm1``, ``blocks.{i}.attn.qkv``, ``blocks.{i}.attn.proj``, ``blocks.{i}.norm2``,
``blocks.{i}.mlp.fc1``, ``blocks.{i}.mlp.fc2``, ``last_norm``.

    >>> vit = create_vit("base", image_size=(256, 192))
    >>> vit.grid_size
    (16, 12)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..errors import ConfigError
from .blocks import LN_EPS, Block, init_transformer_weights

__all__ = ["VIT_SIZES", "VisionTransformer", "create_vit", "conv_grid_size"]

#: Width, depth and heads per size. small/base/large/huge are ViTPose's S/B/L/H; nano/tiny are for CPU runs.
VIT_SIZES: dict[str, dict[str, int]] = {
    "nano": dict(embed_dim=128, depth=4, num_heads=4),
    "tiny": dict(embed_dim=192, depth=8, num_heads=3),
    "small": dict(embed_dim=384, depth=12, num_heads=12),
    "base": dict(embed_dim=768, depth=12, num_heads=12),
    "large": dict(embed_dim=1024, depth=24, num_heads=16),
    "huge": dict(embed_dim=1280, depth=32, num_heads=16),
}


def conv_grid_size(image_size: tuple[int, int], patch_size: int, padding: int) -> tuple[int, int]:
    """Token grid (h, w) of a Conv2d(kernel=stride=patch_size, padding) over an (H, W) image."""
    h, w = ((s + 2 * padding - patch_size) // patch_size + 1 for s in image_size)
    return h, w


class VisionTransformer(nn.Module):
    """ViTPose-style backbone: images [B, 3, H, W] -> tokens [B, N, C].

    Args:
        image_size: (H, W) of the input; fixes the token grid and the position embedding.
        patch_size, patch_padding: the patch-embedding conv (ViTPose: 16 and 2; 256x192 -> a 16x12 grid).
        embed_dim, depth, num_heads: width C, number of blocks, attention heads.
        mlp_ratio: MLP hidden width relative to C.
        qkv_bias: the attention's ``qkv`` projection has a bias (ViTPose: yes).
        norm_eps: eps of every LayerNorm of the backbone (the blocks' and ``last_norm``; ViTPose: 1e-6,
            Hugging Face VitPose configs: 1e-12).
        activation: the MLPs' activation, one of ``blocks.ACTIVATIONS`` (ViTPose: exact ``gelu``).
        drop_path_rate: stochastic depth of the last block; block i gets ``rate * i / (depth - 1)``.
        grad_checkpointing: recompute each block in backward (training only) to save memory.
    """

    def __init__(
        self,
        image_size: tuple[int, int] = (256, 192),
        patch_size: int = 16,
        patch_padding: int = 2,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_eps: float = LN_EPS,
        activation: str = "gelu",
        drop_path_rate: float = 0.0,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ConfigError(f"model.vit: embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.grad_checkpointing = grad_checkpointing
        self.grid_size = conv_grid_size(self.image_size, patch_size, patch_padding)
        if min(self.grid_size) < 1:
            raise ConfigError(f"model.image_size {self.image_size} is smaller than one patch ({patch_size})")
        num_tokens = self.grid_size[0] * self.grid_size[1]

        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, embed_dim, patch_size, stride=patch_size, padding=patch_padding)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # linear ramp 0 -> rate
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                mlp_ratio,
                drop_path=r,
                qkv_bias=qkv_bias,
                norm_eps=norm_eps,
                activation=activation,
            )
            for r in rates
        )
        self.last_norm = nn.LayerNorm(embed_dim, eps=norm_eps)

        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.apply(init_transformer_weights)

    @property
    def num_tokens(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    def forward_features(self, x: Tensor) -> Tensor:
        """images [B, 3, H, W] -> tokens [B, N, C] (after ``last_norm``)."""
        B, _, H, W = x.shape
        x = self.patch_embed.proj(x)  # [B, C, h, w]
        if tuple(x.shape[2:]) != self.grid_size:
            raise ConfigError(
                f"input of {H}x{W} gives a {x.shape[2]}x{x.shape[3]} token grid, the backbone was built for "
                f"{self.grid_size[0]}x{self.grid_size[1]} (model.image_size {self.image_size})"
            )
        x = x.flatten(2).transpose(1, 2) + self.pos_embed
        use_checkpoint = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False) if use_checkpoint else block(x)
        return self.last_norm(x)

    def forward(self, x: Tensor) -> Tensor:
        """images [B, 3, H, W] -> tokens [B, N, C]."""
        return self.forward_features(x)

    def layer_id(self, name: str) -> int:
        """Layer index of a parameter named relative to this module, for layer-wise lr decay:
        ``patch_embed.*`` and ``pos_embed`` 0, ``blocks.{i}.*`` i + 1, anything else (``last_norm``)
        depth + 1."""
        if name.startswith("patch_embed.") or name == "pos_embed":
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return self.depth + 1


def create_vit(size: str, **overrides: Any) -> VisionTransformer:
    """Build a :class:`VisionTransformer` from a row of :data:`VIT_SIZES`; keyword overrides win, and an
    override of ``None`` means "take the table's value" (as ``ViTConfig.embed_dim = None`` does)."""
    if size not in VIT_SIZES:
        raise ConfigError(f"model.vit.size: unknown size {size!r}, expected one of {list(VIT_SIZES)}")
    kwargs: dict[str, Any] = dict(VIT_SIZES[size])
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return VisionTransformer(**kwargs)
