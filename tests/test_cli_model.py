"""The model commands (`vidpose convert`, `vidpose bench model`, `vidpose version`) and the profiler behind
`bench model` (vidpose.models.profile)."""

from __future__ import annotations

import csv

import pytest
import torch
from typer.testing import CliRunner

import vidpose
from vidpose.cli import _register, app, main
from vidpose.config import HeadConfig, ModelConfig, ViTConfig
from vidpose.errors import ConfigError
from vidpose.models.pose_model import build_model
from vidpose.models.profile import count_flops, model_config_for
from vidpose.models.serialization import load_model

_register()
runner = CliRunner()

WIDTH, DEPTH, JOINTS = 64, 2, 5


def fake_vitpose_pth(path, seed: int = 0):
    """A tiny official-format ViTPose checkpoint (classic head), 64x48 input (4x3 grid + class slot)."""
    g = torch.Generator().manual_seed(seed)
    C = WIDTH
    sd = {
        "backbone.patch_embed.proj.weight": torch.randn(C, 3, 16, 16, generator=g) * 0.02,
        "backbone.patch_embed.proj.bias": torch.zeros(C),
        "backbone.pos_embed": torch.randn(1, 13, C, generator=g) * 0.02,
        "backbone.last_norm.weight": torch.ones(C),
        "backbone.last_norm.bias": torch.zeros(C),
    }
    shapes = {
        "norm1": [(C,), (C,)],
        "attn.qkv": [(3 * C, C), (3 * C,)],
        "attn.proj": [(C, C), (C,)],
        "norm2": [(C,), (C,)],
        "mlp.fc1": [(4 * C, C), (4 * C,)],
        "mlp.fc2": [(C, 4 * C), (C,)],
    }
    for i in range(DEPTH):
        for name, (w_shape, b_shape) in shapes.items():
            sd[f"backbone.blocks.{i}.{name}.weight"] = torch.randn(*w_shape, generator=g) * 0.05 + (
                1.0 if name.startswith("norm") else 0.0
            )
            sd[f"backbone.blocks.{i}.{name}.bias"] = torch.randn(*b_shape, generator=g) * 0.05
    for i, c_in in ((0, C), (3, 256)):
        sd[f"keypoint_head.deconv_layers.{i}.weight"] = torch.randn(c_in, 256, 4, 4, generator=g) * 0.05
        for stat, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            sd[f"keypoint_head.deconv_layers.{i + 1}.{stat}"] = torch.full((256,), value)
        sd[f"keypoint_head.deconv_layers.{i + 1}.num_batches_tracked"] = torch.tensor(0)
    sd["keypoint_head.final_layer.weight"] = torch.randn(JOINTS, 256, 1, 1, generator=g) * 0.05
    sd["keypoint_head.final_layer.bias"] = torch.zeros(JOINTS)
    torch.save({"meta": {"epoch": 210}, "state_dict": sd}, path)
    return path


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == vidpose.__version__


def test_convert_writes_a_loadable_temporal_checkpoint(tmp_path):
    src = fake_vitpose_pth(tmp_path / "vitpose_tiny.pth")
    out = tmp_path / "out" / "model.safetensors"
    args = ["convert", str(src), str(out), "--format", "vitpose", "--frames", "3", "--num-heads", "4"]
    result = runner.invoke(app, [*args, "--image-size", "64x48"])
    assert result.exit_code == 0, result.output
    assert "ViT 64x2 (4 heads), classic head, 5 joints, 64x48, T=3" in result.stdout
    model, cfg = load_model(out)
    m = cfg.model
    assert (m.temporal, m.num_frames, m.image_size, m.num_joints) == (True, 3, (64, 48), JOINTS)
    assert (m.vit.embed_dim, m.vit.depth, m.vit.num_heads) == (WIDTH, DEPTH, 4)
    assert cfg.data.frame_offsets == (-1, 0, 1) and cfg.codec.heatmap_size == (16, 12)

    single_out = tmp_path / "single.safetensors"
    args = ["convert", str(src), str(single_out), "--format", "vitpose", "--num-heads", "4"]
    result = runner.invoke(app, [*args, "--image-size", "64x48"])
    assert result.exit_code == 0, result.output
    single, single_cfg = load_model(single_out)
    assert not single_cfg.model.temporal
    clip = torch.randn(1, 3, 3, 64, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(model(clip), single(clip), atol=1e-6, rtol=1e-5)


def test_convert_detects_the_format_without_the_option(tmp_path, capsys):
    src = fake_vitpose_pth(tmp_path / "vitpose_tiny.pth")
    out = tmp_path / "auto.safetensors"
    result = runner.invoke(app, ["convert", str(src), str(out), "--num-heads", "4", "--image-size", "64x48"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (from vitpose)" in result.stdout
    assert load_model(out).config.model.num_joints == JOINTS
    torch.save({"encoder.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(SystemExit) as info:
        main(["convert", str(tmp_path / "other.pth"), str(tmp_path / "o.safetensors")])
    assert info.value.code == 2
    assert "cannot tell the format" in capsys.readouterr().err


def test_convert_errors_exit_with_code_2(tmp_path, capsys):
    src = fake_vitpose_pth(tmp_path / "v.pth")
    with pytest.raises(SystemExit) as info:
        main(["convert", str(src), str(tmp_path / "o.safetensors"), "--format", "mmpose"])
    assert info.value.code == 2
    assert "--format 'mmpose': expected one of vitpose, hf-vitpose" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(
            [
                "convert",
                str(src),
                str(tmp_path / "o.safetensors"),
                "--format",
                "vitpose",
                "--image-size",
                "64",
            ]
        )
    assert info.value.code == 2 and "expected HxW" in capsys.readouterr().err
    result = runner.invoke(
        app, ["convert", str(tmp_path / "absent.pth"), str(tmp_path / "o"), "--format", "vitpose"]
    )
    assert result.exit_code != 0 and "file not found" in str(result.exception)
    assert not (tmp_path / "o.safetensors").exists()


def test_bench_model_writes_markdown_and_csv(tmp_path):
    out = tmp_path / "bench.md"
    args = ["bench", "model", "--sizes", "nano", "--frames", "3", "--image-size", "64x48", "--repeats", "1"]
    result = runner.invoke(app, [*args, "--warmup", "0", "--precisions", "fp32", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| nano | 128 x 4 (4) |" in result.stdout
    text = out.read_text()
    assert "multiply-add counts as 2 FLOPs" in text and "torch " + torch.__version__ in text
    rows = list(csv.DictReader(out.with_suffix(".csv").read_text().splitlines()))
    assert len(rows) == 1 and rows[0]["size"] == "nano" and rows[0]["frames"] == "3"
    assert int(rows[0]["params_total"]) > int(rows[0]["params_single"]) > int(rows[0]["params_backbone"])
    assert float(rows[0]["gflops"]) > float(rows[0]["gflops_single"]) > 0
    assert float(rows[0]["latency_fp32_ms"]) >= float(rows[0]["latency_fp32_min_ms"]) > 0
    assert rows[0]["latency_bf16_ms"] == "" and rows[0]["latency_bf16_min_ms"] == ""


def test_flop_count_matches_the_analytic_count_of_a_single_frame_vit():
    """Counts multiply-adds as 2 and includes attention (the fused CPU SDPA kernel alone would count 0)."""
    C, depth, K = 64, 2, 5
    cfg = ModelConfig(
        temporal=False,
        num_frames=1,
        num_joints=K,
        image_size=(64, 48),
        head=HeadConfig(kind="simple"),
        vit=ViTConfig(size="nano", embed_dim=C, depth=depth, num_heads=4),
    )
    model = build_model(cfg).eval()
    h, w = 4, 3
    N = h * w
    patch = 2 * C * 3 * 16 * 16 * N
    block = 2 * N * C * 3 * C + 2 * 2 * N * N * C + 2 * N * C * C + 2 * 2 * N * C * 4 * C
    head = 2 * K * C * 9 * (4 * h) * (4 * w)
    assert count_flops(model, torch.zeros(1, 1, 3, 64, 48)) == patch + depth * block + head


def test_model_config_for_rejects_zero_frames():
    with pytest.raises(ConfigError, match="frames must be >= 1"):
        model_config_for("nano", 0, (64, 48))
