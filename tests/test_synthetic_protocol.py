"""``benchmarks/synthetic_protocol.py``: every round's variants are valid configs whose lr patterns match
parameters, and the paired (variant - baseline, same seed) table cells are computed per seed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vidpose.config import config_to_dict, load_config
from vidpose.models import build_model
from vidpose.models.serialization import load_model, save_model
from vidpose.tasks.train import pose_optimizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def protocol():
    spec = importlib.util.spec_from_file_location(
        "synthetic_protocol", REPO / "benchmarks" / "synthetic_protocol.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_round_orders_name_their_variants(protocol):
    for rnd in protocol.ROUNDS.values():
        assert {v for v, _ in rnd.order} <= set(rnd.variants)
        assert set(rnd.probed) <= set(rnd.variants)
        assert set(rnd.motion_readout) <= set(rnd.variants)
        assert len(set(rnd.order)) == len(rnd.order)


@pytest.mark.parametrize("number", [4, 5, 6, 7, 8, 9])
def test_round_variants_are_valid_configs(protocol, number):
    rnd = protocol.ROUNDS[number]
    for variant, overrides in rnd.variants.items():
        cfg = load_config(REPO / rnd.recipe, [*rnd.init_overrides, *overrides, "train.seed=0"])
        # lr_mult / lr_hold patterns that match no parameter raise a ConfigError here
        model = build_model(cfg.model)
        optimizer = pose_optimizer(model, cfg)
        hold = 150
        if number in (6, 7, 8):  # round 5's pair, three times the steps and the hold
            assert cfg.train.max_steps == 900
            hold = 450
        if "mix_hold" in variant:
            assert cfg.model.smml.fusion_scale_init == 1.0
            assert dict(cfg.train.lr_hold) == {"smml.gate.*": hold, "smml.fusion_scale": hold}
        if "no_mask" in variant:
            assert not cfg.model.mlsme.use_cube_mask and not cfg.model.mlsme.use_frame_mask
        gate = {id(p) for n, p in model.named_parameters() if n.startswith("smml.gate.")}
        lrs = {g["lr"] for g in optimizer.param_groups if any(id(p) in gate for p in g["params"])}
        if variant == "r5_mix_hold_no_mask_gate20":  # no lr_mult: the gate keeps the recipe's 20x
            assert lrs == {20 * cfg.train.lr}, lrs
        elif variant in ("r5_mix_hold_no_mask", "r6_mix_hold_no_mask_900", "r7_mix_hold_no_mask_900"):
            assert lrs == {cfg.train.lr}, lrs
        elif variant in ("r9_mix_hold_no_mask", "r9_aux_frame_grad"):
            assert lrs == {cfg.train.lr}, lrs
            assert cfg.model.aux_frame_grad == (variant == "r9_aux_frame_grad"), variant
        elif variant.startswith("r8_offsets"):
            assert lrs == {cfg.train.lr}, lrs
            spacing = int(variant[len("r8_offsets")])
            assert cfg.data.frame_offsets == tuple(spacing * o for o in (-2, -1, 0, 1, 2))
            assert cfg.model.num_frames == 5  # the same compute per window at every spread


def _entry(clean: float, hard: float, black: float, neighbour: float) -> dict:
    return {
        "clean": {"ap": {"Total": clean}, "ap_hard": {"Total": hard}},
        "black": {"ap": {"Total": black}},
        "neighbour": {"ap": {"Total": neighbour}},
    }


def test_paired_differences_are_per_seed(protocol):
    data = {
        "v_s0": _entry(43.0, 36.8, 20.1, 28.7),
        "v_s1": _entry(45.0, 38.0, 19.0, 30.0),
        "b_s0": _entry(43.6, 37.4, 11.1, 28.8),
        "b_s1": _entry(45.0, 38.6, 10.8, 30.1),
        "b_s2": _entry(43.8, 37.3, 10.6, 29.3),  # no partner: left out
    }
    n, cells = protocol._paired(data, "v", "b")
    assert n == 2
    # clean: -0.6, 0.0 -> -0.3 ± 0.42; black: +9.0, +8.2 -> 8.6 ± 0.57
    assert cells == "-0.3 ± 0.4 | -0.6 ± 0.0 | 8.6 ± 0.6 | -0.1 ± 0.0"
    assert protocol._paired(data, "missing", "b") == (0, "not run | not run | not run | not run")


@pytest.fixture(scope="module")
def summary(protocol):
    spec = importlib.util.spec_from_file_location(
        "protocol_summary", REPO / "benchmarks" / "protocol_summary.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports synthetic_protocol, which the protocol fixture registered
    return module


def test_summary_pairs_each_round_with_its_own_baseline(summary):
    """Round 5's committed table: the mix hold without masking minus the single frame, per seed."""
    rows = {row.split(" | ")[1]: row for row in summary.variant_rows(5)}
    cells = rows["`r5_mix_hold_no_mask`"].strip("| ").split(" | ")
    # seeds, AP all / hard / black, paired seeds, paired all / hard / black
    assert cells[3:] == [
        "3",
        "43.5 ± 0.2",
        "37.3 ± 0.4",
        "27.2 ± 1.0",
        "3",
        "-0.7 ± 0.3",
        "-0.6 ± 0.2",
        "+16.7 ± 1.0",
    ]
    assert rows["`r5_single_frame` (the baseline)"].split(" | ")[4] == "44.3 ± 0.2"
    # round 1's lr10 is paired with single_frame_lr10 (the same change without the temporal modules)
    lr10 = next(r for r in summary.variant_rows(1) if "`lr10`" in r).strip("| ").split(" | ")
    assert lr10[-3:] == ["+0.4", "+0.4", "-0.8"]


def test_summary_lists_every_committed_run(summary):
    for number in summary.ROUND_INFO:
        variants = {name.rsplit("_s", 1)[0] for name in summary.round_entries(number)}
        listed = " ".join(summary.variant_rows(number))
        assert all(f"`{v}`" in listed for v in variants), number


@pytest.mark.parametrize(
    ("recipe", "variant"),
    [("stage2_temporal", "r6_mix_hold_no_mask_900"), ("stage2_single_frame", "r6_single_frame_900")],
)
def test_the_stage2_recipes_are_round_6s_pair(protocol, recipe, variant):
    """The two recipe files the README gives are the configs round 6 trained (apart from name and out_dir)."""
    rnd = protocol.ROUNDS[6]
    made = config_to_dict(load_config(REPO / rnd.recipe, [*rnd.init_overrides, *rnd.variants[variant]]))
    given = config_to_dict(load_config(REPO / "configs" / "synthetic" / f"{recipe}.yaml"))
    for cfg in (made, given):
        cfg.pop("name")
        cfg["train"].pop("out_dir")
    assert given == made


def test_round_7_is_round_6_from_the_longer_stage_1(protocol):
    r6, r7 = protocol.ROUNDS[6], protocol.ROUNDS[7]
    assert list(r7.variants.values()) == list(r6.variants.values())
    assert r7.recipe == r6.recipe
    assert r7.stage1_chain == ((r6.stage1, r6.stage1_dir),)
    stage1 = load_config(REPO / r7.stage1)
    assert stage1.model.init_from == str(r6.stage1_dir / "model_last.safetensors")
    assert stage1.train.out_dir == str(r7.stage1_dir)
    assert r7.init_overrides == (f"model.init_from={r7.stage1_dir / 'model_last.safetensors'}",)


def test_round_8_is_round_6_with_the_window_spread(protocol):
    """Round 8's runs are round 6's two recipes from the same stage 1; the wide variants add only offsets."""
    r6, r8 = protocol.ROUNDS[6], protocol.ROUNDS[8]
    assert (r8.recipe, r8.stage1, r8.stage1_dir, r8.stage1_chain) == (r6.recipe, r6.stage1, r6.stage1_dir, ())
    full, single = r6.variants["r6_mix_hold_no_mask_900"], r6.variants["r6_single_frame_900"]
    assert r8.main == ("r8_offsets3_900", "r8_single_frame_900")
    assert r8.variants["r8_single_frame_900"] == single and r8.variants["r8_offsets1_900"] == full
    for spacing in (2, 3):
        *same, offsets = r8.variants[f"r8_offsets{spacing}_900"]
        assert tuple(same) == full and offsets.startswith("data.frame_offsets=")
    assert r8.order[:2] == (("r8_offsets3_900", 0), ("r8_offsets1_900", 0))  # the question and its control


def test_round_9_ablates_only_the_speed_switch(protocol):
    """Round 9 is round 5's pair from round 5's stage 1, plus the full model with backbone gradients through
    every frame: the one override that differs is model.aux_frame_grad."""
    r5, r9 = protocol.ROUNDS[5], protocol.ROUNDS[9]
    assert (r9.recipe, r9.stage1, r9.stage1_dir) == (r5.recipe, r5.stage1, r5.stage1_dir)
    assert r9.main == ("r9_mix_hold_no_mask", "r9_single_frame")
    assert r9.variants["r9_mix_hold_no_mask"] == r5.variants["r5_mix_hold_no_mask"]
    assert r9.variants["r9_single_frame"] == r5.variants["r5_single_frame"]
    assert r9.variants["r9_aux_frame_grad"] == (
        *r5.variants["r5_mix_hold_no_mask"],
        "model.aux_frame_grad=true",
    )
    stage2 = load_config(REPO / r9.recipe)
    assert stage2.model.aux_frame_grad is False  # the recipe's default is the speed switch on


def _finished_stage1(root: Path, run: Path):
    """A stage-1 run folder as `vidpose train` leaves it: last model, config, log (a small random model)."""
    cfg = load_config(REPO / "configs" / "synthetic" / "stage1_longer.yaml")
    model = build_model(cfg.model)
    (root / run).mkdir(parents=True)
    save_model(model, cfg, root / run / "model_last.safetensors")
    (root / run / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg)))
    (root / run / "log.jsonl").write_text('{"step": 20, "loss": 0.5}\n')
    return model


def test_a_kept_stage_1_is_restored_instead_of_trained(protocol, tmp_path, monkeypatch):
    run = protocol.ROUND7.stage1_dir
    model = _finished_stage1(tmp_path, run)
    monkeypatch.setattr(protocol, "REPO", tmp_path)
    kept = protocol.keep_stage1(run)
    assert kept == tmp_path / protocol.KEPT_STAGE1[run]
    config, log = ((tmp_path / run / n).read_text() for n in ("config.yaml", "log.jsonl"))
    shutil.rmtree(tmp_path / run)

    monkeypatch.setattr(protocol, "_run", lambda *a, **k: pytest.fail(f"trained again: {a}"))
    protocol.make_stage1(protocol.ROUND7)
    restored, _ = load_model(tmp_path / run / "model_last.safetensors")
    expected = model.state_dict()
    for name, tensor in restored.state_dict().items():  # fp16 storage, read back as fp32
        assert tensor.dtype == expected[name].dtype
        torch.testing.assert_close(tensor, expected[name].half().to(tensor.dtype), rtol=0, atol=0)
    assert (tmp_path / run / "config.yaml").read_text() == config
    assert (tmp_path / run / "log.jsonl").read_text() == log
    with pytest.raises(SystemExit, match="not a stage-1 run the repository keeps"):
        protocol.keep_stage1(Path("runs/synthetic_stage2_r7"))


def test_without_a_kept_copy_the_stage_1_chain_is_trained_in_order(protocol, tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(protocol, "REPO", tmp_path)
    monkeypatch.setattr(protocol, "_run", lambda cmd, log, threads: trained.append(cmd[-2]) or True)
    protocol.make_stage1(protocol.ROUND7)  # nothing kept under tmp_path
    assert trained == ["configs/synthetic/stage1_long.yaml", "configs/synthetic/stage1_longer.yaml"]
    trained.clear()
    _finished_stage1(tmp_path, protocol.ROUND6.stage1_dir)  # stage1_long kept in the repository
    protocol.keep_stage1(protocol.ROUND6.stage1_dir)
    shutil.rmtree(tmp_path / protocol.ROUND6.stage1_dir)
    protocol.make_stage1(protocol.ROUND7)  # the chain's first member is restored, the second trained
    assert trained == ["configs/synthetic/stage1_longer.yaml"]
    assert (tmp_path / protocol.ROUND6.stage1_dir / "model_last.safetensors").is_file()
    trained.clear()
    _finished_stage1(tmp_path, protocol.ROUND7.stage1_dir)
    protocol.make_stage1(protocol.ROUND7)  # its last model exists: nothing to do
    assert trained == []


@pytest.mark.parametrize("run", ["runs/synthetic_stage1_long"])
def test_the_kept_stage_1_is_its_recipe_trained_to_the_end(protocol, run):
    """The committed copy is a finished run of its recipe: the same architecture, every step logged."""
    kept = REPO / protocol.KEPT_STAGE1[Path(run)]
    loaded = load_model(kept / "model.safetensors")
    recipe = load_config(REPO / "configs" / "synthetic" / f"{Path(run).name.removeprefix('synthetic_')}.yaml")
    assert config_to_dict(loaded.config)["model"] == config_to_dict(recipe)["model"]
    assert yaml.safe_load((kept / "config.yaml").read_text())["name"] == recipe.name
    steps = [json.loads(line)["step"] for line in (kept / "log.jsonl").read_text().splitlines()]
    assert max(steps) == recipe.train.epochs * 1079  # 300 clips -> 1,079 batches of 16 per epoch
