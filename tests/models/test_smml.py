"""SMML and the fusion ablations: exact identity at init, the paper's formula at gamma = 1, gradients."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vidpose.config import SMMLConfig
from vidpose.errors import ConfigError
from vidpose.models.smml import SMML

GRID = (4, 3)
C = 32
FUSIONS = ["smml", "concat", "sum", "cross_attention"]


def make(**kw) -> SMML:
    torch.manual_seed(0)
    return SMML(C, replace(SMMLConfig(num_heads=4), **kw), GRID)


def inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(batch, 12, C, generator=g), torch.randn(batch, 12, C, generator=g)


def perturb(module: SMML) -> None:
    """Move every parameter off its initial value (zero-initialised ones included)."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_output_is_exactly_the_spatial_feature_at_init(fusion, per_channel, layers):
    m = make(fusion=fusion, per_channel_weights=per_channel, num_layers=layers)
    fs, fm = inputs()
    out = m(fs, fm)
    assert out.shape == fs.shape
    assert torch.equal(out, fs)


@pytest.mark.parametrize("per_channel", [False, True])
def test_gamma_one_is_the_papers_pixelwise_fusion(per_channel):
    m = make(per_channel_weights=per_channel, num_layers=2, fusion_scale_init=1.0, gate_init_bias=0.0)
    perturb(m)
    with torch.no_grad():
        m.fusion_scale.fill_(1.0)
    fs, fm = inputs()
    # the streams after the mutual cross-attention, by hand
    s, t = fs, fm
    for sb, mb in zip(m.spatial_blocks, m.motion_blocks, strict=True):
        s, t = sb(s, t), mb(t, s)
    pair = torch.cat([s, t], -1).transpose(1, 2).reshape(2, 2 * C, *GRID)
    w = torch.sigmoid(m.gate(pair)).flatten(2).transpose(1, 2)
    assert w.shape == (2, 12, C if per_channel else 1)
    assert w.std() > 0.05 and w.min() > 0.0 and w.max() < 1.0  # a non-trivial pixel-wise weight
    torch.testing.assert_close(m(fs, fm), w * s + (1 - w) * t, rtol=1e-5, atol=1e-6)


def test_structure_of_each_fusion():
    m = make(fusion="smml", num_layers=2, gate_kernel=3, gate_init_bias=6.0)
    assert len(m.spatial_blocks) == 2 and len(m.motion_blocks) == 2
    assert m.gate.weight.shape == (1, 2 * C, 3, 3)
    assert torch.all(m.gate.bias == 6.0) and torch.all(m.gate.weight == 0)
    assert torch.all(m.fusion_scale == 0)
    for block in (*m.spatial_blocks, *m.motion_blocks):
        for linear in (block.attn.proj, block.mlp.fc2):
            assert torch.all(linear.weight == 0) and torch.all(linear.bias == 0)
    m = make(fusion="cross_attention", num_layers=2)
    assert len(m.spatial_blocks) == 2 and len(m.motion_blocks) == 1  # the last motion update is unused
    assert m.gate is None and m.fusion_scale is None
    m = make(fusion="sum")
    assert len(m.spatial_blocks) == 0 and m.fusion_scale.shape == (C,)
    m = make(fusion="concat")
    assert len(m.spatial_blocks) == 0 and m.fuse.weight.shape == (C, 2 * C)
    assert make(per_channel_weights=True).gate.weight.shape == (C, 2 * C, 3, 3)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_parameter_gets_a_gradient_once_moved(fusion):
    m = make(fusion=fusion, num_layers=2)
    fs, fm = inputs()
    fs.requires_grad_(True)
    fm.requires_grad_(True)
    m(fs, fm).square().mean().backward()
    assert all(p.grad is not None for p in m.parameters())
    assert fs.grad.abs().sum() > 0
    m.zero_grad()
    fm.grad = None
    perturb(m)
    m(fs, fm).square().mean().backward()
    for name, p in m.named_parameters():
        assert p.grad.abs().sum() > 0, name
    assert fm.grad.abs().sum() > 0


def test_bad_config_raises():
    with pytest.raises(ConfigError, match="fusion"):
        make(fusion="max")
    with pytest.raises(ConfigError, match="gate_kernel"):
        make(gate_kernel=2)
    with pytest.raises(ConfigError, match="num_heads"):
        make(num_heads=5)
