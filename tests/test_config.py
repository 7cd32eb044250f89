"""Config loading: every recipe in configs/ loads strictly; unknown keys, bad types, bad overrides fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vidpose.config import (
    DERIVED_FIELDS,
    Config,
    ModelConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    validate,
)
from vidpose.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
#: Recipes; configs/_base_/ holds the pieces they compose, which are not recipes by themselves.
CONFIGS = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if "_base_" not in p.relative_to(CONFIG_DIR).parts)
BASES = sorted((CONFIG_DIR / "_base_").rglob("*.yaml"))


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
    with pytest.raises(ConfigError, match=r"middle entry \(the key frame\) must be 0"):
        load_config(None, ["data.frame_offsets=[-2,-1,1]"])
    with pytest.raises(ConfigError, match="must equal codec.input_size"):
        validate(Config(model=ModelConfig(image_size=(128, 96))))  # built in code, nothing derived


def test_derived_values_follow_their_home():
    cfg = load_config(
        None, ["data.frame_offsets=[-1,0,1]", "model.image_size=[128,96]", "codec.heatmap_size=[32,24]"]
    )
    assert (cfg.model.num_frames, cfg.codec.input_size) == (3, (128, 96))
    assert [d for d, _, _ in DERIVED_FIELDS] == ["codec.input_size", "model.num_frames"]


def test_a_derived_value_that_disagrees_names_the_file_and_both_fields(tmp_path):
    p = tmp_path / "both.yaml"
    p.write_text("name: b\nmodel: {image_size: [128, 96]}\ncodec: {input_size: [256, 192]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert str(info.value) == (
        f"{p}: codec.input_size [256, 192] disagrees with model.image_size [128, 96] "
        "(it follows model.image_size: drop it)"
    )
    p.write_text("name: b\nmodel: {num_frames: 3}\n")
    with pytest.raises(
        ConfigError, match=r"both\.yaml: model\.num_frames 3 disagrees with data\.frame_offsets "
    ):
        load_config(p)
    with pytest.raises(
        ConfigError, match=r"^command-line overrides \['model.num_frames=3'\]: model\.num_frames"
    ):
        load_config(None, ["model.num_frames=3"])


def test_a_saved_config_with_both_equal_values_still_loads(tmp_path):
    """Run folders (config.yaml) and model files embed the fully resolved config, derived fields included."""
    full = config_to_dict(load_config(CONFIG_DIR / "ablations" / "frames3.yaml"))
    assert full["model"]["num_frames"] == 3 and full["codec"]["input_size"] == [128, 96]
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(full))
    assert load_config(p) == config_from_dict(full) == load_config(CONFIG_DIR / "ablations" / "frames3.yaml")


def test_heatmap_size_is_checked_against_the_head():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["model.image_size=[128,96]"])
    assert str(info.value) == (
        "codec.heatmap_size [64, 48] does not match the head's output [32, 24]: model.image_size [128, 96] "
        "in patches of model.vit.patch_size 16 (padding 2) is a 8x6 grid, upsampled x4 by "
        "model.head.num_deconv 2"
    )
    cfg = load_config(None, ["model.head.num_deconv=3", "codec.heatmap_size=[128,96]"])
    assert cfg.codec.heatmap_size == (128, 96)
    assert load_config(None, ["model.vit.patch_size=8", "codec.heatmap_size=[128,96]"]).codec.heatmap_size


def test_base_inheritance_merges_sections(tmp_path):
    (tmp_path / "base.yaml").write_text("name: b\ntrain: {lr: 0.1, batch_size: 4}\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nname: c\ntrain: {batch_size: 8}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.name, cfg.train.lr, cfg.train.batch_size) == ("c", 0.1, 8)
    (tmp_path / "loop.yaml").write_text("_base_: loop.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "loop.yaml")


def test_base_list_merges_left_to_right_then_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("train: {lr: 0.1, batch_size: 4, milestones: [3, 5]}\ndata: {root: r}\n")
    (tmp_path / "b.yaml").write_text("_base_: c.yaml\ntrain: {batch_size: 8, milestones: [7]}\n")
    (tmp_path / "c.yaml").write_text("eval: {batch_size: 3}\ntrain: {lr: 0.3}\n")
    (tmp_path / "child.yaml").write_text("_base_: [a.yaml, b.yaml]\nname: c\ntrain: {epochs: 2}\n")
    cfg = load_config(tmp_path / "child.yaml")
    # b (with its own base c) wins over a; lists replace, mappings merge; the file's keys come last
    assert cfg.train.lr == 0.3 and cfg.train.batch_size == 8 and cfg.train.milestones == (7,)
    assert (cfg.train.epochs, cfg.data.root, cfg.eval.batch_size, cfg.name) == (2, "r", 3, "c")
    (tmp_path / "swap.yaml").write_text("_base_: [b.yaml, a.yaml]\nname: s\n")
    cfg = load_config(tmp_path / "swap.yaml")
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.milestones) == (0.1, 4, (3, 5))


@pytest.mark.parametrize("base", ["[]", "[a.yaml, 3]", "{a: 1}", "7"])
def test_a_bad_base_is_named(tmp_path, base):
    (tmp_path / "a.yaml").write_text("name: a\n")
    (tmp_path / "x.yaml").write_text(f"_base_: {base}\nname: x\n")
    with pytest.raises(ConfigError, match=r"x\.yaml: _base_ must be a file name or a non-empty list"):
        load_config(tmp_path / "x.yaml")


def test_a_base_cycle_through_a_list_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("_base_: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("_base_: [c.yaml, a.yaml]\n")
    (tmp_path / "c.yaml").write_text("name: c\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")
    # a diamond (two bases sharing one) is not a cycle
    (tmp_path / "d.yaml").write_text("_base_: [c.yaml, e.yaml]\nname: d\n")
    (tmp_path / "e.yaml").write_text("_base_: c.yaml\ntrain: {lr: 0.2}\n")
    assert load_config(tmp_path / "d.yaml").train.lr == 0.2


def test_every_base_is_used_by_a_recipe():
    used = set()
    for path in CONFIGS:
        base = yaml.safe_load(path.read_text()).get("_base_") or []
        used |= {(path.parent / b).resolve() for b in ([base] if isinstance(base, str) else base)}
    assert BASES and set(BASES) <= used, sorted(set(BASES) - used)


# model size -> (vit size, drop_path_rate, grad_checkpointing, train.batch_size, train.layer_decay)
_POSETRACK = {"b": ("base", 0.3, False, 32, 0.75), "l": ("large", 0.5, True, 32, 0.8),
              "h": ("huge", 0.55, True, 16, 0.85)}  # fmt: skip


@pytest.mark.parametrize("year", ["17", "18", "21"])
@pytest.mark.parametrize("size", ["b", "l", "h"])
def test_posetrack_recipes_compose_dataset_and_model_size(year, size):
    """The composed recipes resolve to what the nine hand-written files said (checked in full, key by key,
    against the files they replaced when they were composed; these are the values that differ)."""
    cfg = load_config(CONFIG_DIR / f"posetrack{year}_vit{size}.yaml")
    vit, drop_path, ckpt, batch, decay = _POSETRACK[size]
    assert cfg.name == f"posetrack{year}_vit{size}" and cfg.train.out_dir == f"runs/posetrack{year}_vit{size}"
    assert (cfg.data.format, cfg.data.root, cfg.data.val_boxes) == (
        f"pt{year}",
        f"data/posetrack{year}",
        f"boxes/posetrack{year}_val_boxes.json",
    )
    assert (cfg.model.vit.size, cfg.model.vit.drop_path_rate, cfg.model.vit.grad_checkpointing) == (
        vit,
        drop_path,
        ckpt,
    )
    assert cfg.model.init_from == f"checkpoints/vitpose-{size}-coco.safetensors"
    assert (cfg.train.batch_size, cfg.train.layer_decay) == (batch, decay)
    # the shared recipe
    assert (cfg.model.image_size, cfg.codec.input_size) == ((256, 192), (256, 192))
    assert cfg.codec.heatmap_size == (64, 48)
    assert (cfg.model.num_frames, cfg.data.frame_offsets) == (5, (-2, -1, 0, 1, 2))
    assert (cfg.model.mlsme.dim, cfg.model.mlsme.frame_layers, cfg.model.smml.num_layers) == (384, 2, 2)
    assert (cfg.train.lr, cfg.train.epochs, cfg.train.milestones, cfg.train.amp) == (5e-4, 20, (16,), True)
    assert (cfg.data.num_workers, cfg.data.resample_offsets, cfg.eval.batch_size) == (8, True, 64)


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
    The model base's header comment names model.init_from, relative to the working folder."""
    cfg = load_config(path)
    folder = "posetrack_data" if cfg.data.format == "pt21" else "annotations"
    assert (cfg.data.train_ann, cfg.data.val_ann) == (f"{folder}/train", f"{folder}/val")
    bases = yaml.safe_load(path.read_text())["_base_"]
    (model_base,) = [b for b in bases if "/models/" in b]
    header = (path.parent / model_base).read_text().split("\nmodel:")[0]
    assert f"{cfg.model.init_from} --format vitpose" in header
    assert "relative to the working folder" in header
