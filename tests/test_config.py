"""Config loading: every recipe in configs/ loads strictly; unknown keys, bad types, bad overrides fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpose.config import Config, config_from_dict, config_to_dict, load_config
from vidpose.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


def test_there_are_recipes():
    names = {p.name for p in CONFIGS}
    assert {
        "synthetic_nano.yaml",
        "posetrack17_vitb.yaml",
        "posetrack18_vitb.yaml",
        "posetrack21_vitb.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_recipe_loads_strictly(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert cfg.name != "default", f"{path} must set a name"
    # round trip through plain data gives the same config
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown key codec\.sgima \(codec\.sigma\?\)"):
        load_config(None, ["codec.sgima=3"])


def test_wrong_type_names_the_field(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("train:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: train\.batch_size: expected an integer"):
        load_config(p)


def test_literal_and_tuple_lengths_are_checked():
    with pytest.raises(ConfigError, match="model.smml.fusion"):
        load_config(None, ["model.smml.fusion=average"])
    with pytest.raises(ConfigError, match="model.image_size: expected 2 values"):
        load_config(None, ["model.image_size=[256, 192, 3]"])


def test_overrides_parse_yaml_values_including_exponents():
    cfg = load_config(
        None, ["train.lr=1e-3", "model.vit.size=tiny", "data.frame_offsets=[-1,0,1]", "model.num_frames=3"]
    )
    assert cfg.train.lr == pytest.approx(1e-3)
    assert cfg.model.vit.size == "tiny"
    assert cfg.data.frame_offsets == (-1, 0, 1)


def test_cross_field_validation():
    with pytest.raises(ConfigError, match="frame_offsets has 3 entries"):
        load_config(None, ["data.frame_offsets=[-1,0,1]"])
    with pytest.raises(ConfigError, match="must equal codec.input_size"):
        load_config(None, ["model.image_size=[128,96]"])


def test_base_inheritance_merges_sections(tmp_path):
    (tmp_path / "base.yaml").write_text("name: b\ntrain: {lr: 0.1, batch_size: 4}\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nname: c\ntrain: {batch_size: 8}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.name, cfg.train.lr, cfg.train.batch_size) == ("c", 0.1, 8)
    (tmp_path / "loop.yaml").write_text("_base_: loop.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "loop.yaml")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=-3", r"train\.epochs must be >= 1, got -3"),
        ("train.epochs=0", r"train\.epochs must be >= 1"),
        ("train.batch_size=0", r"train\.batch_size must be >= 1"),
        ("eval.batch_size=-1", r"eval\.batch_size must be >= 1"),
        ("train.accum_steps=0", r"train\.accum_steps must be >= 1"),
        ("train.lr=0", r"train\.lr must be > 0"),
        ("train.ckpt_every_steps=-1", r"train\.ckpt_every_steps must be >= 0"),
        ("codec.sigma=0", r"codec\.sigma must be > 0"),
        ("train.ema_decay=1", r"train\.ema_decay must be in \[0, 1\)"),
        ("data.num_workers=-1", r"data\.num_workers must be >= 0"),
    ],
)
def test_impossible_values_are_refused_at_load_time(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_even_frame_count_is_refused():
    with pytest.raises(ConfigError, match="model.num_frames must be odd"):
        load_config(None, ["model.num_frames=4", "data.frame_offsets=[-2,-1,0,1]"])


def test_an_empty_recipe_is_refused(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match=r"empty\.yaml: the recipe is empty"):
        load_config(p)


def test_yaml_syntax_error_is_one_line_with_file_and_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\ntrain:\n  lr: [1e-3\n  epochs: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert "\n" not in msg and "<unicode string>" not in msg
    assert msg.startswith(f"{p}:") and "invalid YAML" in msg
    assert msg.split(":")[1].isdigit()


def test_a_bad_override_is_blamed_on_the_command_line_not_the_file(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("name: ok\n")
    with pytest.raises(
        ConfigError, match=r"^command-line override 'train\.lrr=1': unknown key train\.lrr"
    ) as info:
        load_config(p, ["train.lrr=1"])
    assert str(p) not in str(info.value)
    p.write_text("name: ok\ntrain: {lrr: 1}\n")
    with pytest.raises(ConfigError, match=r"ok\.yaml: unknown key train\.lrr"):
        load_config(p, ["train.lr=1e-3"])


def test_a_folder_as_recipe_is_named(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p.match("configs/posetrack*_vit?.yaml")], ids=lambda p: p.stem
)
def test_posetrack_recipes_point_at_the_released_layout(path):
    """PoseTrack21 is released as posetrack_data/{train,val}; PoseTrack17/18 as annotations/{train,val}.
    The checkpoint named by the header comment is model.init_from (relative to the working folder)."""
    cfg = load_config(path)
    folder = "posetrack_data" if cfg.data.format == "pt21" else "annotations"
    assert (cfg.data.train_ann, cfg.data.val_ann) == (f"{folder}/train", f"{folder}/val")
    assert f"{cfg.model.init_from} (relative to the working folder" in path.read_text()
