"""Heatmap heads: ViTPose's parameter layout, output sizes, the simple head's order of operations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidpose.config import HeadConfig
from vidpose.errors import ConfigError
from vidpose.models.heads import ClassicHead, SimpleHead, build_head


def tokens(batch: int = 2, grid: tuple[int, int] = (4, 3), dim: int = 32) -> torch.Tensor:
    return torch.randn(batch, grid[0] * grid[1], dim, generator=torch.Generator().manual_seed(0))


def test_classic_head_matches_vitpose_layout():
    head = ClassicHead(32, HeadConfig(), num_joints=17)
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes["deconv_layers.0.weight"] == (32, 256, 4, 4)
    assert "deconv_layers.0.bias" not in shapes
    assert shapes["deconv_layers.1.running_mean"] == (256,)
    assert shapes["deconv_layers.3.weight"] == (256, 256, 4, 4)
    assert shapes["deconv_layers.4.weight"] == (256,)
    assert shapes["final_layer.weight"] == (17, 256, 1, 1) and shapes["final_layer.bias"] == (17,)
    assert len(head.deconv_layers) == 6
    out = head.eval()(tokens(), (4, 3))
    assert out.shape == (2, 17, 16, 12)


@pytest.mark.parametrize(("num_deconv", "scale"), [(0, 1), (1, 2), (2, 4), (3, 8)])
def test_output_size_follows_num_deconv(num_deconv, scale):
    for kind in ("classic", "simple"):
        head = build_head(HeadConfig(kind=kind, num_deconv=num_deconv, deconv_channels=16), 32, 5)
        assert head(tokens(grid=(3, 2)), (3, 2)).shape == (2, 5, 3 * scale, 2 * scale), kind


def test_simple_head_is_relu_then_bilinear_x4_then_conv3x3():
    head = SimpleHead(32, HeadConfig(kind="simple"), num_joints=17)
    assert tuple(head.final_layer.weight.shape) == (17, 32, 3, 3)
    x = tokens()
    fmap = x.transpose(1, 2).reshape(2, 32, 4, 3)
    expected = head.final_layer(
        F.interpolate(F.relu(fmap), scale_factor=4, mode="bilinear", align_corners=False)
    )
    torch.testing.assert_close(head(x, (4, 3)), expected)
    assert head(x, (4, 3)).shape == (2, 17, 16, 12)


def test_final_kernel_override_and_vitpose_init():
    head = build_head(HeadConfig(kind="classic", final_kernel=3), 32, 17)
    assert tuple(head.final_layer.weight.shape) == (17, 256, 3, 3)
    assert head.deconv_layers[0].weight.std().item() == pytest.approx(0.001, rel=0.1)
    assert torch.all(head.final_layer.bias == 0)
    simple = build_head(HeadConfig(kind="simple", final_kernel=1), 32, 17)
    assert isinstance(simple, SimpleHead) and tuple(simple.final_layer.weight.shape) == (17, 32, 1, 1)


def test_bad_head_config_raises():
    with pytest.raises(ConfigError, match="kind"):
        build_head(HeadConfig(kind="fancy"), 32, 17)
    with pytest.raises(ConfigError, match="final_kernel"):
        build_head(HeadConfig(final_kernel=2), 32, 17)
    with pytest.raises(ConfigError, match="4x4"):
        build_head(HeadConfig(), 32, 17)(tokens(), (4, 4))
