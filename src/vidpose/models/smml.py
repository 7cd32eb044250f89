"""SMML, Spatial-Motion Mutual Learning, and the fusion ablations (METHOD.md sections 2.3 and 4).

Legend: B batch, N = h * w tokens of the key frame, C backbone width.

Paper symbols, mapped once: Fs = ``spatial`` (the backbone's key-frame tokens), Fm = ``motion`` (the MLSME's
motion feature), Fs' / Fm' = the streams after the cross-attention layers, W = the pixel-wise fusion weight,
Ffuse = the output handed to the heatmap head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import SMMLConfig
from ..errors import ConfigError
from .blocks import CrossBlock, init_transformer_weights

__all__ = ["SMML"]

FUSIONS = ("smml", "concat", "sum", "cross_attention")


class SMML(nn.Module):
    """Fuse the spatial and motion features of the key frame: Fs [B, N, C], Fm [B, N, C] -> Ffuse [B, N, C].

    ``fusion = "smml"`` (the paper's module):
        ``num_layers`` bidirectional cross-attention layers, both streams updated from the previous layer's
        values: ``Fs' = Fs + CA(q=norm(Fs), kv=norm(Fm))`` then ``Fs' += FFN(norm(Fs'))``, and ``Fm'``
        likewise with the roles swapped. Then ``W = sigmoid(conv_kxk([Fs'; Fm']))`` on the (h, w) grid, with
        1 channel or C channels (``per_channel_weights``), and

            ``Ffuse = Fs' + gamma * (1 - W) * (Fm' - Fs')``

        with ``gamma`` a learnable per-channel scale [C]. With ``gamma = 1`` this is exactly the paper's
        ``W * Fs' + (1 - W) * Fm'``. ``gamma`` exists for the initialisation: METHOD.md asks that at step 0
        the fused output equals the spatial branch, so that a converted single-frame ViTPose reproduces its
        heatmaps. Zero-initialised residuals (the cross-attention ``proj`` and the FFN's ``fc2``) make
        ``Fs' = Fs`` exactly, but a gate biased to the spatial side only gives ``W = sigmoid(b) < 1``, i.e.
        ``Ffuse`` close to but not equal to Fs (off by ``(1 - W) * (Fm - Fs)``). With ``gamma`` initialised to
        ``cfg.fusion_scale_init = 0`` the output is Fs bit for bit; the gate starts at
        ``sigmoid(gate_init_bias)`` (conv weights zero) and starts learning once gamma has moved.
        Set ``fusion_scale_init = 1`` to start from the paper's formula instead.

    Ablations (each equal to Fs at initialisation as well):
        ``"sum"``: ``Fs + gamma * Fm`` (gamma per channel, init ``fusion_scale_init``);
        ``"concat"``: ``Fs + Linear([Fs; Fm])`` with the Linear zero-initialised;
        ``"cross_attention"``: the cross-attention layers only, no gate: ``Ffuse = Fs'`` (the last layer's
        motion update would be unused, so it is not built).

    Args:
        dim: width C of both streams.
        cfg: :class:`vidpose.config.SMMLConfig`.
        grid: token grid (h, w), for the gate convolution.
    """

    def __init__(self, dim: int, cfg: SMMLConfig, grid: tuple[int, int]) -> None:
        super().__init__()
        if cfg.fusion not in FUSIONS:
            raise ConfigError(f"model.smml.fusion: expected one of {list(FUSIONS)}, got {cfg.fusion!r}")
        self.fusion = cfg.fusion
        self.grid = (int(grid[0]), int(grid[1]))
        uses_attention = cfg.fusion in ("smml", "cross_attention")
        if uses_attention:
            if cfg.num_layers < 1:
                raise ConfigError(
                    f"model.smml.num_layers must be >= 1 for fusion {cfg.fusion}, got {cfg.num_layers}"
                )
            if dim % cfg.num_heads:
                raise ConfigError(f"model.smml.num_heads {cfg.num_heads} does not divide the width {dim}")
        num_spatial = cfg.num_layers if uses_attention else 0
        num_motion = num_spatial if cfg.fusion == "smml" else max(num_spatial - 1, 0)
        self.spatial_blocks = nn.ModuleList(
            CrossBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(num_spatial)
        )
        self.motion_blocks = nn.ModuleList(
            CrossBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(num_motion)
        )
        self.apply(init_transformer_weights)
        for block in (*self.spatial_blocks, *self.motion_blocks):
            block.zero_init_residual()

        self.gate = None
        self.fusion_scale = None
        self.fuse = None
        if cfg.fusion == "smml":
            if cfg.gate_kernel < 1 or cfg.gate_kernel % 2 == 0:
                raise ConfigError(f"model.smml.gate_kernel must be odd and >= 1, got {cfg.gate_kernel}")
            out_channels = dim if cfg.per_channel_weights else 1
            self.gate = nn.Conv2d(2 * dim, out_channels, cfg.gate_kernel, padding=cfg.gate_kernel // 2)
            nn.init.zeros_(self.gate.weight)
            nn.init.constant_(self.gate.bias, cfg.gate_init_bias)
        if cfg.fusion in ("smml", "sum"):
            self.fusion_scale = nn.Parameter(torch.full((dim,), float(cfg.fusion_scale_init)))
        if cfg.fusion == "concat":
            self.fuse = nn.Linear(2 * dim, dim)
            nn.init.zeros_(self.fuse.weight)
            nn.init.zeros_(self.fuse.bias)

    def forward(self, spatial: Tensor, motion: Tensor) -> Tensor:
        """spatial Fs [B, N, C], motion Fm [B, N, C] -> Ffuse [B, N, C]."""
        B, N, C = spatial.shape
        fs, fm = spatial, motion
        for i, spatial_block in enumerate(self.spatial_blocks):
            next_fs = spatial_block(fs, fm)
            if i < len(self.motion_blocks):
                fm = self.motion_blocks[i](fm, fs)
            fs = next_fs

        if self.fusion == "smml":
            h, w = self.grid
            pair = torch.cat([fs, fm], dim=-1).transpose(1, 2).reshape(B, 2 * C, h, w)
            weight = self.gate(pair).sigmoid().flatten(2).transpose(1, 2)  # W: [B, N, 1 or C]
            return fs + self.fusion_scale * (1.0 - weight) * (fm - fs)
        if self.fusion == "sum":
            return fs + self.fusion_scale * fm
        if self.fusion == "concat":
            return fs + self.fuse(torch.cat([fs, fm], dim=-1))
        return fs  # cross_attention
