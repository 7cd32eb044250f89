"""Conversion of official ViTPose and Hugging Face VitPose weights (vidpose.models.weights).

The foreign state dicts are written here with the official key names and shapes (hand-written tables, not the
converter run backwards), and the reference output is a functional re-implementation of ViTPose's forward
that reads those official keys directly.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor

import official_vitpose
from vidpose.errors import CheckpointError
from vidpose.models.fitting import (
    config_for_model,
    infer_model_config,
    infer_source_grid,
    load_backbone_and_head,
    resample_pos_embed,
)
from vidpose.models.pose_model import build_model
from vidpose.models.serialization import save_model
from vidpose.models.weights import (
    convert_checkpoint,
    convert_hf_vitpose,
    convert_vitpose,
    detect_format,
    detect_source,
    unwrap_state_dict,
)

WIDTH, DEPTH, HEADS, JOINTS = 64, 2, 4, 5
IMAGE = (64, 48)  # grid 4 x 3 with patch 16, padding 2
GRID = (4, 3)


def official_state_dict(head: str, seed: int = 0, grid: tuple[int, int] = GRID) -> dict[str, Tensor]:
    """Random weights under official ViTPose (mmpose 0.x) names and shapes, at this module's tiny size."""
    return official_vitpose.official_state_dict(head, seed, grid, width=WIDTH, depth=DEPTH, joints=JOINTS)


def hf_from_official(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """The same weights under Hugging Face VitPose names (hand-written table; q, k, v split from qkv)."""
    C = WIDTH
    out = {
        "backbone.embeddings.patch_embeddings.projection.weight": sd["backbone.patch_embed.proj.weight"],
        "backbone.embeddings.patch_embeddings.projection.bias": sd["backbone.patch_embed.proj.bias"],
        "backbone.embeddings.position_embeddings": sd["backbone.pos_embed"],
        "backbone.layernorm.weight": sd["backbone.last_norm.weight"],
        "backbone.layernorm.bias": sd["backbone.last_norm.bias"],
    }
    for i in range(DEPTH):
        src, dst = f"backbone.blocks.{i}.", f"backbone.encoder.layer.{i}."
        for kind in ("weight", "bias"):
            qkv = sd[src + f"attn.qkv.{kind}"]
            out[dst + f"attention.attention.query.{kind}"] = qkv[:C]
            out[dst + f"attention.attention.key.{kind}"] = qkv[C : 2 * C]
            out[dst + f"attention.attention.value.{kind}"] = qkv[2 * C :]
            out[dst + f"attention.output.dense.{kind}"] = sd[src + f"attn.proj.{kind}"]
            out[dst + f"layernorm_before.{kind}"] = sd[src + f"norm1.{kind}"]
            out[dst + f"layernorm_after.{kind}"] = sd[src + f"norm2.{kind}"]
            out[dst + f"mlp.fc1.{kind}"] = sd[src + f"mlp.fc1.{kind}"]
            out[dst + f"mlp.fc2.{kind}"] = sd[src + f"mlp.fc2.{kind}"]
    hf_head = {"deconv_layers.0": "deconv1", "deconv_layers.1": "batchnorm1", "deconv_layers.3": "deconv2",
               "deconv_layers.4": "batchnorm2", "final_layer": "conv"}  # fmt: skip
    for key, value in sd.items():
        if key.startswith("keypoint_head."):
            module, param = key.removeprefix("keypoint_head.").rsplit(".", 1)
            out[f"head.{hf_head[module]}.{param}"] = value
    return out


def hf_config(head: str, image_size: tuple[int, int] = IMAGE) -> dict:
    return {
        "model_type": "vitpose",
        "use_simple_decoder": head == "simple",
        "scale_factor": 4,
        "backbone_config": {
            "model_type": "vitpose_backbone",
            "hidden_size": WIDTH,
            "num_hidden_layers": DEPTH,
            "num_attention_heads": HEADS,
            "image_size": list(image_size),
            "patch_size": [16, 16],
            "num_experts": 1,
            "qkv_bias": True,
            "layer_norm_eps": 1e-6,  # the ViTPose weights' own eps (transformers' default is 1e-12)
        },
    }


def reference_vitpose(sd: dict[str, Tensor], images: Tensor, head: str) -> Tensor:
    """ViTPose's forward on the official keys: images [B, 3, H, W] -> heatmaps [B, K, H/4, W/4]."""
    return official_vitpose.reference_vitpose(sd, images, head, num_heads=HEADS)


def images(batch: int = 2, seed: int = 1) -> Tensor:
    return torch.randn(batch, 3, *IMAGE, generator=torch.Generator().manual_seed(seed))


def converted_model(converted: dict[str, Tensor], frames: int = 1):
    cfg = infer_model_config(converted, frames=frames, image_size=IMAGE, num_heads=HEADS)
    model = build_model(cfg)
    load_backbone_and_head(model, converted)
    return model.eval(), cfg


# -------------------------------------------------------------------------------------- detection
def test_detect_source_by_keys():
    official = official_state_dict("classic")
    assert detect_source(official) == "vitpose"
    assert detect_source(hf_from_official(official)) == "hf-vitpose"
    ours = converted_model(convert_vitpose(official))[0].state_dict()
    assert detect_source(ours) == "vidpose"
    with pytest.raises(CheckpointError, match="unrecognised checkpoint"):
        detect_source({"encoder.weight": torch.zeros(1)})


def test_unwrap_state_dict_handles_mmcv_wrapper_and_ddp_prefix():
    sd = {"module.backbone.pos_embed": torch.zeros(1, 2, 3)}
    assert list(unwrap_state_dict({"state_dict": sd, "meta": {"epoch": 210}})) == ["backbone.pos_embed"]
    with pytest.raises(CheckpointError, match="'meta' is a str"):
        unwrap_state_dict({"backbone.x": torch.zeros(1), "meta": "text"})


# ---------------------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("head", ["classic", "simple"])
def test_converted_vitpose_reproduces_reference_forward(head):
    official = official_state_dict(head)
    converted = convert_vitpose({"state_dict": official, "meta": {}})
    assert converted["backbone.pos_embed"].shape == (1, GRID[0] * GRID[1], WIDTH)  # class slot folded
    model, cfg = converted_model(converted)
    assert (cfg.temporal, cfg.num_frames, cfg.head.kind, cfg.num_joints) == (False, 1, head, JOINTS)
    assert (cfg.vit.embed_dim, cfg.vit.depth, cfg.vit.num_heads) == (WIDTH, DEPTH, HEADS)
    x = images()
    with torch.no_grad():
        ours = model(x[:, None])
        ref = reference_vitpose(official, x, head)
    assert ours.shape == (2, JOINTS, IMAGE[0] // 4, IMAGE[1] // 4)
    assert ref.abs().max() > 1e-2  # not a trivially zero comparison
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("head", ["classic", "simple"])
def test_hf_conversion_equals_official_conversion(head):
    official = official_state_dict(head, seed=3)
    from_official = convert_vitpose(official)
    from_hf = convert_hf_vitpose(hf_from_official(official), hf_config(head))
    assert sorted(from_hf) == sorted(from_official)
    for key, value in from_official.items():
        assert torch.equal(from_hf[key], value), key
    model, _ = converted_model(from_hf)
    x = images(seed=4)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x[:, None]), reference_vitpose(official, x, head), atol=1e-5, rtol=1e-4
        )


@pytest.mark.parametrize("frames", [3, 5])
def test_temporal_model_from_converted_weights_equals_single_frame(frames):
    converted = convert_vitpose(official_state_dict("classic", seed=5))
    single, _ = converted_model(converted, frames=1)
    temporal, cfg = converted_model(converted, frames=frames)
    assert cfg.temporal and cfg.num_frames == frames
    assert any(k.startswith("mlsme.") for k in temporal.state_dict())
    g = torch.Generator().manual_seed(6)
    clip = torch.randn(2, frames, 3, *IMAGE, generator=g)  # neighbours differ from the key frame
    with torch.no_grad():
        expected = single(clip[:, frames // 2 : frames // 2 + 1])
        torch.testing.assert_close(temporal(clip), expected, atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------------------- config
def _meta_weights(width: int, depth: int, tokens: int, head: str = "classic", joints: int = 17) -> dict:
    """Shape-only converted weights (meta tensors: no memory)."""
    m = {"device": "meta"}
    sd = {
        "backbone.patch_embed.proj.weight": torch.empty(width, 3, 16, 16, **m),
        "backbone.pos_embed": torch.empty(1, tokens, width, **m),
    }
    for i in range(depth):
        sd[f"backbone.blocks.{i}.mlp.fc1.weight"] = torch.empty(4 * width, width, **m)
    if head == "classic":
        sd["head.deconv_layers.0.weight"] = torch.empty(width, 256, 4, 4, **m)
        sd["head.deconv_layers.3.weight"] = torch.empty(256, 256, 4, 4, **m)
        sd["head.final_layer.weight"] = torch.empty(joints, 256, 1, 1, **m)
    else:
        sd["head.final_layer.weight"] = torch.empty(joints, width, 3, 3, **m)
    return sd


@pytest.mark.parametrize(
    ("width", "depth", "heads", "size"),
    [(384, 12, 12, "small"), (768, 12, 12, "base"), (1024, 24, 16, "large"), (1280, 32, 16, "huge")],
)
def test_infer_model_config_for_vitpose_sizes(width, depth, heads, size):
    cfg = infer_model_config(_meta_weights(width, depth, 192), frames=5)
    assert (cfg.vit.size, cfg.vit.embed_dim, cfg.vit.depth, cfg.vit.num_heads) == (size, width, depth, heads)
    assert cfg.image_size == (256, 192)  # 16 x 12 grid, padding 2
    assert (cfg.temporal, cfg.num_frames, cfg.head.kind, cfg.num_joints) == (True, 5, "classic", 17)
    assert cfg.vit.mlp_ratio == 4.0


def test_infer_model_config_heads_fallback_override_and_simple_head():
    cfg = infer_model_config(_meta_weights(320, 3, 432, head="simple", joints=21))
    assert cfg.vit.num_heads == 5  # width // 64 when no size row matches
    assert cfg.image_size == (384, 288) and cfg.head.kind == "simple" and cfg.num_joints == 21
    assert not cfg.temporal and cfg.mlsme.frame_mask_count == 0
    assert infer_model_config(_meta_weights(320, 3, 432), num_heads=8).vit.num_heads == 8
    with pytest.raises(ValueError, match="does not divide"):
        infer_model_config(_meta_weights(320, 3, 432), num_heads=7)
    config_for_model(cfg)  # a whole, valid Config


def test_infer_source_grid():
    assert infer_source_grid(192) == (16, 12)
    assert infer_source_grid(16) == (4, 4)
    assert infer_source_grid(12, hint=(4, 3)) == (4, 3)
    assert infer_source_grid(12, fallback=(4, 3)) == (4, 3)
    assert infer_source_grid(192, hint=(12, 16)) == (12, 16)  # the checkpoint's own grid wins
    assert infer_source_grid(192, fallback=(12, 16)) == (16, 12)  # a target grid does not override ViTPose's
    with pytest.raises(CheckpointError, match="12 tokens"):
        infer_source_grid(12)


# ---------------------------------------------------------------------------------- position grid
def test_resample_pos_embed_keeps_rows_and_columns_apart():
    h, w = 4, 3
    rows = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    cols = torch.arange(w, dtype=torch.float32)[None, :].expand(h, w)
    pos = torch.stack([rows, cols], dim=-1).reshape(1, h * w, 2)
    out = resample_pos_embed(pos, (h, w), (8, 5)).reshape(8, 5, 2)
    assert torch.allclose(out[..., 0], out[:, :1, 0].expand(8, 5))  # row coordinate constant along a row
    assert torch.allclose(out[..., 1], out[:1, :, 1].expand(8, 5))  # column coordinate constant down a column
    assert torch.all(out[1:, 0, 0] >= out[:-1, 0, 0]) and torch.all(out[0, 1:, 1] >= out[0, :-1, 1])
    assert resample_pos_embed(pos, (h, w), (h, w)) is pos
    with pytest.raises(CheckpointError, match="not a 3x3 grid"):
        resample_pos_embed(pos, (3, 3), (6, 6))


def test_convert_checkpoint_resamples_to_another_image_size(tmp_path):
    official = official_state_dict("simple", seed=7, grid=(4, 4))  # 64x64 checkpoint, square grid
    path = tmp_path / "vitpose_square.pth"
    torch.save({"state_dict": official, "meta": {"epoch": 1}}, path)
    model, cfg = convert_checkpoint(path, "vitpose", image_size=(96, 64), num_heads=HEADS)
    assert cfg.model.image_size == (96, 64) and cfg.codec.heatmap_size == (24, 16)
    folded = official["backbone.pos_embed"][:, 1:] + official["backbone.pos_embed"][:, :1]
    expected = resample_pos_embed(folded, (4, 4), (6, 4))
    assert torch.equal(model.backbone.pos_embed.detach(), expected)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 3, 96, 64)).shape == (1, JOINTS, 24, 16)


# ------------------------------------------------------------------------------------------ files
@pytest.mark.parametrize("head", ["classic", "simple"])
def test_convert_checkpoint_reads_pth_and_hf_folder(tmp_path, head):
    official = official_state_dict(head, seed=8)
    pth = tmp_path / "vitpose.pth"
    torch.save({"meta": {"mmpose_version": "0.24.0"}, "state_dict": official}, pth)
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(
        {k: v.contiguous() for k, v in hf_from_official(official).items()}, str(folder / "model.safetensors")
    )
    (folder / "config.json").write_text(json.dumps(hf_config(head)))
    x = images(seed=9)
    ref = reference_vitpose(official, x, head)
    for source, fmt in ((pth, "vitpose"), (folder, "hf-vitpose")):
        model, cfg = convert_checkpoint(source, fmt, num_heads=HEADS, image_size=IMAGE)
        assert not model.training and cfg.model.head.kind == head
        with torch.no_grad():
            torch.testing.assert_close(model(x[:, None]), ref, atol=1e-5, rtol=1e-4)
    # the HF config alone tells the grid (no image_size needed) and the heads come from --num-heads
    _, cfg = convert_checkpoint(folder, "hf-vitpose", num_heads=HEADS)
    assert cfg.model.image_size == IMAGE


# ----------------------------------------------------------------------------------------- errors
def test_unknown_and_moe_keys_are_named():
    official = official_state_dict("classic")
    with pytest.raises(CheckpointError, match=r"unexpected keys: backbone\.extra_token \(1, 2\)"):
        convert_vitpose(official | {"backbone.extra_token": torch.zeros(1, 2)})
    moe = official | {"backbone.blocks.0.mlp.experts.0.weight": torch.zeros(16, 256)}
    with pytest.raises(CheckpointError, match="ViTPose\\+ mixture-of-experts"):
        convert_vitpose(moe)
    cfg = hf_config("classic")
    cfg["backbone_config"]["num_experts"] = 6
    with pytest.raises(CheckpointError, match="num_experts=6"):
        convert_hf_vitpose(hf_from_official(official), cfg)
    hf = hf_from_official(official)
    del hf["backbone.encoder.layer.1.attention.attention.key.weight"]
    with pytest.raises(CheckpointError, match=r"layer\.1\.attention\.attention\.key\.weight"):
        convert_hf_vitpose(hf, hf_config("classic"))
    with pytest.raises(CheckpointError, match="gives a 8x6 grid"):
        convert_hf_vitpose(hf_from_official(official), hf_config("classic", image_size=(128, 96)))


def test_strict_load_names_missing_unexpected_and_misshaped_keys():
    converted = convert_vitpose(official_state_dict("classic"))
    model = build_model(infer_model_config(converted, image_size=IMAGE, num_heads=HEADS))
    bad = dict(converted)
    del bad["backbone.blocks.1.mlp.fc2.bias"]
    bad["backbone.blocks.0.attn.qkv.weight"] = torch.zeros(3 * WIDTH, WIDTH + 1)
    bad["head.extra.weight"] = torch.zeros(2, 2)
    with pytest.raises(CheckpointError) as info:
        load_backbone_and_head(model, bad, "bad.pth")
    message = str(info.value)
    assert message.startswith("bad.pth:")
    assert f"1 missing key(s): backbone.blocks.1.mlp.fc2.bias ({WIDTH},)" in message
    assert "1 unexpected key(s): head.extra.weight (2, 2)" in message
    assert (
        f"backbone.blocks.0.attn.qkv.weight (expected ({3 * WIDTH}, {WIDTH}), got ({3 * WIDTH}, {WIDTH + 1}))"
        in message
    )


def test_batchnorm_counter_may_be_absent():
    converted = {k: v for k, v in convert_vitpose(official_state_dict("classic")).items()
                 if not k.endswith("num_batches_tracked")}  # fmt: skip
    model, _ = converted_model(converted)
    assert int(model.state_dict()["head.deconv_layers.1.num_batches_tracked"]) == 0


def test_unreadable_files_raise_checkpoint_error(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pth: cannot read"):
        convert_checkpoint(bad, "vitpose")
    with pytest.raises(CheckpointError, match="file not found"):
        convert_checkpoint(tmp_path / "absent.pth", "vitpose")
    with pytest.raises(CheckpointError, match="no config.json"):
        convert_checkpoint(tmp_path, "hf-vitpose")


def test_fold_is_what_vitpose_adds():
    official = official_state_dict("simple", seed=11)
    pos = official["backbone.pos_embed"]
    folded = convert_vitpose(official)["backbone.pos_embed"]
    assert torch.equal(folded, pos[:, 1:] + pos[:, :1])
    assert folded.shape == (1, GRID[0] * GRID[1], WIDTH)


# ------------------------------------------------------------------------------------ format detection
def test_detect_format_of_files_and_folders(tmp_path):
    official = official_state_dict("classic")
    torch.save({"state_dict": official, "meta": {"epoch": 1}}, tmp_path / "vitpose.pth")
    assert detect_format(tmp_path / "vitpose.pth") == "vitpose"
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert detect_format(folder) == "hf-vitpose"


@pytest.mark.parametrize(
    "case", ["no-config-folder", "safetensors", "vidpose-keys", "unknown-keys", "absent"]
)
def test_detect_format_says_when_it_cannot_tell(tmp_path, case):
    path = tmp_path / "thing.pth"
    if case == "no-config-folder":
        path = tmp_path / "folder"
        path.mkdir()
        match = "without config.json"
    elif case == "safetensors":
        model, _ = converted_model(convert_vitpose(official_state_dict("classic")))
        path = save_model(model, config_for_model(model.cfg), tmp_path / "model.safetensors")
        match = "safetensors"
    elif case == "vidpose-keys":
        model, _ = converted_model(convert_vitpose(official_state_dict("classic")))
        torch.save(model.state_dict(), path)
        match = "nothing to convert"
    elif case == "unknown-keys":
        torch.save({"encoder.weight": torch.zeros(1)}, path)
        match = "cannot tell the format.*--format"
    else:
        match = "not found"
    with pytest.raises(CheckpointError, match=match):
        detect_format(path)
