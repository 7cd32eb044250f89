"""Cube / tube masking, frame masking and patch (un)folding."""

from __future__ import annotations

import pytest
import torch

from vidpose.errors import ConfigError
from vidpose.models.masking import cube_mask, frame_mask, patchify, unpatchify


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_tube_masks_the_same_positions_in_every_frame_at_the_exact_ratio():
    m = cube_mask(8, 5, grid=(16, 12), ratio=0.5, cube=(0, 2, 2), generator=gen())
    assert m.shape == (8, 5, 192) and m.dtype == torch.bool
    assert torch.equal(m, m[:, :1].expand_as(m))
    # 8 x 6 = 48 blocks of 2x2, round(0.5 * 48) = 24 blocks = 96 tokens in every frame of every sample
    assert torch.all(m.sum(-1) == 96)
    assert not torch.equal(m[0], m[1])  # differs per sample


def test_masked_tokens_come_in_aligned_blocks():
    m = cube_mask(4, 3, grid=(8, 6), ratio=0.25, cube=(1, 2, 3), generator=gen(1))
    blocks = m.view(4, 3, 4, 2, 2, 3)  # [B, T, h/2, 2, w/3, 3]
    assert torch.all(blocks.all(dim=(3, 5)) == blocks.any(dim=(3, 5)))  # each block all or nothing
    assert torch.all(blocks.any(dim=(3, 5)).sum(dim=(2, 3)) == 2)  # round(0.25 * 8) blocks per frame
    assert any(not torch.equal(m[b, 0], m[b, 1]) for b in range(4))  # t = 1: frames drawn independently


def test_temporal_cubes_span_t_frames():
    m = cube_mask(16, 5, grid=(4, 4), ratio=0.5, cube=(2, 2, 2), generator=gen(2))
    assert torch.equal(m[:, 0], m[:, 1]) and torch.equal(m[:, 2], m[:, 3])
    assert not torch.equal(m[:, 1], m[:, 2]) and not torch.equal(m[:, 3], m[:, 4])
    assert torch.all(m.sum(-1) == 8)


def test_edge_blocks_and_extreme_ratios():
    m = cube_mask(64, 2, grid=(5, 3), ratio=0.5, cube=(0, 2, 2), generator=gen(3))
    # 3 x 2 = 6 blocks holding 4, 2, 4, 2, 2, 1 tokens; 3 are masked: 5 (2 + 2 + 1) to 10 (4 + 4 + 2) tokens
    counts = m[:, 0].sum(-1)
    assert counts.min() == 5 and counts.max() == 10
    assert cube_mask(2, 3, (4, 3), 0.0, (0, 2, 2), gen()).sum() == 0
    assert cube_mask(2, 3, (4, 3), 1.0, (0, 2, 2), gen()).all()


def test_every_position_is_masked_at_the_configured_rate():
    m = cube_mask(4000, 1, grid=(4, 4), ratio=0.25, cube=(0, 1, 1), generator=gen(4))
    freq = m[:, 0].float().mean(0)
    assert torch.all((freq - 0.25).abs() < 0.03), freq


def test_generator_makes_masks_reproducible():
    a = cube_mask(2, 3, (8, 6), 0.5, (0, 2, 2), generator=gen(7))
    b = cube_mask(2, 3, (8, 6), 0.5, (0, 2, 2), generator=gen(7))
    c = cube_mask(2, 3, (8, 6), 0.5, (0, 2, 2), generator=gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(frame_mask(9, 5, 2, 2, 0.3, gen(5)), frame_mask(9, 5, 2, 2, 0.3, gen(5)))


def test_bad_arguments_raise():
    with pytest.raises(ConfigError, match="ratio"):
        cube_mask(1, 1, (4, 4), 1.5)
    with pytest.raises(ConfigError, match="cube"):
        cube_mask(1, 1, (4, 4), 0.5, cube=(0, 0, 2))
    with pytest.raises(ConfigError, match="count"):
        frame_mask(1, 5, 5, 2, 0.5)
    with pytest.raises(ConfigError, match="key_prob"):
        frame_mask(1, 5, 1, 2, 1.5)


@pytest.mark.parametrize(("count", "key_prob"), [(1, 0.3), (2, 0.5), (1, 0.0), (2, 1.0)])
def test_frame_mask_count_and_key_rate(count, key_prob):
    T, key, B = 5, 2, 20000
    m = frame_mask(B, T, count, key_index=key, key_prob=key_prob, generator=gen(11))
    assert m.shape == (B, T) and m.dtype == torch.bool
    assert torch.all(m.sum(1) == count)
    rates = m.float().mean(0)
    assert abs(rates[key].item() - key_prob) < 0.015
    others = torch.cat([rates[:key], rates[key + 1 :]])
    assert torch.all((others - (count - key_prob) / (T - 1)).abs() < 0.015), rates


def test_frame_mask_count_zero_masks_nothing():
    assert not frame_mask(3, 5, 0, 2, 1.0, gen()).any()


def test_patchify_layout_and_round_trip_on_a_non_square_image():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 48, 32)
    p = patchify(x, 16)
    assert p.shape == (2, 6, 16 * 16 * 3)
    # token 3 is row 1, column 1 of the 3 x 2 grid; each patch is flattened as (row, column, channel)
    torch.testing.assert_close(p[:, 3], x[:, :, 16:32, 16:32].permute(0, 2, 3, 1).reshape(2, -1))
    assert torch.equal(unpatchify(p, 16, grid=(3, 2)), x)
    with pytest.raises(ConfigError):
        patchify(torch.zeros(1, 3, 40, 32), 16)
    with pytest.raises(ConfigError):
        unpatchify(p, 16, grid=(2, 2))
