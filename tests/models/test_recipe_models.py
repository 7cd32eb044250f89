"""The model of every recipe in configs/ builds, on the meta device (no memory, no time), with the parameter
counts it should have, and its heatmaps have the size ``codec.heatmap_size`` says."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidpose.config import load_config
from vidpose.models import build_model

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
RECIPES = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if "_base_" not in p.relative_to(CONFIG_DIR).parts)

# Parameters of the backbone per ViT size at 256x192 (patch 16): ViTPose reports 86M (B), 307M (L), 632M (H).
VITPOSE_BACKBONE = {"base": 85_794_048, "large": 303_295_488, "huge": 630_910_720}
# Whole models (backbone + MLSME + SMML + heads), counted when the recipes were composed from _base_/.
TOTAL = {
    "posetrack1?_vitb": 117_620_643,
    "posetrack1?_vitl": 351_104_931,
    "posetrack1?_vith": 698_897_315,
    "synthetic_nano": 2_506_915,
    "synthetic/base": 2_377_315,
    "synthetic/stage2_full": 2_377_315,
    "synthetic/stage2_robust": 2_377_315,
    "synthetic/stage2_long": 2_377_315,
    "synthetic/stage1_pretrain": 1_369_617,
    "ablations/single_frame": 1_369_617,
    "ablations/fusion_sum": 2_109_538,
    "ablations/fusion_concat": 2_142_306,
    "ablations/fusion_cross_attention": 2_242_146,
    "ablations/no_pose_recon": 2_357_714,
}


def vit_parameters(embed_dim: int, depth: int, patch: int, tokens: int, mlp_ratio: float = 4.0) -> int:
    """Closed form: patch conv (3 p^2 C + C), position embedding (N C), per block two LayerNorms (4 C), qkv
    (3 C^2 + 3 C), proj (C^2 + C), MLP (2 r C^2 + r C + C), then the last LayerNorm (2 C)."""
    C, hidden = embed_dim, int(embed_dim * mlp_ratio)
    block = 4 * C + 3 * C * C + 3 * C + C * C + C + 2 * C * hidden + hidden + C
    return 3 * patch * patch * C + C + tokens * C + depth * block + 2 * C


def count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(CONFIG_DIR).with_suffix("")))
def test_the_recipes_model_builds_on_meta_with_its_parameter_count(path):
    cfg = load_config(path)
    with torch.device("meta"):
        model = build_model(cfg.model).eval()
    assert all(p.is_meta for p in model.parameters())
    backbone = model.backbone
    h, w = backbone.grid_size
    assert count(backbone) == vit_parameters(
        backbone.embed_dim, backbone.depth, cfg.model.vit.patch_size, h * w, cfg.model.vit.mlp_ratio
    )
    if cfg.model.image_size == (256, 192) and cfg.model.vit.patch_size == 16:
        assert count(backbone) == VITPOSE_BACKBONE[cfg.model.vit.size]
    parts = [getattr(model, name, None) for name in ("backbone", "mlsme", "smml", "head", "motion_head")]
    assert sum(count(m) for m in parts) == count(model)  # nothing outside the five parts
    assert (count(model.mlsme if cfg.model.temporal else None) > 0) == cfg.model.temporal
    name = str(path.relative_to(CONFIG_DIR).with_suffix(""))
    key = name.replace("posetrack17", "posetrack1?").replace("posetrack18", "posetrack1?")
    key = key.replace("posetrack21", "posetrack1?")
    if key in TOTAL:
        assert count(model) == TOTAL[key]
    # the heatmaps have the size the codec decodes (checked at load time, seen here end to end)
    T = cfg.model.num_frames
    with torch.device("meta"), torch.no_grad():
        heatmaps = model(torch.empty(1, T, 3, *cfg.model.image_size))
    assert tuple(heatmaps.shape) == (1, cfg.model.num_joints, *cfg.codec.heatmap_size)


def test_every_size_and_fusion_has_a_recipe():
    cfgs = [load_config(p) for p in RECIPES]
    assert {c.model.vit.size for c in cfgs} == {"nano", "base", "large", "huge"}
    assert {c.model.smml.fusion for c in cfgs} == {"smml", "concat", "sum", "cross_attention"}
    assert len(RECIPES) == 33
