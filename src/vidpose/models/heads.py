"""Heatmap heads: ViTPose's classic (deconvolution) and simple (bilinear) decoders.

Legend: B batch, N = h * w tokens, C width, K joints; both heads map tokens [B, N, C] on an (h, w) grid to
heatmaps [B, K, s h, s w] with s = 2 ** ``cfg.num_deconv`` (4 by default, so a 16x12 grid gives 64x48).

Parameter names follow ViTPose's ``TopdownHeatmapSimpleHead`` (``deconv_layers.{0,1,3,4}``, ``final_layer``)
so that checkpoints convert by prefix only.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..config import HeadConfig, ModelConfig
from ..errors import ConfigError
from .vit import conv_grid_size

__all__ = ["ClassicHead", "SimpleHead", "build_head", "head_output_size"]


def head_output_size(cfg: ModelConfig) -> tuple[int, int]:
    """(Hh, Wh) of the heatmaps the model ``cfg`` describes: the backbone's token grid of ``cfg.image_size``
    times ``2 ** cfg.head.num_deconv`` (both heads, the motion head included). ``codec.heatmap_size`` must
    equal it (``vidpose.config.validate``)."""
    h, w = conv_grid_size(tuple(cfg.image_size), cfg.vit.patch_size, cfg.vit.patch_padding)
    scale = 2**cfg.head.num_deconv
    return h * scale, w * scale


def _tokens_to_map(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """tokens [B, N, C] -> feature map [B, C, h, w]."""
    B, N, C = x.shape
    h, w = grid
    if h * w != N:
        raise ConfigError(f"head input has {N} tokens, expected a {h}x{w} grid")
    return x.transpose(1, 2).reshape(B, C, h, w)


def _final_kernel(cfg: HeadConfig, default: int) -> int:
    kernel = default if cfg.final_kernel is None else cfg.final_kernel
    if kernel < 1 or kernel % 2 == 0:
        raise ConfigError(f"model.head.final_kernel must be odd and >= 1, got {kernel}")
    return kernel


class ClassicHead(nn.Module):
    """ViTPose's classic decoder: ``num_deconv`` x [ConvTranspose2d(4x4, stride 2, padding 1, no bias),
    BatchNorm2d, ReLU] with ``deconv_channels`` channels, then ``final_layer`` Conv2d(-> K, final_kernel;
    ViTPose: 1). tokens [B, N, C], grid (h, w) -> heatmaps [B, K, h * 2**num_deconv, w * 2**num_deconv]."""

    def __init__(self, in_dim: int, cfg: HeadConfig, num_joints: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_dim
        for _ in range(cfg.num_deconv):
            layers += [
                nn.ConvTranspose2d(
                    channels, cfg.deconv_channels, 4, stride=2, padding=1, output_padding=0, bias=False
                ),
                nn.BatchNorm2d(cfg.deconv_channels),
                nn.ReLU(inplace=True),
            ]
            channels = cfg.deconv_channels
        self.deconv_layers = nn.Sequential(*layers)
        kernel = _final_kernel(cfg, default=1)
        self.final_layer = nn.Conv2d(channels, num_joints, kernel, padding=kernel // 2)
        for m in self.modules():  # ViTPose's init
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """tokens [B, N, C], grid (h, w) -> heatmaps [B, K, s h, s w]."""
        B, N, C = x.shape
        return self.final_layer(self.deconv_layers(_tokens_to_map(x, grid)))


class SimpleHead(nn.Module):
    """ViTPose's simple decoder: ReLU, bilinear upsampling by 2**num_deconv (align_corners=False; ViTPose:
    x4), then ``final_layer`` Conv2d(C -> K, final_kernel; 3 as in ViTPose when ``final_kernel`` is None).
    ReLU comes before the upsampling, as in ViTPose's ``TopdownHeatmapSimpleHead(upsample=4)``.
    tokens [B, N, C], grid (h, w) -> heatmaps [B, K, s h, s w]."""

    def __init__(self, in_dim: int, cfg: HeadConfig, num_joints: int) -> None:
        super().__init__()
        self.scale = 2**cfg.num_deconv
        kernel = _final_kernel(cfg, default=3)
        self.final_layer = nn.Conv2d(in_dim, num_joints, kernel, padding=kernel // 2)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    def forward(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """tokens [B, N, C], grid (h, w) -> heatmaps [B, K, s h, s w]."""
        B, N, C = x.shape
        x = F.relu(_tokens_to_map(x, grid))
        if self.scale != 1:
            x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.final_layer(x)


def build_head(cfg: HeadConfig, in_dim: int, num_joints: int) -> ClassicHead | SimpleHead:
    """The heatmap head named by ``cfg.kind``."""
    if cfg.kind == "classic":
        return ClassicHead(in_dim, cfg, num_joints)
    if cfg.kind == "simple":
        return SimpleHead(in_dim, cfg, num_joints)
    raise ConfigError(f"model.head.kind: expected classic or simple, got {cfg.kind!r}")
