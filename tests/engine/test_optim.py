"""Parameter groups (layer-wise lr decay, weight-decay exclusions) and warm-up / step / cosine schedules."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vidpose.config import TrainConfig
from vidpose.engine import (
    build_optimizer,
    cosine_factor,
    lr_at,
    lr_factor,
    milestones_to_steps,
    param_groups,
    schedule_from_config,
    step_factor,
    warmup_factor,
)


class TinyViT(nn.Module):
    """Names like a ViT: patch embedding (layer 0), blocks 1..3, a final norm (layer 3) and a new head."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4)
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8)) for _ in range(3))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 2)


def vit_layer_ids(model: TinyViT) -> dict[str, int]:
    ids = {}
    for name, _ in model.named_parameters():
        if name.startswith(("patch.", "pos_embed", "cls_token")):
            ids[name] = 0
        elif name.startswith("blocks."):
            ids[name] = int(name.split(".")[1]) + 1
        elif name.startswith("norm."):
            ids[name] = 3
    return ids


def group_of(groups: list[dict], param: torch.Tensor) -> dict:
    (group,) = [g for g in groups if any(p is param for p in g["params"])]
    return group


def test_layer_decay_groups_get_the_right_lrs_and_decay():
    model = TinyViT()
    lr, decay, scale = 1e-3, 0.5, 0.1
    groups = param_groups(
        model,
        lr=lr,
        weight_decay=0.05,
        layer_ids=vit_layer_ids(model),
        max_layer_id=4,
        layer_decay=decay,
        backbone_lr_scale=scale,
    )
    named = dict(model.named_parameters())
    expected_lr = {
        "patch.weight": lr * scale * decay**4,
        "blocks.0.1.weight": lr * scale * decay**3,
        "blocks.2.1.weight": lr * scale * decay**1,
        "norm.weight": lr * scale * decay**1,
        "head.weight": lr,
        "head.bias": lr,
    }
    for name, value in expected_lr.items():
        g = group_of(groups, named[name])
        assert g["lr"] == pytest.approx(value) and g["base_lr"] == g["lr"], name
    no_decay = {
        "patch.bias",
        "pos_embed",
        "cls_token",
        "blocks.1.0.weight",
        "blocks.1.1.bias",
        "norm.bias",
        "head.bias",
    }
    for name in no_decay:
        assert group_of(groups, named[name])["weight_decay"] == 0.0, name
    for name in ("patch.weight", "blocks.1.1.weight", "head.weight"):
        assert group_of(groups, named[name])["weight_decay"] == 0.05, name
    assert sum(len(g["params"]) for g in groups) == len(named)  # every parameter exactly once
    assert len(groups) == 10  # (layers 0..3 + head) x (decay, no decay)


def test_frozen_parameters_are_left_out_and_bad_layer_ids_rejected():
    model = TinyViT()
    model.patch.requires_grad_(False)
    groups = param_groups(model, lr=1.0, weight_decay=0.0)
    assert all(p is not model.patch.weight for g in groups for p in g["params"])
    assert {g["lr"] for g in groups} == {1.0}
    with pytest.raises(ValueError, match="unknown or frozen"):
        param_groups(model, lr=1.0, weight_decay=0.0, layer_ids={"patch.weight": 0})
    with pytest.raises(ValueError, match=r"max_layer_id=2"):
        param_groups(model, lr=1.0, weight_decay=0.0, layer_ids={"head.weight": 3}, max_layer_id=2)


def test_build_optimizer_reads_the_config():
    model = TinyViT()
    cfg = TrainConfig(lr=2e-3, weight_decay=0.2, layer_decay=0.9, betas=(0.8, 0.95))
    opt = build_optimizer(model, cfg, layer_ids=vit_layer_ids(model), max_layer_id=4)
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["betas"] == (0.8, 0.95)
    assert group_of(opt.param_groups, model.blocks[0][1].weight)["lr"] == pytest.approx(2e-3 * 0.9**3)
    assert group_of(opt.param_groups, model.head.weight)["weight_decay"] == 0.2


def test_warmup_values():
    assert warmup_factor(0, 10, 0.001) == pytest.approx(0.001)
    assert warmup_factor(5, 10, 0.001) == pytest.approx(0.001 + 0.999 * 0.5)
    assert warmup_factor(10, 10, 0.001) == 1.0
    assert warmup_factor(0, 0, 0.001) == 1.0


def test_step_schedule_values():
    milestones = milestones_to_steps((16, 18), steps_per_epoch=10)
    assert milestones == (160, 180)
    sched = dict(
        schedule="step", warmup_steps=20, warmup_ratio=0.1, total_steps=200, milestone_steps=milestones
    )
    assert lr_factor(0, **sched) == pytest.approx(0.1)
    assert lr_factor(10, **sched) == pytest.approx(0.55)
    assert lr_factor(20, **sched) == 1.0
    assert lr_factor(159, **sched) == 1.0
    assert lr_factor(160, **sched) == pytest.approx(0.1)
    assert lr_factor(199, **sched) == pytest.approx(0.01)
    assert lr_at(170, 5e-4, **sched) == pytest.approx(5e-5)
    assert step_factor(5, (), 0.1) == 1.0


def test_cosine_schedule_values():
    sched = dict(schedule="cosine", warmup_steps=10, warmup_ratio=0.0, total_steps=110, min_lr_ratio=0.01)
    assert lr_factor(0, **sched) == 0.0
    assert lr_factor(5, **sched) == pytest.approx(0.5)
    assert lr_factor(10, **sched) == pytest.approx(1.0)
    assert lr_factor(60, **sched) == pytest.approx(0.01 + 0.99 * 0.5)  # half-way through the decay
    assert lr_factor(35, **sched) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(110, **sched) == pytest.approx(0.01)
    assert lr_factor(500, **sched) == pytest.approx(0.01)
    assert cosine_factor(0, 0, 100, 0.0) == 1.0
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor(0, schedule="linear", warmup_steps=0, warmup_ratio=0.0, total_steps=1)


def test_schedule_from_config_converts_epoch_milestones():
    cfg = TrainConfig(schedule="step", warmup_steps=0, milestones=(2,), gamma=0.5)
    factor = schedule_from_config(cfg, steps_per_epoch=7, total_steps=100)
    assert [factor(s) for s in (0, 13, 14, 99)] == [1.0, 1.0, 0.5, 0.5]


def test_lr_mult_scales_matching_parameters_and_rejects_unknown_patterns():
    model = TinyViT()
    groups = param_groups(model, lr=1e-3, weight_decay=0.05, lr_mult=[("head.*", 10.0), ("head.bias", 3.0)])
    named = dict(model.named_parameters())
    assert group_of(groups, named["head.weight"])["lr"] == pytest.approx(1e-2)
    assert group_of(groups, named["head.bias"])["lr"] == pytest.approx(1e-2)  # the first matching pair wins
    assert group_of(groups, named["norm.weight"])["lr"] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="matches no trainable parameter"):
        param_groups(model, lr=1e-3, weight_decay=0.0, lr_mult=[("nothing.*", 2.0)])


def test_lr_hold_puts_matching_parameters_in_groups_with_their_hold_steps():
    model = TinyViT()
    groups = param_groups(model, lr=1e-3, weight_decay=0.05, lr_hold=[("head.*", 7), ("head.bias", 2)])
    named = dict(model.named_parameters())
    assert group_of(groups, named["head.weight"])["hold_steps"] == 7
    assert group_of(groups, named["head.bias"])["hold_steps"] == 7  # the first matching pair wins
    assert group_of(groups, named["norm.weight"])["hold_steps"] == 0
    assert group_of(groups, named["head.weight"]) is not group_of(groups, named["patch.weight"])
    with pytest.raises(ValueError, match="lr_hold pattern 'nothing.\\*' matches no trainable parameter"):
        param_groups(model, lr=1e-3, weight_decay=0.0, lr_hold=[("nothing.*", 2)])
