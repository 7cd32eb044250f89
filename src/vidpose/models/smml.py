"""SMML, Spatial-Motion Mutual Learning, and the fusion ablations (METHOD.md sections 2.3 and 4).

Legend: B batch, N = h * w tokens of the key frame, C backbone width.

Paper symbols, mapped once: Fs = ``spatial`` (the backbone's key-frame tokens), Fm = ``motion`` (the MLSME's
motion feature), Fs' / Fm' = the streams after the cross-attention layers, W = the pixel-wise fusion weight,
Ffuse = the output handed to the heatmap head.

Each fusion is a small class; :data:`FUSIONS` maps ``model.smml.fusion`` to it and :func:`build_fusion` is the
one builder. All of them equal Fs exactly at initialisation (METHOD.md: a converted single-frame ViTPose
reproduces its heatmaps before any fine-tuning).

    >>> fusion = build_fusion(768, SMMLConfig(fusion="smml", num_layers=2), grid=(16, 12))
    >>> fusion(torch.randn(2, 192, 768), torch.randn(2, 192, 768)).shape
    torch.Size([2, 192, 768])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import SMMLConfig
from ..errors import ConfigError
from .blocks import CrossBlock, init_transformer_weights

__all__ = ["Fusion", "SMML", "CrossAttentionFusion", "SumFusion", "ConcatFusion", "FUSIONS", "build_fusion"]


class Fusion(nn.Module):
    """Base of the fusions: Fs [B, N, C], Fm [B, N, C] -> Ffuse [B, N, C].

    Holds the bidirectional cross-attention streams (``spatial_blocks``, ``motion_blocks``; empty for the
    fusions without attention), both updated from the previous layer's values:
    ``Fs' = Fs + CA(q=norm(Fs), kv=norm(Fm))`` then ``Fs' += FFN(norm(Fs'))``, and ``Fm'`` likewise with the
    roles swapped. The residuals (the cross-attention ``proj`` and the FFN's ``fc2``) start at zero, so
    ``Fs' = Fs`` at initialisation. A subclass says how many layers it builds (:meth:`num_stream_layers`)
    and how it combines the two streams (:meth:`combine`).

    Args:
        dim: width C of both streams.
        cfg: :class:`vidpose.config.SMMLConfig`.
        grid: token grid (h, w).
    """

    #: the ``model.smml.fusion`` value of the class
    name: str = ""
    #: whether the class runs the cross-attention layers
    uses_attention: bool = False

    def __init__(self, dim: int, cfg: SMMLConfig, grid: tuple[int, int]) -> None:
        super().__init__()
        self.grid = (int(grid[0]), int(grid[1]))
        if self.uses_attention:
            if cfg.num_layers < 1:
                raise ConfigError(
                    f"model.smml.num_layers must be >= 1 for fusion {self.name}, got {cfg.num_layers}"
                )
            if dim % cfg.num_heads:
                raise ConfigError(f"model.smml.num_heads {cfg.num_heads} does not divide the width {dim}")
        num_spatial, num_motion = self.num_stream_layers(cfg)
        self.spatial_blocks = nn.ModuleList(
            CrossBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(num_spatial)
        )
        self.motion_blocks = nn.ModuleList(
            CrossBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(num_motion)
        )
        self.apply(init_transformer_weights)
        for block in (*self.spatial_blocks, *self.motion_blocks):
            block.zero_init_residual()

    def num_stream_layers(self, cfg: SMMLConfig) -> tuple[int, int]:
        """(spatial, motion) cross-attention layers this fusion builds; none by default."""
        return 0, 0

    def streams(self, spatial: Tensor, motion: Tensor) -> tuple[Tensor, Tensor]:
        """Fs [B, N, C], Fm [B, N, C] -> Fs', Fm' [B, N, C] after the cross-attention layers."""
        fs, fm = spatial, motion
        for i, spatial_block in enumerate(self.spatial_blocks):
            next_fs = spatial_block(fs, fm)
            if i < len(self.motion_blocks):
                fm = self.motion_blocks[i](fm, fs)
            fs = next_fs
        return fs, fm

    def combine(self, fs: Tensor, fm: Tensor) -> Tensor:
        """Fs' [B, N, C], Fm' [B, N, C] -> Ffuse [B, N, C]."""
        raise NotImplementedError

    def forward(self, spatial: Tensor, motion: Tensor) -> Tensor:
        """spatial Fs [B, N, C], motion Fm [B, N, C] -> Ffuse [B, N, C]."""
        return self.combine(*self.streams(spatial, motion))


class SMML(Fusion):
    """The paper's module (``fusion: smml``): ``num_layers`` mutual cross-attention layers, then
    ``W = sigmoid(conv_kxk([Fs'; Fm']))`` on the (h, w) grid, with 1 channel or C channels
    (``per_channel_weights``), and

        ``Ffuse = Fs' + gamma * (1 - W) * (Fm' - Fs')``

    with ``gamma`` (``fusion_scale``) a learnable per-channel scale [C]. With ``gamma = 1`` this is exactly
    the paper's ``W * Fs' + (1 - W) * Fm'``. ``gamma`` exists for the initialisation: METHOD.md asks that at
    step 0 the fused output equals the spatial branch, so that a converted single-frame ViTPose reproduces its
    heatmaps. The zero-initialised residuals make ``Fs' = Fs`` exactly, but a gate biased to the spatial side
    only gives ``W = sigmoid(b) < 1``, i.e. ``Ffuse`` close to but not equal to Fs (off by
    ``(1 - W) * (Fm - Fs)``). With ``gamma`` initialised to ``cfg.fusion_scale_init = 0`` the output is Fs bit
    for bit; the gate starts at ``sigmoid(gate_init_bias)`` (conv weights zero) and starts learning once gamma
    has moved. Set ``fusion_scale_init = 1`` to start from the paper's formula instead.
    """

    name = "smml"
    uses_attention = True

    def __init__(self, dim: int, cfg: SMMLConfig, grid: tuple[int, int]) -> None:
        super().__init__(dim, cfg, grid)
        if cfg.gate_kernel < 1 or cfg.gate_kernel % 2 == 0:
            raise ConfigError(f"model.smml.gate_kernel must be odd and >= 1, got {cfg.gate_kernel}")
        out_channels = dim if cfg.per_channel_weights else 1
        self.gate = nn.Conv2d(2 * dim, out_channels, cfg.gate_kernel, padding=cfg.gate_kernel // 2)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, cfg.gate_init_bias)
        self.fusion_scale = nn.Parameter(torch.full((dim,), float(cfg.fusion_scale_init)))

    def num_stream_layers(self, cfg: SMMLConfig) -> tuple[int, int]:
        return cfg.num_layers, cfg.num_layers

    def combine(self, fs: Tensor, fm: Tensor) -> Tensor:
        B, N, C = fs.shape
        h, w = self.grid
        pair = torch.cat([fs, fm], dim=-1).transpose(1, 2).reshape(B, 2 * C, h, w)
        weight = self.gate(pair).sigmoid().flatten(2).transpose(1, 2)  # W: [B, N, 1 or C]
        return fs + self.fusion_scale * (1.0 - weight) * (fm - fs)


class CrossAttentionFusion(Fusion):
    """Ablation ``fusion: cross_attention``: the cross-attention layers only, no gate: ``Ffuse = Fs'``. The
    last layer's motion update would be unused, so it is not built (``num_layers - 1`` motion layers)."""

    name = "cross_attention"
    uses_attention = True

    def num_stream_layers(self, cfg: SMMLConfig) -> tuple[int, int]:
        return cfg.num_layers, cfg.num_layers - 1

    def combine(self, fs: Tensor, fm: Tensor) -> Tensor:
        return fs


class SumFusion(Fusion):
    """Ablation ``fusion: sum``: ``Ffuse = Fs + gamma * Fm`` (gamma ``fusion_scale`` per channel, initialised
    to ``fusion_scale_init``)."""

    name = "sum"

    def __init__(self, dim: int, cfg: SMMLConfig, grid: tuple[int, int]) -> None:
        super().__init__(dim, cfg, grid)
        self.fusion_scale = nn.Parameter(torch.full((dim,), float(cfg.fusion_scale_init)))

    def combine(self, fs: Tensor, fm: Tensor) -> Tensor:
        return fs + self.fusion_scale * fm


class ConcatFusion(Fusion):
    """Ablation ``fusion: concat``: ``Ffuse = Fs + fuse([Fs; Fm])``, ``fuse`` a zero-initialised Linear."""

    name = "concat"

    def __init__(self, dim: int, cfg: SMMLConfig, grid: tuple[int, int]) -> None:
        super().__init__(dim, cfg, grid)
        self.fuse = nn.Linear(2 * dim, dim)
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def combine(self, fs: Tensor, fm: Tensor) -> Tensor:
        return fs + self.fuse(torch.cat([fs, fm], dim=-1))


#: ``model.smml.fusion`` -> its class.
FUSIONS: dict[str, type[Fusion]] = {
    cls.name: cls for cls in (SMML, ConcatFusion, SumFusion, CrossAttentionFusion)
}


def build_fusion(dim: int, cfg: SMMLConfig, grid: tuple[int, int]) -> Fusion:
    """The fusion ``cfg.fusion`` names (:data:`FUSIONS`): Fs [B, N, C], Fm [B, N, C] -> Ffuse [B, N, C]."""
    if cfg.fusion not in FUSIONS:
        raise ConfigError(f"model.smml.fusion: expected one of {list(FUSIONS)}, got {cfg.fusion!r}")
    return FUSIONS[cfg.fusion](dim, cfg, grid)
