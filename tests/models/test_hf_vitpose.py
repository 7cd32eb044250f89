"""Hugging Face VitPose conversion honours config.json (vidpose.models.hf_config, models.weights).

The state dicts are written straight under transformers' key names (``backbone.encoder.layer.{i}.*``,
``head.deconv1`` ...) with random weights, and the reference is a functional forward written here from
those raw keys and the config.json dict alone (LayerNorm eps, activation, qkv bias, heads, decoder, scale
factor), with the activations spelt out as formulas. The weights keep the residual stream small (std ~0.01)
so that the LayerNorm eps shows clearly: ViTPose's 1e-6 instead of the configs' 1e-12 moved the published
checkpoints' heatmaps by ~6e-4, these by ~2e-2.
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from vidpose.config import ViTConfig, load_config
from vidpose.errors import CheckpointError, ConfigError
from vidpose.models.blocks import ACTIVATIONS
from vidpose.models.fitting import load_backbone_and_head
from vidpose.models.hf_config import HF_ACTIVATIONS, parse_hf_vitpose_config
from vidpose.models.pose_model import build_model
from vidpose.models.serialization import load_model, save_model
from vidpose.models.weights import convert_checkpoint, convert_hf_vitpose

WIDTH, DEPTH, JOINTS = 64, 2, 5


def hf_config(
    *,
    simple: bool = False,
    eps: float = 1e-12,
    act: str = "gelu",
    qkv_bias: bool = True,
    mlp_ratio: int = 4,
    heads: int = 4,
    scale: int = 4,
    image_size: tuple[int, int] = (64, 48),
) -> dict:
    """A config.json as transformers writes it for VitPoseForPoseEstimation (tiny sizes)."""
    return {
        "architectures": ["VitPoseForPoseEstimation"],
        "model_type": "vitpose",
        "use_simple_decoder": simple,
        "scale_factor": scale,
        "initializer_range": 0.02,
        "id2label": {str(i): f"LABEL_{i}" for i in range(JOINTS)},
        "label2id": {f"LABEL_{i}": i for i in range(JOINTS)},
        "backbone_config": {
            "model_type": "vitpose_backbone",
            "hidden_size": WIDTH,
            "num_hidden_layers": DEPTH,
            "num_attention_heads": heads,
            "mlp_ratio": mlp_ratio,
            "image_size": list(image_size),
            "patch_size": [16, 16],
            "num_channels": 3,
            "num_experts": 1,
            "part_features": 256,
            "hidden_act": act,
            "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
            "layer_norm_eps": eps,
            "qkv_bias": qkv_bias,
            "out_features": [f"stage{DEPTH}"],
            "out_indices": [DEPTH],
            "stage_names": ["stem"] + [f"stage{i}" for i in range(1, DEPTH + 1)],
        },
    }


def hf_state_dict(cfg: dict, seed: int = 0) -> dict[str, Tensor]:
    """Random weights under transformers' VitPose names and shapes for ``cfg`` (a config.json dict)."""
    g = torch.Generator().manual_seed(seed)
    bc = cfg["backbone_config"]
    C, hidden = bc["hidden_size"], int(bc["hidden_size"] * bc["mlp_ratio"])
    h, w = ((s + 4 - 16) // 16 + 1 for s in bc["image_size"])

    def r(*shape: int, scale: float = 0.1, offset: float = 0.0) -> Tensor:
        return torch.randn(*shape, generator=g) * scale + offset

    sd = {
        # conv over 3 x 16 x 16 unit-variance pixels: token std ~ sqrt(768) * 4e-4 ~ 0.01
        "backbone.embeddings.patch_embeddings.projection.weight": r(C, 3, 16, 16, scale=4e-4),
        "backbone.embeddings.patch_embeddings.projection.bias": r(C, scale=0.005),
        "backbone.embeddings.position_embeddings": r(1, 1 + h * w, C, scale=0.005),  # with the class slot
        "backbone.layernorm.weight": r(C, offset=1.0),
        "backbone.layernorm.bias": r(C),
    }
    for i in range(bc["num_hidden_layers"]):
        p = f"backbone.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            sd[p + f"attention.attention.{name}.weight"] = r(C, C, scale=0.3)
            if bc["qkv_bias"]:
                sd[p + f"attention.attention.{name}.bias"] = r(C)
        sd |= {
            p + "attention.output.dense.weight": r(C, C, scale=0.002),  # small residual updates
            p + "attention.output.dense.bias": r(C, scale=0.002),
            p + "layernorm_before.weight": r(C, offset=1.0),
            p + "layernorm_before.bias": r(C),
            p + "layernorm_after.weight": r(C, offset=1.0),
            p + "layernorm_after.bias": r(C),
            p + "mlp.fc1.weight": r(hidden, C, scale=0.3),
            p + "mlp.fc1.bias": r(hidden),
            p + "mlp.fc2.weight": r(C, hidden, scale=0.002),
            p + "mlp.fc2.bias": r(C, scale=0.002),
        }
    if cfg["use_simple_decoder"]:
        sd["head.conv.weight"] = r(JOINTS, C, 3, 3)
    else:
        sd["head.deconv1.weight"] = r(C, 256, 4, 4, scale=0.05)
        sd["head.deconv2.weight"] = r(256, 256, 4, 4, scale=0.05)
        for bn in ("head.batchnorm1.", "head.batchnorm2."):
            sd |= {
                bn + "weight": r(256, offset=1.0),
                bn + "bias": r(256),
                bn + "running_mean": r(256),
                bn + "running_var": r(256).abs() + 0.5,
                bn + "num_batches_tracked": torch.tensor(1000),
            }
        sd["head.conv.weight"] = r(JOINTS, 256, 1, 1)
    sd["head.conv.bias"] = r(JOINTS)
    return sd


# transformers' ACT2FN names as formulas (not torch's own GELU), for the reference forward
_REFERENCE_ACTS = {
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "gelu_pytorch_tanh": lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": lambda x: x.clamp(min=0),
    "silu": lambda x: x * torch.sigmoid(x),
}


def reference_forward(sd: dict[str, Tensor], cfg: dict, images: Tensor, eps: float | None = None) -> Tensor:
    """VitPoseForPoseEstimation's forward from raw HF keys and config.json: [B, 3, H, W] -> [B, K, h', w'].

    ``eps`` overrides the config's ``layer_norm_eps`` (to show that it matters)."""
    bc = cfg["backbone_config"]
    eps = bc["layer_norm_eps"] if eps is None else eps
    heads, act = bc["num_attention_heads"], _REFERENCE_ACTS[bc["hidden_act"]]
    x = F.conv2d(
        images,
        sd["backbone.embeddings.patch_embeddings.projection.weight"],
        sd["backbone.embeddings.patch_embeddings.projection.bias"],
        stride=16,
        padding=2,
    )
    B, C, h, w = x.shape
    N, d = h * w, C // heads
    pos = sd["backbone.embeddings.position_embeddings"]
    x = x.flatten(2).transpose(1, 2) + pos[:, 1:] + pos[:, :1]

    def norm(t: Tensor, prefix: str) -> Tensor:
        return F.layer_norm(t, (C,), sd[prefix + ".weight"], sd[prefix + ".bias"], eps=eps)

    for i in range(bc["num_hidden_layers"]):
        p = f"backbone.encoder.layer.{i}."
        y = norm(x, p + "layernorm_before")
        q, k, v = (
            F.linear(
                y, sd[p + f"attention.attention.{n}.weight"], sd.get(p + f"attention.attention.{n}.bias")
            )
            .reshape(B, N, heads, d)
            .transpose(1, 2)
            for n in ("query", "key", "value")
        )
        attn = (q @ k.transpose(-2, -1) * d**-0.5).softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(B, N, C)
        x = x + F.linear(y, sd[p + "attention.output.dense.weight"], sd[p + "attention.output.dense.bias"])
        y = act(F.linear(norm(x, p + "layernorm_after"), sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"]))
        x = x + F.linear(y, sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
    fmap = norm(x, "backbone.layernorm").transpose(1, 2).reshape(B, C, h, w)
    if cfg["use_simple_decoder"]:
        fmap = F.interpolate(fmap.clamp(min=0), scale_factor=cfg["scale_factor"], mode="bilinear")
        return F.conv2d(fmap, sd["head.conv.weight"], sd["head.conv.bias"], padding=1)
    for i in (1, 2):
        fmap = F.conv_transpose2d(fmap, sd[f"head.deconv{i}.weight"], stride=2, padding=1)
        bn = f"head.batchnorm{i}."
        fmap = F.batch_norm(
            fmap,
            sd[bn + "running_mean"],
            sd[bn + "running_var"],
            sd[bn + "weight"],
            sd[bn + "bias"],
            eps=1e-5,
        ).clamp(min=0)
    return F.conv2d(fmap, sd["head.conv.weight"], sd["head.conv.bias"])


def write_folder(folder: Path, cfg: dict, sd: dict[str, Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def images_for(cfg: dict, seed: int = 1) -> Tensor:
    size = cfg["backbone_config"]["image_size"]
    return torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(seed))


CASES = {
    # classic decoder, transformers' own eps, exact GELU: the published checkpoints' settings
    "classic-gelu": dict(),
    # simple decoder x2, tanh GELU, no qkv bias, MLP ratio 2, 2 heads (no size row has them)
    "simple-tanh-nobias": dict(
        simple=True, act="gelu_pytorch_tanh", qkv_bias=False, mlp_ratio=2, heads=2, scale=2
    ),
    # simple decoder x4 at another input size (5 x 4 grid), quick GELU, MLP ratio 3, 8 heads
    "simple-quickgelu-80x64": dict(simple=True, act="quick_gelu", mlp_ratio=3, heads=8, image_size=(80, 64)),
    # classic decoder, ReLU MLP, a larger eps, no qkv bias
    "classic-relu-eps1e-5": dict(act="relu", eps=1e-5, qkv_bias=False, heads=1),
    "classic-silu": dict(act="silu", heads=16),
}


@pytest.mark.parametrize("case", list(CASES))
def test_converted_model_computes_what_the_config_says(tmp_path, case):
    cfg = hf_config(**CASES[case])
    bc = cfg["backbone_config"]
    sd = hf_state_dict(cfg, seed=3)
    model, vcfg = convert_checkpoint(write_folder(tmp_path / "hf", cfg, sd), "hf-vitpose")
    m = vcfg.model
    assert m.vit.norm_eps == bc["layer_norm_eps"]
    assert m.vit.activation == HF_ACTIVATIONS[bc["hidden_act"]]
    assert (m.vit.qkv_bias, m.vit.num_heads, m.vit.mlp_ratio) == (
        bc["qkv_bias"],
        bc["num_attention_heads"],
        bc["mlp_ratio"],
    )
    assert (m.vit.embed_dim, m.vit.depth, m.num_joints) == (WIDTH, DEPTH, JOINTS)
    assert m.image_size == tuple(bc["image_size"])
    assert m.head.kind == ("simple" if cfg["use_simple_decoder"] else "classic")
    assert all(
        n.eps == bc["layer_norm_eps"] for n in model.backbone.modules() if isinstance(n, torch.nn.LayerNorm)
    )
    assert (model.backbone.blocks[0].attn.qkv.bias is not None) == bc["qkv_bias"]

    x = images_for(cfg)
    wrong = 1e-6 if bc["layer_norm_eps"] != 1e-6 else 1e-12
    with torch.no_grad():
        ours = model(x[:, None])
        ref = reference_forward(sd, cfg, x)
        wrong_eps = reference_forward(sd, cfg, x, eps=wrong)
    assert ours.shape == ref.shape and ref.abs().max() > 1.0  # not a trivially small comparison
    assert tuple(vcfg.codec.heatmap_size) == tuple(ours.shape[-2:])  # the codec decodes what the head makes
    # float32: the summation order of the BLAS kernels moves single elements by up to ~1.4e-5 (measured on a
    # loaded 2-core machine); a wrong eps moves them by > 1e-3 (below), and float64 is compared to 1e-6
    torch.testing.assert_close(ours, ref, rtol=0, atol=3e-5)
    assert (ours - wrong_eps).abs().max() > 1e-3  # the eps is measurable at this scale
    # in float64 the only difference left is the float32 fold of the position embedding's class slot
    sd64 = {k: v.double() if v.is_floating_point() else v for k, v in sd.items()}
    with torch.no_grad():
        ours64 = model.double()(x.double()[:, None])
        ref64 = reference_forward(sd64, cfg, x.double())
        wrong64 = reference_forward(sd64, cfg, x.double(), eps=wrong)
    assert (ours64 - ref64).abs().max() < 1e-6
    assert (ours64 - wrong64).abs().max() > 1e-3
    model.float()

    # the model file keeps the settings: loading it back gives the same heatmaps
    loaded, loaded_cfg = load_model(save_model(model, vcfg, tmp_path / "converted.safetensors"))
    assert loaded_cfg.model.vit == m.vit
    with torch.no_grad():
        assert torch.equal(loaded(x[:, None]), ours)


@pytest.mark.parametrize(
    ("field", "wrong"),
    [("norm_eps", 1e-6), ("activation", "gelu"), ("num_heads", 2)],
)
def test_a_setting_that_differs_from_the_config_gives_other_heatmaps(tmp_path, field, wrong):
    """The old converter's ViTPose eps (1e-6), another activation or head count visibly move the output,
    so the comparison above can fail."""
    cfg = hf_config(act="gelu_pytorch_tanh", heads=4)
    sd = hf_state_dict(cfg, seed=5)
    model, vcfg = convert_checkpoint(write_folder(tmp_path / "hf", cfg, sd), "hf-vitpose")
    other = build_model(replace(vcfg.model, vit=replace(vcfg.model.vit, **{field: wrong})))
    load_backbone_and_head(other, convert_hf_vitpose(sd, cfg))
    x = images_for(cfg, seed=6)
    with torch.no_grad():
        ref = reference_forward(sd, cfg, x)
        right = (model(x[:, None]) - ref).abs().max().item()
        off = (other.eval()(x[:, None]) - ref).abs().max().item()
    assert right < 1e-5
    assert off > 100 * right, (right, off)


# ----------------------------------------------------------------------------------------- errors
_DELETE = object()


def edited(cfg: dict, edits: dict[str, object]) -> dict:
    """``cfg`` with dotted-path edits applied (``_DELETE`` removes the key)."""
    for path, value in edits.items():
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return cfg


B = "backbone_config."
CONFIG_ERRORS = {
    "hidden_act": ({B + "hidden_act": "gelu_10"}, r"backbone_config\.hidden_act = 'gelu_10': not supported"),
    "num_experts": ({B + "num_experts": 6}, r"num_experts=6 \(ViTPose\+ mixture-of-experts"),
    "eps-zero": (
        {B + "layer_norm_eps": 0},
        r"backbone_config\.layer_norm_eps = 0: expected a number in \(0, 1\)",
    ),
    "eps-string": ({B + "layer_norm_eps": "1e-12"}, r"backbone_config\.layer_norm_eps = '1e-12'"),
    "qkv_bias-type": ({B + "qkv_bias": "yes"}, r"backbone_config\.qkv_bias = 'yes': expected true or false"),
    "qkv_bias-false": ({B + "qkv_bias": False}, r"qkv_bias = False but the weights hold .*query\.bias"),
    "hidden_size": (
        {B + "hidden_size": 128},
        r"backbone_config\.hidden_size = 128 but the patch embedding has 64",
    ),
    "num_hidden_layers": (
        {B + "num_hidden_layers": 3, B + "out_indices": [3], B + "out_features": ["stage3"]},
        r"backbone_config\.num_hidden_layers = 3 but the weights hold 2",
    ),
    "num_attention_heads": (
        {B + "num_attention_heads": 3},
        r"num_attention_heads = 3: does not divide hidden_size 64",
    ),
    "mlp_ratio": ({B + "mlp_ratio": 2}, r"backbone_config\.mlp_ratio = 2\.0 but the MLP is 256 wide"),
    "patch_size": (
        {B + "patch_size": [16, 8]},
        r"backbone_config\.patch_size = \[16, 8\]: only square patches",
    ),
    "num_channels": ({B + "num_channels": 1}, r"backbone_config\.num_channels = 1: only RGB"),
    "image_size": ({B + "image_size": [128, 96]}, r"image_size \[128, 96\] gives a 8x6 grid"),
    "out_indices": ({B + "out_indices": [1]}, r"backbone_config\.out_indices = \[1\]: .*from layer 1 of 2"),
    "out_features": ({B + "out_features": ["stage1"]}, r"backbone_config\.out_features = \['stage1'\]"),
    "backbone-model_type": ({B + "model_type": "vit"}, r"backbone_config\.model_type = 'vit'"),
    "no-backbone_config": ({"backbone_config": _DELETE}, r"config\.json backbone_config = None"),
    "decoder": ({"use_simple_decoder": True}, r"use_simple_decoder = True but the head has deconvolutions"),
    # transformers' default is the simple decoder
    "decoder-default": (
        {"use_simple_decoder": _DELETE},
        r"use_simple_decoder = True but the head has deconv",
    ),
    "id2label": (
        {"id2label": {"0": "nose"}},
        r"num_labels \(id2label\) = 1 but head\.conv has 5 output channels",
    ),
    "num_labels": ({"num_labels": 4}, r"num_labels = 4: disagrees with the 5 entries of id2label"),
}


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_unsupported_or_contradicting_config_is_a_one_line_error(tmp_path, case):
    edits, message = CONFIG_ERRORS[case]
    folder = write_folder(tmp_path / "hf", edited(hf_config(), edits), hf_state_dict(hf_config()))
    with pytest.raises(CheckpointError, match=message) as info:
        convert_checkpoint(folder, "hf-vitpose")
    text = str(info.value)
    assert text.startswith(f"{folder}: config.json ") and "\n" not in text


def test_simple_decoder_scale_must_be_a_power_of_two_and_reaches_the_head():
    cfg = hf_config(simple=True, scale=3)
    with pytest.raises(
        CheckpointError, match=r"config\.json scale_factor = 3: the simple decoder needs a power"
    ):
        parse_hf_vitpose_config(cfg, "hf")
    cfg = hf_config(simple=True, scale=8)
    assert parse_hf_vitpose_config(cfg).scale_factor == 8
    # the classic decoder ignores scale_factor, as in transformers
    assert not parse_hf_vitpose_config(hf_config(scale=3)).use_simple_decoder


def test_defaults_are_transformers_defaults():
    """A field config.json leaves out takes VitPoseBackboneConfig's default (layer_norm_eps 1e-12, ...)."""
    cfg = hf_config()
    for name in ("layer_norm_eps", "hidden_act", "qkv_bias", "mlp_ratio", "out_indices", "out_features"):
        del cfg["backbone_config"][name]
    spec = parse_hf_vitpose_config(cfg)
    assert (spec.layer_norm_eps, spec.activation, spec.qkv_bias, spec.mlp_ratio) == (1e-12, "gelu", True, 4.0)


def test_num_heads_argument_must_agree_with_the_config(tmp_path):
    cfg = hf_config(heads=4)
    folder = write_folder(tmp_path / "hf", cfg, hf_state_dict(cfg))
    with pytest.raises(ConfigError, match=r"num_heads 8 disagrees with .*num_attention_heads = 4"):
        convert_checkpoint(folder, "hf-vitpose", num_heads=8)
    assert convert_checkpoint(folder, "hf-vitpose", num_heads=4)[1].model.vit.num_heads == 4


# ----------------------------------------------------------------------------------- vidpose config
def test_vit_config_defaults_are_vitpose_and_validated():
    vit = ViTConfig()
    assert (vit.norm_eps, vit.activation, vit.qkv_bias, vit.mlp_ratio) == (1e-6, "gelu", True, 4.0)
    assert typing.get_args(typing.get_type_hints(ViTConfig)["activation"]) == ACTIVATIONS
    assert set(HF_ACTIVATIONS.values()) <= set(ACTIVATIONS)
    assert load_config(None, ["model.vit.norm_eps=1e-12"]).model.vit.norm_eps == 1e-12
    with pytest.raises(ConfigError, match=r"model\.vit\.norm_eps must be in \(0, 1\), got 0\.0"):
        load_config(None, ["model.vit.norm_eps=0"])
    with pytest.raises(ConfigError, match=r"model\.vit\.mlp_ratio must be > 0"):
        load_config(None, ["model.vit.mlp_ratio=0"])
    with pytest.raises(ConfigError, match=r"model\.vit\.activation: 'tanh' is not one of"):
        load_config(None, ["model.vit.activation=tanh"])
    with pytest.raises(ConfigError, match=r"model\.vit\.qkv_bias: expected true/false"):
        load_config(None, ["model.vit.qkv_bias=1"])


def test_cli_convert_reports_the_config_settings(tmp_path, capsys):
    from typer.testing import CliRunner

    from vidpose.cli import _register, app, main

    _register()  # the console script registers the commands on first use
    cfg = hf_config(act="gelu_pytorch_tanh", qkv_bias=False, heads=2)
    folder = write_folder(tmp_path / "hf", cfg, hf_state_dict(cfg))
    out = tmp_path / "converted.safetensors"
    result = CliRunner().invoke(app, ["convert", str(folder), str(out), "--format", "hf-vitpose"])
    assert result.exit_code == 0, result.output
    assert "ViT 64x2 (2 heads), classic head, 5 joints, 64x48, T=1" in result.stdout
    assert "LayerNorm eps 1e-12, gelu_tanh, qkv bias off" in result.stdout
    assert load_model(out).config.model.vit.norm_eps == 1e-12
    detected = CliRunner().invoke(app, ["convert", str(folder), str(tmp_path / "auto.safetensors")])
    assert detected.exit_code == 0, detected.output
    assert "(from hf-vitpose)" in detected.stdout

    bad = write_folder(
        tmp_path / "bad", edited(hf_config(), {B + "hidden_act": "gelu_10"}), hf_state_dict(cfg)
    )
    with pytest.raises(SystemExit) as info:
        main(["convert", str(bad), str(out), "--format", "hf-vitpose"])
    assert info.value.code == 2
    assert "config.json backbone_config.hidden_act = 'gelu_10': not supported" in capsys.readouterr().err
