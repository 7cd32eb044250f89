"""Model files: safetensors with the config in the metadata (vidpose.models.serialization)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import vidpose
from vidpose.config import Config, ModelConfig, ViTConfig, config_to_dict
from vidpose.errors import CheckpointError
from vidpose.models.fitting import config_for_model
from vidpose.models.pose_model import build_model
from vidpose.models.serialization import MODEL_FORMAT, load_model, read_model_config, save_model

IMAGE = (64, 48)


def small_config(frames: int) -> Config:
    model = ModelConfig(
        temporal=frames > 1,
        num_frames=frames,
        num_joints=5,
        image_size=IMAGE,
        vit=ViTConfig(size="nano", depth=2),
    )
    model = replace(model, mlsme=replace(model.mlsme, frame_mask_count=min(1, frames - 1)))
    return config_for_model(model, name=f"small-t{frames}")


def randomised_model(cfg: Config, seed: int = 0):
    """A model whose every tensor (BatchNorm statistics and zero-initialised fusion included) is random."""
    torch.manual_seed(seed)
    model = build_model(cfg.model)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) * 0.2 + (0.5 if "running_var" in name else -0.1))
    return model.eval()


@pytest.mark.parametrize("frames", [1, 3])
def test_round_trip_gives_identical_outputs_and_config(tmp_path, frames):
    cfg = small_config(frames)
    model = randomised_model(cfg)
    path = save_model(model, cfg, tmp_path / "sub" / "model.safetensors")
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.safetensors"]  # no temp file left
    loaded, loaded_cfg = load_model(path)
    assert loaded_cfg == cfg and config_to_dict(loaded_cfg) == config_to_dict(cfg)
    assert not loaded.training
    clip = torch.randn(2, frames, 3, *IMAGE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(clip), model(clip))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_a_model_built_without_init_has_cpu_storage_and_the_fixed_buffers():
    """``build_model(init_weights=False)`` (what load_model uses): no tensor left on the meta device, and the
    non-persistent sin-cos table (which no file restores) equals the initialised model's."""
    cfg = small_config(3)
    bare, ref = build_model(cfg.model, init_weights=False), build_model(cfg.model)
    tensors = [*bare.parameters(), *bare.buffers()]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert torch.equal(bare.mlsme.pos_spatial, ref.mlsme.pos_spatial)
    assert bare.mlsme.pos_spatial.abs().sum() > 0
    assert set(bare.state_dict()) == set(ref.state_dict())


def test_fp16_storage_halves_the_file_and_loads_back_as_fp32(tmp_path):
    cfg = small_config(3)
    model = randomised_model(cfg)
    full = save_model(model, cfg, tmp_path / "full.safetensors")
    half = save_model(model, cfg, tmp_path / "half.safetensors", storage_dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert load_file(str(half))["backbone.pos_embed"].dtype == torch.float16
    loaded, _ = load_model(half)
    assert all(v.dtype == torch.float32 for v in loaded.state_dict().values() if v.is_floating_point())
    clip = torch.randn(2, 3, 3, *IMAGE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, out = model(clip), loaded(clip)
    assert (out - ref).abs().max() <= 1e-2 * ref.abs().max()


def test_metadata_and_top_level_api(tmp_path):
    cfg = small_config(1)
    path = save_model(randomised_model(cfg), cfg, tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == MODEL_FORMAT and meta["format_version"] == "1"
    assert meta["vidpose_version"] == vidpose.__version__
    assert json.loads(meta["config"]) == config_to_dict(cfg)
    result = vidpose.load_model(path, overrides=["eval.flip_test=false"])
    assert result.config.eval.flip_test is False and result.model is result[0]
    assert read_model_config(path) == cfg
    assert vidpose.build_model is build_model


def test_import_vidpose_has_no_heavy_side_effects():
    code = "import sys, vidpose; assert 'torch' not in sys.modules; vidpose.load_config; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_wrapped_model_is_saved_without_prefix(tmp_path):
    cfg = small_config(1)
    model = randomised_model(cfg)
    path = save_model(torch.nn.DataParallel(model), cfg, tmp_path / "dp.safetensors")
    assert set(load_file(str(path))) == set(model.state_dict())


# -------------------------------------------------------------------------------------- bad files
def _write(path, tensors, metadata):
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def test_partial_and_misshaped_weights_are_named(tmp_path):
    cfg = small_config(3)
    good = save_model(randomised_model(cfg), cfg, tmp_path / "good.safetensors")
    with safe_open(str(good), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(good))
    del tensors["backbone.last_norm.bias"]
    tensors["smml.extra"] = torch.zeros(3)
    tensors["head.final_layer.weight"] = torch.zeros(4, 256, 1, 1)
    bad = _write(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(CheckpointError) as info:
        load_model(bad)
    message = str(info.value)
    assert str(bad) in message
    assert "1 missing key(s): backbone.last_norm.bias (128,)" in message
    assert "1 unexpected key(s): smml.extra (3,)" in message
    assert "head.final_layer.weight (expected (5, 256, 1, 1), got (4, 256, 1, 1))" in message


def test_truncated_file(tmp_path):
    cfg = small_config(1)
    path = save_model(randomised_model(cfg), cfg, tmp_path / "m.safetensors")
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors: .*truncated or corrupt"):
        load_model(cut)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.safetensors"):
        load_model(empty)


def test_wrong_kinds_of_file_say_what_was_expected(tmp_path):
    pickle_path = tmp_path / "last.pt"
    torch.save({"model": {}, "optimizer": {}, "step": 3}, pickle_path)
    with pytest.raises(CheckpointError, match="PyTorch pickle checkpoint.*expected a vidpose model file"):
        load_model(pickle_path)

    plain = _write(tmp_path / "hf.safetensors", {"w": torch.zeros(2)}, None)
    with pytest.raises(CheckpointError, match="without vidpose metadata.*--format hf-vitpose"):
        load_model(plain)

    other = _write(tmp_path / "state.safetensors", {"w": torch.zeros(2)}, {"format": "vidpose-train-state"})
    with pytest.raises(CheckpointError, match="a 'vidpose-train-state' file, expected a vidpose model file"):
        load_model(other)

    meta = {"format": MODEL_FORMAT, "format_version": "99", "vidpose_version": "9.0", "config": "{}"}
    newer = _write(tmp_path / "newer.safetensors", {"w": torch.zeros(2)}, meta)
    with pytest.raises(CheckpointError, match="reads format 1 at most"):
        load_model(newer)

    meta = {
        "format": MODEL_FORMAT,
        "format_version": "1",
        "config": json.dumps({"model": {"vit": {"sise": 1}}}),
    }
    bad_cfg = _write(tmp_path / "badcfg.safetensors", {"w": torch.zeros(2)}, meta)
    with pytest.raises(CheckpointError, match="embedded config: unknown key model.vit.sise"):
        load_model(bad_cfg)

    with pytest.raises(CheckpointError, match="file not found"):
        load_model(tmp_path / "absent.safetensors")


def test_a_safetensors_header_length_ending_in_0x80_is_not_taken_for_a_pickle(tmp_path):
    """The file's first byte is its header length's low byte; 0x80 is also a pickle's protocol marker."""
    for pad in range(256):
        meta = {"format": "vidpose-train-state", "pad": "x" * pad}
        path = _write(tmp_path / f"p{pad}.safetensors", {"w": torch.zeros(2)}, meta)
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length ending in 0x80")
    with pytest.raises(CheckpointError, match="a 'vidpose-train-state' file, expected a vidpose model file"):
        load_model(path)
