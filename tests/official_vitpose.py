"""Official ViTPose (mmpose 0.x) weights and forward, written on the official key layout, for tests.

``official_state_dict`` builds random weights under the official key names and shapes (a hand-written table,
not the converter run backwards); ``reference_vitpose`` is a functional re-implementation of ViTPose's forward
that reads those keys directly. The conversion tests (``tests/models/test_weights.py``) use them at a tiny
width; the PoseTrack rehearsals (``tests/rehearsal/``) at ViT-B size.

Legend: B images, C width, K joints, (h, w) patch grid; images [B, 3, H, W] -> heatmaps [B, K, H/4, W/4].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def official_state_dict(
    head: str,
    seed: int = 0,
    grid: tuple[int, int] = (4, 3),
    width: int = 64,
    depth: int = 2,
    joints: int = 5,
    scale: float = 0.1,
) -> dict[str, Tensor]:
    """Random weights under official ViTPose names and shapes; ``scale`` is the std of the dense weights."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, scale: float = scale, offset: float = 0.0) -> Tensor:
        return torch.randn(*shape, generator=g) * scale + offset

    C, N = width, grid[0] * grid[1]
    sd = {
        "backbone.patch_embed.proj.weight": r(C, 3, 16, 16, scale=0.02),
        "backbone.patch_embed.proj.bias": r(C),
        "backbone.pos_embed": r(1, 1 + N, C),  # with the class-token slot
        "backbone.last_norm.weight": r(C, offset=1.0),
        "backbone.last_norm.bias": r(C),
    }
    for i in range(depth):
        p = f"backbone.blocks.{i}."
        sd |= {
            p + "norm1.weight": r(C, offset=1.0),
            p + "norm1.bias": r(C),
            p + "attn.qkv.weight": r(3 * C, C),
            p + "attn.qkv.bias": r(3 * C),
            p + "attn.proj.weight": r(C, C),
            p + "attn.proj.bias": r(C),
            p + "norm2.weight": r(C, offset=1.0),
            p + "norm2.bias": r(C),
            p + "mlp.fc1.weight": r(4 * C, C),
            p + "mlp.fc1.bias": r(4 * C),
            p + "mlp.fc2.weight": r(C, 4 * C),
            p + "mlp.fc2.bias": r(C),
        }
    if head == "classic":
        channels = [C, 256, 256]
        for j, i in enumerate((0, 3)):
            sd[f"keypoint_head.deconv_layers.{i}.weight"] = r(channels[j], channels[j + 1], 4, 4, scale=0.05)
            bn = f"keypoint_head.deconv_layers.{i + 1}."
            sd |= {
                bn + "weight": r(256, offset=1.0),
                bn + "bias": r(256),
                bn + "running_mean": r(256),
                bn + "running_var": r(256).abs() + 0.5,
                bn + "num_batches_tracked": torch.tensor(1000),
            }
        sd["keypoint_head.final_layer.weight"] = r(joints, 256, 1, 1)
    else:
        sd["keypoint_head.final_layer.weight"] = r(joints, C, 3, 3)
    sd["keypoint_head.final_layer.bias"] = r(joints)
    return sd


def reference_vitpose(sd: dict[str, Tensor], images: Tensor, head: str, num_heads: int) -> Tensor:
    """ViTPose's forward on the official keys: images [B, 3, H, W] -> heatmaps [B, K, H/4, W/4]."""
    depth = sum(1 for k in sd if k.startswith("backbone.blocks.") and k.endswith(".norm1.weight"))
    x = F.conv2d(images, sd["backbone.patch_embed.proj.weight"], sd["backbone.patch_embed.proj.bias"], 16, 2)
    B, C, h, w = x.shape
    x = x.flatten(2).transpose(1, 2)
    pos = sd["backbone.pos_embed"]
    x = x + pos[:, 1:] + pos[:, :1]
    for i in range(depth):
        p = f"backbone.blocks.{i}."
        y = F.layer_norm(x, (C,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        qkv = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])
        q, k, v = qkv.reshape(B, h * w, 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
        attn = ((q * (C // num_heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(B, h * w, C)
        x = x + F.linear(y, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        y = F.layer_norm(x, (C,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        y = F.linear(
            F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])), sd[p + "mlp.fc2.weight"]
        )
        x = x + y + sd[p + "mlp.fc2.bias"]
    x = F.layer_norm(x, (C,), sd["backbone.last_norm.weight"], sd["backbone.last_norm.bias"], eps=1e-6)
    fmap = x.transpose(1, 2).reshape(B, C, h, w)
    if head == "classic":
        for i in (0, 3):
            fmap = F.conv_transpose2d(
                fmap, sd[f"keypoint_head.deconv_layers.{i}.weight"], stride=2, padding=1
            )
            bn = f"keypoint_head.deconv_layers.{i + 1}."
            fmap = F.batch_norm(fmap, sd[bn + "running_mean"], sd[bn + "running_var"], sd[bn + "weight"],
                                sd[bn + "bias"], training=False, eps=1e-5)  # fmt: skip
            fmap = F.relu(fmap)
        return F.conv2d(fmap, sd["keypoint_head.final_layer.weight"], sd["keypoint_head.final_layer.bias"])
    fmap = F.interpolate(F.relu(fmap), scale_factor=4, mode="bilinear", align_corners=False)
    return F.conv2d(
        fmap, sd["keypoint_head.final_layer.weight"], sd["keypoint_head.final_layer.bias"], padding=1
    )
