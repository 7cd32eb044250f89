"""PoseModel: every size (meta device), every ablation switch, exact single-frame equivalence at init,
gradients, checkpointing, losses and layer ids."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch

from vidpose.config import HeadConfig, LossConfig, MLSMEConfig, ModelConfig, SMMLConfig, ViTConfig
from vidpose.errors import ConfigError
from vidpose.models import VIT_SIZES, PoseModel, build_model
from vidpose.models.masking import patchify
from vidpose.models.pose_model import joints_mse_loss

FUSIONS = ["smml", "concat", "sum", "cross_attention"]
HW = (64, 48)  # 4 x 3 tokens, 16 x 12 heatmaps


def small_cfg(
    *,
    temporal: bool = True,
    frames: int = 3,
    size: str = "nano",
    fusion: str = "smml",
    head: str = "classic",
    masks: bool = True,
    pool: str = "key_plus_pool",
    pose: bool = True,
    context: bool = True,
    checkpointing: bool = False,
) -> ModelConfig:
    return ModelConfig(
        temporal=temporal,
        num_frames=frames,
        image_size=HW,
        vit=ViTConfig(size=size, drop_path_rate=0.0, grad_checkpointing=checkpointing),
        mlsme=MLSMEConfig(
            dim=32, num_heads=4, mlp_ratio=2.0, use_cube_mask=masks, use_frame_mask=masks, motion_pool=pool
        ),
        smml=SMMLConfig(fusion=fusion, num_heads=4, mlp_ratio=1.0, num_layers=2),
        head=HeadConfig(kind=head, deconv_channels=32),
        loss=LossConfig(use_pose_recon=pose, use_context_recon=context),
    )


def build(cfg: ModelConfig, seed: int = 0) -> PoseModel:
    torch.manual_seed(seed)
    return build_model(cfg)


def clip(batch: int = 2, frames: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, frames, 3, *HW, generator=torch.Generator().manual_seed(seed))


def targets(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    weight = torch.ones(batch, 17)
    weight[:, 3] = 0.0
    return torch.rand(batch, 17, 16, 12, generator=g), weight


# ------------------------------------------------------------------------------------------------ sizes
@pytest.mark.parametrize("size", list(VIT_SIZES))
def test_every_size_on_meta(size):
    with torch.device("meta"):
        model = build_model(ModelConfig(vit=ViTConfig(size=size)))  # 256x192, T = 5, the full model
        heatmaps = model.eval()(torch.empty(1, 5, 3, 256, 192))
        out = model.train()(torch.empty(2, 5, 3, 256, 192))
        single = build_model(
            ModelConfig(temporal=False, vit=ViTConfig(size=size), head=HeadConfig(kind="simple"))
        )
        single_heatmaps = single.eval()(torch.empty(1, 5, 3, 256, 192))
    assert heatmaps.shape == (1, 17, 64, 48) and single_heatmaps.shape == (1, 17, 64, 48)
    assert out["heatmaps"].shape == out["motion_heatmaps"].shape == (2, 17, 64, 48)
    assert out["context_pred"].shape == out["context_target"].shape == (2, 192, 768)
    assert out["context_mask"].shape == (2, 192)
    assert model.backbone.embed_dim == VIT_SIZES[size]["embed_dim"] and model.grid == (16, 12)
    if size == "base":
        assert sum(p.numel() for p in model.backbone.parameters()) == 85_794_048  # ViTPose-B: 86M


# ------------------------------------------------------------------------------------------------ switches
COMBOS = list(
    itertools.product(FUSIONS, ["classic", "simple"], [True, False], ["key", "key_plus_pool"], [3, 5])
)


@pytest.mark.parametrize(("fusion", "head", "masks", "pool", "frames"), COMBOS)
def test_every_switch_combination(fusion, head, masks, pool, frames):
    model = build(small_cfg(fusion=fusion, head=head, masks=masks, pool=pool, frames=frames)).train()
    x = clip(frames=frames)
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert set(out) == {"heatmaps", "motion_heatmaps", "context_pred", "context_target", "context_mask"}
    assert out["heatmaps"].shape == out["motion_heatmaps"].shape == (2, 17, 16, 12)
    assert out["context_pred"].shape == out["context_target"].shape == (2, 12, 16 * 16 * 3)
    assert out["context_mask"].any() == masks
    losses = model.loss(out, *targets())
    assert set(losses) == {"loss_heatmap", "loss_pose_recon", "loss_context"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        heatmaps = model(x)
        assert heatmaps.shape == (2, 17, 16, 12)
        assert torch.equal(heatmaps, model(x))  # no masking, deterministic


@pytest.mark.parametrize(("pose", "context"), [(False, True), (True, False), (False, False)])
def test_disabled_losses_are_absent(pose, context):
    model = build(small_cfg(pose=pose, context=context)).train()
    assert hasattr(model, "motion_head") == pose
    assert (model.mlsme.context_head is not None) == context
    out = model(clip())
    assert ("motion_heatmaps" in out) == pose
    assert ("context_pred" in out) == ("context_target" in out) == context
    losses = model.loss(out, *targets())
    assert set(losses) == {"loss_heatmap"} | ({"loss_pose_recon"} if pose else set()) | (
        {"loss_context"} if context else set()
    )


@pytest.mark.parametrize("frames", [1, 3])
def test_single_frame_mode(frames):
    model = build(small_cfg(temporal=False)).train()
    assert not hasattr(model, "mlsme") and not hasattr(model, "smml") and not hasattr(model, "motion_head")
    out = model(clip(frames=frames))
    assert set(out) == {"heatmaps"} and out["heatmaps"].shape == (2, 17, 16, 12)
    assert set(model.loss(out, *targets())) == {"loss_heatmap"}
    assert model.eval()(clip(frames=frames)).shape == (2, 17, 16, 12)


def test_tiny_backbone_runs_for_real():
    model = build(small_cfg(size="tiny", head="simple")).train()
    out = model(clip())
    sum(model.loss(out, *targets()).values()).backward()
    assert model.eval()(clip()).shape == (2, 17, 16, 12)


# --------------------------------------------------------------------------------------------- equivalences
@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("head", ["classic", "simple"])
def test_temporal_model_equals_single_frame_model_at_init(fusion, head):
    temporal = build(small_cfg(fusion=fusion, head=head, frames=5)).eval()
    single = build(small_cfg(temporal=False, head=head), seed=7).eval()
    single.backbone.load_state_dict(temporal.backbone.state_dict())
    single.head.load_state_dict(temporal.head.state_dict())
    x = clip(frames=5)
    with torch.no_grad():
        expected = single(x[:, 2:3])
        torch.testing.assert_close(temporal(x), expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(single(x), expected, rtol=0, atol=1e-6)
        assert expected.abs().max() > 0


def test_forward_is_decode_window_of_encode_frames():
    model = build(small_cfg(frames=5)).eval()
    x = clip(frames=5)
    with torch.no_grad():
        feats = model.encode_frames(x.flatten(0, 1)).view(2, 5, 12, 128)
        torch.testing.assert_close(model(x), model.decode_window(feats), rtol=0, atol=1e-6)


def test_wrong_window_length_and_bad_image_size_raise():
    model = build(small_cfg(frames=5))
    with pytest.raises(ConfigError, match="3 frames"):
        model(clip(frames=3))
    with pytest.raises(ConfigError, match="use_context_recon"):
        build_model(replace(small_cfg(), image_size=(72, 48)))


# ------------------------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_parameter_learns(fusion):
    model = build(small_cfg(fusion=fusion)).train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x = clip()
    for step in range(3):  # zero-initialised residuals unlock the parameters behind them one step at a time
        optim.zero_grad()
        sum(model.loss(model(x, generator=gen), *targets()).values()).backward()
        if step == 0:
            missing = [n for n, p in model.named_parameters() if p.grad is None]
            assert not missing, missing
        optim.step()
    dead = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not dead, dead


def test_gradient_checkpointing_gives_the_same_grads():
    plain = build(small_cfg()).train()
    ckpt = build(small_cfg(checkpointing=True)).train()
    ckpt.load_state_dict(plain.state_dict())
    assert ckpt.backbone.grad_checkpointing
    for model in (plain, ckpt):
        out = model(clip(), generator=torch.Generator().manual_seed(0))
        sum(model.loss(out, *targets()).values()).backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-8, msg=name)


# ------------------------------------------------------------------------------------------------ losses
def test_heatmap_loss_is_vitpose_joints_mse():
    g = torch.Generator().manual_seed(3)
    pred, gt = torch.randn(2, 17, 16, 12, generator=g), torch.rand(2, 17, 16, 12, generator=g)
    weight = torch.rand(2, 17, generator=g)
    per_joint = [
        0.5 * torch.mean((pred[:, k] * weight[:, k, None, None] - gt[:, k] * weight[:, k, None, None]) ** 2)
        for k in range(17)
    ]
    torch.testing.assert_close(joints_mse_loss(pred, gt, weight), torch.stack(per_joint).mean())
    torch.testing.assert_close(joints_mse_loss(pred, gt, weight[..., None]), torch.stack(per_joint).mean())


def test_losses_weight_hide_and_scale():
    cfg = small_cfg()
    cfg = replace(cfg, loss=replace(cfg.loss, lambda_pose=0.5, lambda_ctx=2.0))
    model = build(cfg).train()
    out = model(clip(), generator=torch.Generator().manual_seed(0))
    target, weight = targets()
    losses = model.loss(out, target, weight)
    torch.testing.assert_close(
        losses["loss_pose_recon"], 0.5 * joints_mse_loss(out["motion_heatmaps"], target, weight)
    )
    mask = out["context_mask"]
    assert mask.any() and not mask.all()
    per_patch = ((out["context_pred"] - out["context_target"]) ** 2).mean(-1)
    torch.testing.assert_close(losses["loss_context"], 2.0 * per_patch[mask].mean())
    # an unlabelled joint and an unmasked patch change nothing
    poked = dict(out)
    poked["heatmaps"] = out["heatmaps"].clone()
    poked["heatmaps"][:, 3] += 5.0
    poked["context_pred"] = torch.where(mask[..., None], out["context_pred"], out["context_pred"] + 5.0)
    again = model.loss(poked, target, weight)
    torch.testing.assert_close(again["loss_heatmap"], losses["loss_heatmap"])
    torch.testing.assert_close(again["loss_context"], losses["loss_context"])
    # nothing hidden: the context loss is 0, not NaN
    poked["context_mask"] = torch.zeros_like(mask)
    assert model.loss(poked, target, weight)["loss_context"] == 0


@pytest.mark.parametrize("norm", [True, False])
def test_context_target_is_the_patchified_key_frame(norm):
    cfg = small_cfg()
    model = build(replace(cfg, loss=replace(cfg.loss, norm_pix_target=norm))).train()
    x = clip()
    target = model(x)["context_target"]
    raw = patchify(x[:, 1], 16)
    if norm:
        torch.testing.assert_close(target.mean(-1), torch.zeros(2, 12), rtol=0, atol=1e-5)
        torch.testing.assert_close(target.std(-1, unbiased=False), torch.ones(2, 12), rtol=0, atol=1e-4)
        torch.testing.assert_close(
            target * raw.std(-1, unbiased=False, keepdim=True) + raw.mean(-1, keepdim=True),
            raw,
            rtol=1e-4,
            atol=1e-4,
        )
    else:
        assert torch.equal(target, raw)


def test_layer_ids_cover_every_parameter():
    model = build(small_cfg())
    ids = model.layer_ids()
    assert set(ids) == {n for n, _ in model.named_parameters()}
    assert ids["backbone.patch_embed.proj.weight"] == 0 and ids["backbone.pos_embed"] == 0
    assert ids["backbone.blocks.2.attn.qkv.weight"] == 3
    assert ids["backbone.last_norm.bias"] == 5
    assert all(v == 5 for n, v in ids.items() if not n.startswith("backbone."))


def test_no_backbone_gradient_through_auxiliary_frames_is_a_training_speed_switch():
    # aux_frame_grad=False: same forward, but only the key frame's backbone pass reaches the gradients.
    cfg = small_cfg(masks=False)
    full, fast = build(cfg), build(replace(cfg, aux_frame_grad=False))
    x = clip()
    y, w = targets()
    grads = []
    for m in (full, fast):
        m.train()
        out = m(x)
        torch.manual_seed(0)
        sum(m.loss(out, y, w).values()).backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None})
        m.eval()
    with torch.no_grad():
        torch.testing.assert_close(full(x), fast(x), rtol=0, atol=0)
    assert grads[0].keys() == grads[1].keys()
    backbone = [n for n in grads[0] if n.startswith("backbone.")]
    others = [n for n in grads[0] if not n.startswith("backbone.")]
    assert backbone and all(torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in others)
    assert any(not torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in backbone)


def test_motion_readout_returns_the_motion_branch_heatmaps():
    model = build(small_cfg()).eval()
    x = clip()
    with torch.no_grad():
        fused = model(x)
        feats = model._encode_clip(x)
        motion = model.motion_head(model.mlsme(feats)["motion"], model.grid)
        model.readout = "motion"
        torch.testing.assert_close(model(x), motion, rtol=0, atol=0)
    assert not torch.equal(fused, motion)
    with pytest.raises(ConfigError, match="fused or motion"):
        model.readout = "spatial"
    with pytest.raises(ConfigError, match="use_pose_recon"):
        build(small_cfg(temporal=False)).readout = "motion"
