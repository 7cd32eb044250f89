"""MLSME: shapes, masking in training only, mask tokens really hide the input, pooling, position encoding."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vidpose.config import MLSMEConfig
from vidpose.errors import ConfigError
from vidpose.models.mlsme import MLSME, sincos_pos_embed_2d

GRID = (4, 3)
C = 32
CFG = MLSMEConfig(dim=32, num_heads=4, mlp_ratio=2.0, patch_layers=2, frame_layers=1)


def make(cfg: MLSMEConfig = CFG, frames: int = 5, **kw) -> MLSME:
    torch.manual_seed(0)
    return MLSME(C, cfg, frames, GRID, patch_size=4, **kw)


@pytest.mark.parametrize("frames", [3, 5])
@pytest.mark.parametrize("pool", ["key", "key_plus_pool"])
def test_shapes_in_training_and_eval(frames, pool):
    m = make(replace(CFG, motion_pool=pool), frames)
    feats = torch.randn(2, frames, 12, C)
    out = m.train()(feats, generator=torch.Generator().manual_seed(0))
    assert out["motion"].shape == (2, 12, C)
    assert out["context_pred"].shape == (2, 12, 4 * 4 * 3)
    assert out["cube_mask"].shape == (2, frames, 12) and out["cube_mask"].dtype == torch.bool
    assert out["frame_mask"].shape == (2, frames)
    assert out["context_mask"].shape == (2, 12)
    key = frames // 2
    assert torch.equal(out["context_mask"], out["cube_mask"][:, key] | out["frame_mask"][:, key, None])
    assert torch.all(out["frame_mask"].sum(1) == CFG.frame_mask_count)
    cube = out["cube_mask"]
    assert torch.equal(cube, cube[:, :1].expand_as(cube))  # default cube_size (0, 2, 2) is a tube
    assert (m.pool_score is not None) == (pool == "key_plus_pool")

    m.eval()
    out = m(feats)
    assert set(out) == {"motion"}  # no masking, no reconstruction
    assert torch.equal(out["motion"], m(feats, generator=torch.Generator().manual_seed(5))["motion"])


def test_cube_masked_inputs_do_not_reach_the_encoder():
    m = make(replace(CFG, use_frame_mask=False)).train()
    feats = torch.randn(2, 5, 12, C)
    a = m(feats, generator=torch.Generator().manual_seed(3))
    hidden = a["cube_mask"]
    assert hidden.any() and not hidden.all()
    poked = feats + 100.0 * hidden[..., None]  # change only the masked tokens
    b = m(poked, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a["motion"], b["motion"])
    c = m(feats + 100.0 * (~hidden)[..., None], generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(a["motion"], c["motion"])


def test_masking_switches_off_and_takes_its_tokens_with_it():
    m = make(replace(CFG, use_cube_mask=False, use_frame_mask=False)).train()
    assert m.mask_token is None and m.frame_mask_token is None
    out = m(torch.randn(2, 5, 12, C))
    assert not out["cube_mask"].any() and not out["frame_mask"].any() and not out["context_mask"].any()
    names = {n for n, _ in make().named_parameters()}
    assert {"mask_token", "frame_mask_token", "pos_temporal"} <= names


def test_frame_masking_reaches_the_key_frame_at_the_configured_rate():
    m = make(replace(CFG, key_frame_mask_prob=0.5, use_cube_mask=False)).train()
    out = m(torch.randn(400, 5, 12, C), generator=torch.Generator().manual_seed(0))
    rate = out["frame_mask"][:, 2].float().mean().item()
    assert abs(rate - 0.5) < 0.08
    assert torch.equal(out["context_mask"], out["frame_mask"][:, 2, None].expand(-1, 12))


def test_without_context_head():
    m = make(use_context_head=False).train()
    assert m.context_head is None
    assert "context_pred" not in m(torch.randn(1, 5, 12, C))


def test_wrong_window_and_bad_config_raise():
    m = make()
    with pytest.raises(ConfigError, match="5 frames"):
        m(torch.randn(1, 3, 12, C))
    with pytest.raises(ConfigError, match="divisible"):
        make(replace(CFG, num_heads=5))
    with pytest.raises(ConfigError, match="frame_mask_count"):
        make(replace(CFG, frame_mask_count=3), frames=3)


def test_sincos_position_encoding_is_non_square_and_distinct():
    pe = sincos_pos_embed_2d(16, (4, 3))
    assert pe.shape == (12, 16)
    assert torch.cdist(pe, pe).add(torch.eye(12)).min() > 0.1  # every position distinct
    # the first half depends on the row only, the second half on the column only
    assert torch.equal(pe[0, :8], pe[2, :8]) and torch.equal(pe[0, 8:], pe[3, 8:])
    assert torch.equal(pe[0], torch.tensor([0.0, 0, 0, 0, 1, 1, 1, 1] * 2))
    with pytest.raises(ConfigError):
        sincos_pos_embed_2d(18, (4, 3))


def test_every_parameter_gets_a_gradient():
    m = make().train()
    out = m(torch.randn(2, 5, 12, C), generator=torch.Generator().manual_seed(0))
    (out["motion"].square().mean() + out["context_pred"].square().mean()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
