"""ViT backbone: every size (meta device), parameter names and counts, grid, init, layer ids."""

from __future__ import annotations

import pytest
import torch

from vidpose.errors import ConfigError
from vidpose.models.vit import VIT_SIZES, conv_grid_size, create_vit


def expected_params(
    embed_dim: int, depth: int, num_tokens: int, patch: int = 16, mlp_ratio: float = 4.0
) -> int:
    C, hidden = embed_dim, int(embed_dim * mlp_ratio)
    block = (C * 3 * C + 3 * C) + (C * C + C) + (C * hidden + hidden) + (hidden * C + C) + 4 * C
    return (3 * patch * patch * C + C) + num_tokens * C + depth * block + 2 * C


@pytest.mark.parametrize("size", list(VIT_SIZES))
def test_every_size_builds_on_meta_with_the_expected_shapes(size):
    row = VIT_SIZES[size]
    with torch.device("meta"):
        vit = create_vit(size, image_size=(256, 192))
        tokens = vit(torch.empty(2, 3, 256, 192))
    assert vit.grid_size == (16, 12)
    assert tokens.shape == (2, 192, row["embed_dim"])
    assert len(vit.blocks) == row["depth"]
    assert vit.blocks[0].attn.num_heads == row["num_heads"]
    n = sum(p.numel() for p in vit.parameters())
    assert n == expected_params(row["embed_dim"], row["depth"], 192)


def test_base_has_vitpose_b_size():
    with torch.device("meta"):
        vit = create_vit("base", image_size=(256, 192))
    n = sum(p.numel() for p in vit.parameters())
    assert n == 85_794_048  # ViTPose-B backbone: "86M"
    assert abs(n - 86e6) / 86e6 < 0.01


def test_parameter_names_are_the_converter_contract():
    vit = create_vit("nano", image_size=(64, 48))
    shapes = {k: tuple(v.shape) for k, v in vit.state_dict().items()}
    C = 128
    assert shapes["patch_embed.proj.weight"] == (C, 3, 16, 16)
    assert shapes["patch_embed.proj.bias"] == (C,)
    assert shapes["pos_embed"] == (1, 12, C)  # no class slot
    for i in range(4):
        assert shapes[f"blocks.{i}.norm1.weight"] == (C,)
        assert shapes[f"blocks.{i}.attn.qkv.weight"] == (3 * C, C)
        assert shapes[f"blocks.{i}.attn.qkv.bias"] == (3 * C,)
        assert shapes[f"blocks.{i}.attn.proj.weight"] == (C, C)
        assert shapes[f"blocks.{i}.norm2.bias"] == (C,)
        assert shapes[f"blocks.{i}.mlp.fc1.weight"] == (4 * C, C)
        assert shapes[f"blocks.{i}.mlp.fc2.weight"] == (C, 4 * C)
    assert shapes["last_norm.weight"] == (C,)
    assert not any("cls_token" in k for k in shapes)
    assert vit.blocks[0].norm1.eps == 1e-6 and vit.last_norm.eps == 1e-6


@pytest.mark.parametrize(
    ("image_size", "patch", "padding", "grid"),
    [
        ((256, 192), 16, 2, (16, 12)),
        ((64, 48), 16, 2, (4, 3)),
        ((128, 96), 16, 2, (8, 6)),
        ((224, 160), 16, 0, (14, 10)),
    ],
)
def test_grid_size_matches_the_patch_conv(image_size, patch, padding, grid):
    assert conv_grid_size(image_size, patch, padding) == grid
    vit = create_vit("nano", image_size=image_size, patch_size=patch, patch_padding=padding, depth=1)
    assert vit.grid_size == grid
    assert vit(torch.zeros(1, 3, *image_size)).shape == (1, grid[0] * grid[1], 128)


def test_wrong_input_size_and_unknown_size_raise():
    vit = create_vit("nano", image_size=(64, 48), depth=1)
    with pytest.raises(ConfigError, match="16x12"):
        vit(torch.zeros(1, 3, 256, 192))
    with pytest.raises(ConfigError, match="unknown size 'gigantic'"):
        create_vit("gigantic")
    with pytest.raises(ConfigError, match="divisible"):
        create_vit("nano", num_heads=3)


def test_overrides_win_and_none_means_the_table():
    vit = create_vit("nano", image_size=(64, 48), embed_dim=None, depth=2, num_heads=None)
    assert vit.embed_dim == 128 and vit.depth == 2 and vit.blocks[0].attn.num_heads == 4


def test_init_and_drop_path_ramp():
    torch.manual_seed(0)
    vit = create_vit("tiny", image_size=(64, 48), drop_path_rate=0.3)
    rates = [b.drop_path.prob for b in vit.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    assert rates == pytest.approx([0.3 * i / 7 for i in range(8)])
    for name, p in vit.named_parameters():
        if name.endswith("bias") and "patch_embed" not in name:
            assert torch.all(p == 0), name
        if "norm" in name and name.endswith("weight"):
            assert torch.all(p == 1), name
    qkv = vit.blocks[0].attn.qkv.weight
    assert qkv.std().item() == pytest.approx(0.02, rel=0.15)
    assert qkv.abs().max().item() < 0.2  # bounds [-2, 2] are absolute, as in timm and ViTPose
    assert vit.pos_embed.std().item() == pytest.approx(0.02, rel=0.2)


def test_layer_id():
    vit = create_vit("nano", image_size=(64, 48))
    assert vit.layer_id("patch_embed.proj.weight") == 0
    assert vit.layer_id("pos_embed") == 0
    assert vit.layer_id("blocks.0.attn.qkv.weight") == 1
    assert vit.layer_id("blocks.3.mlp.fc2.bias") == 4
    assert vit.layer_id("last_norm.weight") == 5


def test_drop_path_is_random_in_training_and_off_in_eval():
    torch.manual_seed(0)
    vit = create_vit("nano", image_size=(64, 48), drop_path_rate=0.5)
    x = torch.randn(4, 3, 64, 48)
    vit.eval()
    assert torch.equal(vit(x), vit(x))
    vit.train()
    assert not torch.equal(vit(x), vit(x))


def test_gradient_checkpointing_gives_the_same_grads():
    torch.manual_seed(0)
    plain = create_vit("nano", image_size=(64, 48), drop_path_rate=0.2).train()
    ckpt = create_vit("nano", image_size=(64, 48), drop_path_rate=0.2, grad_checkpointing=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 48)
    target = torch.randn(2, 12, 128)
    for model in (plain, ckpt):
        torch.manual_seed(1)  # the same drop-path draws (checkpoint replays the RNG state)
        ((model(x) - target) ** 2).mean().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7, msg=name)
