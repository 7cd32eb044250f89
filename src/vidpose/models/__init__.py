"""The vidpose model: ViT backbone, MLSME, SMML and heatmap heads (METHOD.md section 2)."""

from __future__ import annotations

from .masking import cube_mask, frame_mask
from .pose_model import PoseModel, build_model
from .vit import VIT_SIZES, create_vit

__all__ = ["build_model", "PoseModel", "create_vit", "VIT_SIZES", "cube_mask", "frame_mask"]
