"""MLSME, the Multi-Level Semantic Motion Encoder (METHOD.md section 2.2).

Legend: B batch, T frames, N = h * w tokens per frame, C backbone width, D encoder width, p patch size.

Paper symbols, mapped once:
    F  = ``feats`` [B, T, N, C], the backbone's per-frame features;
    Z  = the encoder tokens [B, T, N, D] (``Linear(C -> D)(F) + PE_spatial + PE_temporal``);
    rho_p = ``cfg.cube_mask_ratio``; L_p = ``cfg.patch_layers``; L_f = ``cfg.frame_layers``;
    k = ``cfg.frame_mask_count``;
    Fm = ``motion`` [B, N, C], the key frame's motion feature handed to the SMML.

Pipeline (training-only steps marked *):
    Z = proj_in(F), *cube-masked tokens replaced by ``mask_token``, + fixed 2D sin-cos PE (h, w) + learnable
    temporal PE [T, D]; patch-level encoder (L_p blocks alternating joint space-time attention over all T * N
    tokens and divided attention: temporal over T per position, then spatial over N per frame); *k frames
    replaced by ``frame_mask_token`` (+ the same PEs, so the frame-level encoder knows where the hole is);
    frame-level encoder (L_f joint blocks); LayerNorm; Fm = proj_out(key slot [+ attention pooling over T]);
    *context head: Linear(D -> p * p * 3) on the key frame's tokens predicts its pixels.
No masking and no reconstruction in eval mode.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import MLSMEConfig
from ..errors import ConfigError
from .blocks import LN_EPS, Block, DividedSpaceTimeBlock, init_transformer_weights
from .masking import cube_mask, frame_mask

__all__ = ["MLSME", "sincos_pos_embed_2d"]


def sincos_pos_embed_2d(dim: int, grid: tuple[int, int], temperature: float = 10000.0) -> Tensor:
    """Fixed 2D sin-cos position encoding of an (h, w) grid -> [N, dim], rows first: the first half of the
    channels encodes the row (sin, cos), the second half the column. ``dim`` must be divisible by 4."""
    if dim % 4:
        raise ConfigError(f"model.mlsme.dim must be divisible by 4 for the 2D sin-cos encoding, got {dim}")
    h, w = grid
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    y = rows.reshape(-1, 1) * omega  # [N, dim / 4]
    x = cols.reshape(-1, 1) * omega
    return torch.cat([y.sin(), y.cos(), x.sin(), x.cos()], dim=1)


class MLSME(nn.Module):
    """Multi-Level Semantic Motion Encoder: feats [B, T, N, C] -> dict with ``motion`` [B, N, C].

    Args:
        in_dim: backbone width C.
        cfg: encoder width, depth, masking and pooling (:class:`vidpose.config.MLSMEConfig`).
        num_frames: T; the key frame is ``T // 2``.
        grid: token grid (h, w) of the backbone.
        patch_size: p, for the context head's output (p * p * 3 pixels per token).
        use_context_head: build the context reconstruction head (False when its loss is off, so that no
            parameter goes without a gradient).
    """

    def __init__(
        self,
        in_dim: int,
        cfg: MLSMEConfig,
        num_frames: int,
        grid: tuple[int, int],
        patch_size: int,
        use_context_head: bool = True,
    ) -> None:
        super().__init__()
        D = cfg.dim
        if D % cfg.num_heads:
            raise ConfigError(
                f"model.mlsme.dim {D} is not divisible by model.mlsme.num_heads {cfg.num_heads}"
            )
        if cfg.motion_pool not in ("key", "key_plus_pool"):
            raise ConfigError(
                f"model.mlsme.motion_pool: expected key or key_plus_pool, got {cfg.motion_pool!r}"
            )
        self.cfg = cfg
        self.num_frames = num_frames
        self.key_index = num_frames // 2
        self.grid = (int(grid[0]), int(grid[1]))
        self.use_cube_mask = cfg.use_cube_mask and cfg.cube_mask_ratio > 0
        self.use_frame_mask = cfg.use_frame_mask and cfg.frame_mask_count > 0
        if self.use_frame_mask and not cfg.frame_mask_count < num_frames:
            raise ConfigError(
                f"model.mlsme.frame_mask_count must be < model.num_frames ({num_frames}), "
                f"got {cfg.frame_mask_count}"
            )

        self.proj_in = nn.Linear(in_dim, D)
        self.register_buffer("pos_spatial", sincos_pos_embed_2d(D, self.grid), persistent=False)  # [N, D]
        self.pos_temporal = nn.Parameter(torch.zeros(num_frames, D))
        self.mask_token = nn.Parameter(torch.zeros(D)) if self.use_cube_mask else None
        self.frame_mask_token = nn.Parameter(torch.zeros(D)) if self.use_frame_mask else None
        self.patch_blocks = nn.ModuleList(
            Block(D, cfg.num_heads, cfg.mlp_ratio)
            if i % 2 == 0
            else DividedSpaceTimeBlock(D, cfg.num_heads, cfg.mlp_ratio)
            for i in range(cfg.patch_layers)
        )
        self.frame_blocks = nn.ModuleList(
            Block(D, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.frame_layers)
        )
        self.norm = nn.LayerNorm(D, eps=LN_EPS)
        # no bias: a softmax over T ignores a constant score, so a bias would never get a gradient
        self.pool_score = nn.Linear(D, 1, bias=False) if cfg.motion_pool == "key_plus_pool" else None
        self.proj_out = nn.Linear(D, in_dim)
        self.context_head = nn.Linear(D, patch_size * patch_size * 3) if use_context_head else None

        self.apply(init_transformer_weights)
        for p in (self.pos_temporal, self.mask_token, self.frame_mask_token):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)

    def reset_fixed_buffers(self) -> None:
        """Recompute the fixed sin-cos table (a non-persistent buffer, so no file restores it)."""
        table = sincos_pos_embed_2d(self.pos_spatial.shape[-1], self.grid)  # [N, D]
        self.pos_spatial = table.to(self.pos_temporal.device)

    @staticmethod
    def _run(block: nn.Module, x: Tensor) -> Tensor:
        """Apply a joint (all T * N tokens) or divided block to x [B, T, N, D]."""
        if isinstance(block, DividedSpaceTimeBlock):
            return block(x)
        B, T, N, D = x.shape
        return block(x.reshape(B, T * N, D)).reshape(B, T, N, D)

    def forward(self, feats: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """feats F [B, T, N, C] -> dict:

        - ``motion`` Fm [B, N, C], always;
        - training only: ``cube_mask`` [B, T, N] and ``frame_mask`` [B, T] (bool, True = hidden; all False
          when that masking is off), ``context_mask`` [B, N] (the key frame's positions hidden from the
          encoder: cube-masked ones, or all of them when the key frame was frame-masked) and, with the context
          head,
          ``context_pred`` [B, N, p * p * 3].
        """
        B, T, N, C = feats.shape
        if self.num_frames != T or self.grid[0] * self.grid[1] != N:
            raise ConfigError(
                f"MLSME built for {self.num_frames} frames of {self.grid[0]}x{self.grid[1]} tokens "
                f"(model.num_frames), got {T} frames of {N} tokens"
            )
        cfg, key = self.cfg, self.key_index
        out: dict[str, Tensor] = {}
        x = self.proj_in(feats)  # [B, T, N, D]
        pos = self.pos_spatial + self.pos_temporal[:, None]  # [T, N, D]

        if self.training:
            hidden = torch.zeros(B, T, N, dtype=torch.bool, device=feats.device)
            if self.mask_token is not None:
                hidden = cube_mask(
                    B, T, self.grid, cfg.cube_mask_ratio, cfg.cube_size, generator, feats.device
                )
                x = torch.where(hidden[..., None], self.mask_token.to(x.dtype), x)
            out["cube_mask"] = hidden
        x = x + pos
        for block in self.patch_blocks:
            x = self._run(block, x)

        if self.training:
            dropped = torch.zeros(B, T, dtype=torch.bool, device=feats.device)
            if self.frame_mask_token is not None:
                dropped = frame_mask(
                    B, T, cfg.frame_mask_count, key, cfg.key_frame_mask_prob, generator, feats.device
                )
                filler = (self.frame_mask_token + pos).to(x.dtype)  # [T, N, D]
                x = torch.where(dropped[:, :, None, None], filler, x)
            out["frame_mask"] = dropped
            out["context_mask"] = out["cube_mask"][:, key] | dropped[:, key, None]
        for block in self.frame_blocks:
            x = self._run(block, x)
        x = self.norm(x)

        key_tokens = x[:, key]  # [B, N, D]
        motion = key_tokens
        if self.pool_score is not None:
            weights = self.pool_score(x).softmax(dim=1)  # [B, T, N, 1], over frames
            motion = motion + (weights * x).sum(dim=1)
        out["motion"] = self.proj_out(motion)
        if self.training and self.context_head is not None:
            out["context_pred"] = self.context_head(key_tokens)
        return out
