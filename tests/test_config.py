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
