"""Pose training and evaluation end to end on tiny synthetic data: the model learns, a resumed run repeats the
uninterrupted one, the bf16 path runs, evaluate writes its report, the CLI drives both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vidpose.config import load_config
from vidpose.data.synthetic import SynthConfig, generate_split
from vidpose.errors import ConfigError
from vidpose.models.serialization import load_model
from vidpose.tasks.evaluate import evaluate_split
from vidpose.tasks.train import train

REPO = Path(__file__).resolve().parents[2]

# A small model and input so that a step takes a fraction of a second on 2 cores.
TINY = [
    "model.image_size=[64,48]",
    "codec.input_size=[64,48]",
    "codec.heatmap_size=[16,12]",
    "codec.sigma=1.0",
    "model.vit.embed_dim=64",
    "model.vit.num_heads=2",
    "model.vit.depth=2",
    "model.mlsme.dim=64",
    "model.mlsme.num_heads=2",
    "model.mlsme.patch_layers=2",
    "model.smml.num_heads=2",
    "model.head.deconv_channels=32",
    "data.num_workers=0",
    "data.frame_cache=64",
    "train.batch_size=4",
    "train.warmup_steps=5",
    "train.log_every=1",
    "train.device=cpu",
    "eval.batch_size=16",
]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(frame_size=(144, 192), frames_per_clip=8, people_range=(1, 2))
    generate_split(root, "train", 2, 0, cfg)
    generate_split(root, "val", 1, 0, cfg)
    return root


def _cfg(root: Path, out: Path, *extra: str):
    return load_config(
        REPO / "configs" / "synthetic_nano.yaml", [*TINY, f"data.root={root}", f"train.out_dir={out}", *extra]
    )


def _losses(out: Path, key: str = "loss") -> dict[int, float]:
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in records if key in r}


def test_a_few_dozen_steps_lower_the_heatmap_loss(synth_root, tmp_path):
    cfg = _cfg(synth_root, tmp_path, "train.max_steps=80", "train.epochs=100", "train.lr=2e-3")
    result = train(cfg, progress=False, evaluate=False)
    assert result["steps"] == 80
    losses = _losses(tmp_path, "loss/loss_heatmap")
    first = sum(losses[s] for s in range(1, 6)) / 5
    last = sum(losses[s] for s in range(76, 81)) / 5
    assert last < 0.7 * first, (first, last)
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "last.pt").is_file()
    model, saved_cfg = load_model(result["files"]["last"])
    assert saved_cfg == cfg


def test_resumed_run_repeats_the_uninterrupted_losses(synth_root, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ("train.epochs=100", "train.ckpt_every_steps=3", "model.vit.drop_path_rate=0.1")
    train(_cfg(synth_root, straight, "train.max_steps=6", *common), progress=False, evaluate=False)
    # "interrupted" after step 3 (the checkpoint of step 3 is the last one), then resumed to step 6
    train(_cfg(synth_root, resumed, "train.max_steps=3", *common), progress=False, evaluate=False)
    train(_cfg(synth_root, resumed, "train.max_steps=6", *common), progress=False, evaluate=False)
    a, b = _losses(straight), _losses(resumed)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5, 6]
    assert all(a[s] == b[s] for s in a), (a, b)


def test_bf16_autocast_training_runs(synth_root, tmp_path):
    cfg = _cfg(synth_root, tmp_path, "train.max_steps=2", "train.epochs=10", "train.amp=true")
    result = train(cfg, progress=False, evaluate=False)
    losses = _losses(tmp_path)
    assert result["steps"] == 2 and all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_validation_during_training_keeps_best(synth_root, tmp_path):
    cfg = _cfg(synth_root, tmp_path, "train.epochs=1", "train.max_steps=4")
    result = train(cfg, progress=False, evaluate=True)
    # 4 steps from scratch: measured AP 1.28, hard 1.08 (the seeded run repeats; the margin is for float noise
    # across machines, which can move a joint of a barely trained model)
    ap = result["last_eval"]
    assert ap == {"ap": pytest.approx(1.28, abs=0.5), "ap_hard": pytest.approx(1.08, abs=0.5)}
    assert (tmp_path / "best.pt").is_file() and Path(result["files"]["best"]).is_file()


def test_evaluate_writes_report_chart_and_predictions(synth_root, tmp_path):
    cfg = _cfg(synth_root, tmp_path / "run")
    from vidpose.models import build_model

    model = build_model(cfg.model)
    out = tmp_path / "eval"
    summary = evaluate_split(model, cfg, out_dir=out, flip_test=True)
    report = json.loads((out / "report.json").read_text())
    assert {"config", "boxes", "flip_test", "mode", "sequences", "windows", "ap", "resolved_config"} <= set(
        report
    )
    assert set(report["ap"]["table"]) == {"Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"}
    assert len(report["ap"]["per_joint"]) == 15
    assert report["boxes"] == "gt" and report["flip_test"] is True
    assert (out / "per_joint_ap.png").stat().st_size > 1000
    assert len(list((out / "predictions").glob("*.json"))) == report["sequences"] == 1
    assert summary.metrics()["ap"] == pytest.approx(report["ap"]["total"])

    # detected boxes from the split's noisy detection file go through the same path
    det = evaluate_split(model, cfg, boxes="val/detections.json", flip_test=False)
    assert det.report["boxes"] == "val/detections.json" and det.report["windows"] > 0


def test_cli_train_and_evaluate(synth_root, tmp_path):
    from typer.testing import CliRunner

    from vidpose.cli import _register, app

    _register()
    runner = CliRunner()
    out = tmp_path / "run"
    overrides = [
        *TINY,
        f"data.root={synth_root}",
        f"train.out_dir={out}",
        "train.max_steps=2",
        "train.epochs=1",
    ]
    res = runner.invoke(
        app, ["train", str(REPO / "configs" / "synthetic_nano.yaml"), *overrides, "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "trained 2 steps" in res.output
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(REPO / "configs" / "synthetic_nano.yaml"),
            "--checkpoint",
            str(out / "model_last.safetensors"),
            "--no-flip",
            "--errors",
            "--out",
            str(tmp_path / "eval"),
            *overrides,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "& Head & Shou" in res.output and (tmp_path / "eval" / "report.json").is_file()
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert "| inversion |" in res.output  # --errors: the diagnosis of the same predictions
    assert report["diagnosis"]["ap"][-1] == pytest.approx(report["ap"]["total"], nan_ok=True)
    kinds = ("good", "jitter", "inversion", "swap", "miss", "no_gt", "unassigned")
    assert sum(sum(report["diagnosis"]["counts"][k]) for k in kinds) > 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # 32 s on 2 loaded cores; tests/engine/test_distributed.py runs 2-process DDP by default
def test_two_process_ddp_training_with_torchrun(synth_root, tmp_path):
    """The same `train` command under torchrun: 2 CPU processes (gloo), one log, one set of checkpoints."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        "-m", "vidpose.cli", "train", str(REPO / "configs" / "synthetic_nano.yaml"),
        *TINY, f"data.root={synth_root}", f"train.out_dir={out}", "train.max_steps=4", "train.epochs=10",
        "train.batch_size=2", "--no-progress", "--no-eval",
    ]  # fmt: skip
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    steps = sorted(_losses(out))
    assert steps == [1, 2, 3, 4]  # rank 0 alone writes the log
    assert res.stdout.count("trained 4 steps") == 1, res.stdout  # and prints the summary
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert state["world_size"] == 2 and not any(k.startswith("module.") for k in state["model"])


def test_init_from_a_single_frame_checkpoint(synth_root, tmp_path):
    """model.init_from loads backbone + head of a (converted) single-frame model; the temporal modules keep
    their zero-fusion init, so the temporal model starts out predicting exactly what the source predicts."""
    import dataclasses

    from vidpose.errors import CheckpointError
    from vidpose.models import build_model
    from vidpose.models.serialization import save_model
    from vidpose.tasks.train import init_from_checkpoint

    cfg = _cfg(synth_root, tmp_path / "run")
    single_cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, temporal=False))
    torch.manual_seed(3)
    source = build_model(single_cfg.model).eval()
    init = save_model(source, single_cfg, tmp_path / "init.safetensors")

    model = build_model(cfg.model).eval()
    init_from_checkpoint(model, init)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    clip = torch.randn(2, 5, 3, 64, 48)
    with torch.no_grad():
        assert torch.allclose(model(clip), source(clip), atol=1e-5)

    result = train(
        _cfg(synth_root, tmp_path / "run", f"model.init_from={init}", "train.max_steps=1"),
        progress=False,
        evaluate=False,
    )
    assert result["steps"] == 1
    with pytest.raises(CheckpointError, match="not found"):
        init_from_checkpoint(model, tmp_path / "missing.safetensors")
    other = dataclasses.replace(single_cfg.model, vit=dataclasses.replace(single_cfg.model.vit, depth=3))
    save_model(
        build_model(other), dataclasses.replace(single_cfg, model=other), tmp_path / "deeper.safetensors"
    )
    with pytest.raises(CheckpointError, match="unexpected"):
        init_from_checkpoint(build_model(cfg.model), tmp_path / "deeper.safetensors")
    # settings that weights do not carry (an HF-converted file's eps, the activation) must agree
    eps = dataclasses.replace(single_cfg.model, vit=dataclasses.replace(single_cfg.model.vit, norm_eps=1e-12))
    save_model(build_model(eps), dataclasses.replace(single_cfg, model=eps), tmp_path / "eps.safetensors")
    with pytest.raises(CheckpointError, match=r"model.vit.norm_eps=1e-12"):
        init_from_checkpoint(build_model(cfg.model), tmp_path / "eps.safetensors")


def test_init_from_compares_heads_as_built(tmp_path):
    """A recipe's ``num_heads: None`` means the size table's heads: a converted file that writes them out
    (``vidpose convert`` does: ViT-B ``num_heads: 12``) initialises a ``size: base``-style recipe; other
    heads are still refused."""
    import dataclasses

    from vidpose.errors import CheckpointError
    from vidpose.models import build_model
    from vidpose.models.serialization import save_model
    from vidpose.tasks.train import init_from_checkpoint

    recipe = load_config(REPO / "configs" / "synthetic_nano.yaml")
    vit = dataclasses.replace(recipe.model.vit, size="nano", embed_dim=None, depth=None, num_heads=None)
    base = dataclasses.replace(recipe.model, vit=vit)
    assert base.vit.num_heads is None
    for heads, ok in ((4, True), (2, False)):  # nano has 4 heads
        written = dataclasses.replace(base, vit=dataclasses.replace(base.vit, num_heads=heads))
        path = save_model(
            build_model(written),
            dataclasses.replace(recipe, model=written),
            tmp_path / f"h{heads}.safetensors",
        )
        if ok:
            init_from_checkpoint(build_model(base), path)
        else:
            with pytest.raises(CheckpointError, match=r"model.vit.num_heads=2.*recipe says 4"):
                init_from_checkpoint(build_model(base), path)


def test_sigint_writes_last_then_resume_reports_and_repeats_the_losses(synth_root, tmp_path, monkeypatch):
    """Ctrl-C after step 2 of 6 (no periodic checkpoints): `last` is written at step 2, the resumed run says
    so, lists the changed setting and gives the same losses as an uninterrupted run; a rerun of the finished
    run trains nothing; a changed model is refused before config.yaml is touched."""
    import os
    import signal

    import vidpose.tasks.train as pose_train
    from vidpose.engine.hooks import HookBase
    from vidpose.errors import CheckpointError, TrainingInterrupted

    common = ("train.epochs=100", "train.max_steps=6", "train.ckpt_every_steps=0")
    straight, run = tmp_path / "straight", tmp_path / "run"
    train(_cfg(synth_root, straight, *common), progress=False, evaluate=False)

    class CtrlC(HookBase):
        def after_step(self) -> None:
            if self.trainer.step == 2:
                os.kill(os.getpid(), signal.SIGINT)

    real_hooks = pose_train.default_hooks
    monkeypatch.setattr(pose_train, "default_hooks", lambda *a, **k: [*real_hooks(*a, **k), CtrlC()])
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under nohup
    with pytest.raises(TrainingInterrupted) as info:
        train(_cfg(synth_root, run, *common), progress=False, evaluate=False)
    assert info.value.step == 2 and info.value.total_steps == 6
    assert info.value.checkpoint == str(run / "last.pt")
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # restored
    monkeypatch.setattr(pose_train, "default_hooks", real_hooks)

    lines: list[str] = []
    result = train(
        _cfg(synth_root, run, *common, "train.ckpt_every_steps=5"),
        progress=False,
        evaluate=False,
        log=lines.append,
    )
    # what an epoch is, for sizing a run: 16 windows (persons of labelled frames) at batch 4
    assert (
        lines[0]
        == "16 training windows from 2 sequences; 4 steps per epoch (batch 4 x 1 process(es)), 6 steps in all"
    )
    assert lines[1] == f"resuming synthetic_nano ({run}) from step 2 of 6"
    assert any("train.ckpt_every_steps: 0 -> 5" in line for line in lines[2:])
    assert result["steps"] == 6 and result["start_step"] == 2
    a, b = _losses(straight), _losses(run)
    assert all(a[s] == b[s] for s in range(1, 7)), (a, b)

    lines.clear()
    result = train(
        _cfg(synth_root, run, *common, "train.ckpt_every_steps=5"),
        progress=False,
        evaluate=False,
        log=lines.append,
    )
    assert result["already_finished"] and any("already finished (step 6 of 6)" in line for line in lines)

    saved = (run / "config.yaml").read_bytes()
    with pytest.raises(
        CheckpointError,
        match=r"model differs from the saved run in 2 setting\(s\): "
        r"model\.head\.deconv_channels 32 -> 16, model\.vit\.depth 2 -> 3;",
    ) as e:
        train(
            _cfg(synth_root, run, *common, "model.vit.depth=3", "model.head.deconv_channels=16"),
            progress=False,
        )
    assert len(str(e.value)) < 400
    assert (run / "config.yaml").read_bytes() == saved


def test_cli_sigint_prints_the_step_and_the_resume_command(synth_root, tmp_path, monkeypatch, capsys):
    import os
    import signal

    import vidpose.tasks.train as pose_train
    from vidpose.cli import main
    from vidpose.engine.hooks import HookBase

    class CtrlC(HookBase):
        def after_step(self) -> None:
            if self.trainer.step == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    real_hooks = pose_train.default_hooks
    monkeypatch.setattr(pose_train, "default_hooks", lambda *a, **k: [*real_hooks(*a, **k), CtrlC()])
    recipe = str(REPO / "configs" / "synthetic_nano.yaml")
    overrides = [*TINY, f"data.root={synth_root}", f"train.out_dir={tmp_path / 'run'}", "train.max_steps=3"]
    with pytest.raises(SystemExit) as info:
        main(["train", recipe, *overrides, "--no-progress", "--no-eval"])
    err = capsys.readouterr().err
    assert info.value.code == 130
    assert (
        f"interrupted (SIGTERM) at step 1 of 3; saved {tmp_path / 'run' / 'last.pt'}; "
        "resume with: vidpose train" in err
    )
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.strip()]) == 1


def test_backbone_lr_scale_leaves_the_temporal_modules_at_the_base_lr(synth_root, tmp_path):
    from vidpose.models import build_model
    from vidpose.tasks.train import pose_optimizer

    cfg = _cfg(synth_root, tmp_path, "train.lr=1e-2", "train.backbone_lr_scale=0.1", "train.layer_decay=1.0")
    model = build_model(cfg.model)
    opt = pose_optimizer(model, cfg)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert lr_of[id(params["smml.fusion_scale"])] == pytest.approx(1e-2)
    assert lr_of[id(params["backbone.blocks.0.attn.qkv.weight"])] == pytest.approx(1e-3)


def test_fusion_lr_scale_multiplies_only_the_fusion_scale_and_gate(synth_root, tmp_path):
    from vidpose.models import build_model
    from vidpose.tasks.train import pose_optimizer

    cfg = _cfg(synth_root, tmp_path, "train.lr=1e-3", "train.fusion_lr_scale=20", "train.layer_decay=1.0")
    model = build_model(cfg.model)
    lr_of = {id(p): g["lr"] for g in pose_optimizer(model, cfg).param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    for name in ("smml.fusion_scale", "smml.gate.weight", "smml.gate.bias"):
        assert lr_of[id(params[name])] == pytest.approx(2e-2), name
    assert lr_of[id(params["smml.spatial_blocks.0.attn.proj.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(params["backbone.blocks.0.attn.qkv.weight"])] == pytest.approx(1e-3)
    # a single-frame model has no fusion: the setting is a no-op there, not an error
    single = _cfg(synth_root, tmp_path, "model.temporal=false", "train.fusion_lr_scale=20")
    single_model = build_model(single.model)
    lrs = [g["lr"] for g in pose_optimizer(single_model, single).param_groups]
    assert max(lrs) == pytest.approx(single.train.lr)


def test_temporal_lr_scale_multiplies_the_temporal_modules_but_not_the_fusion_or_the_rest(
    synth_root, tmp_path
):
    from vidpose.models import build_model
    from vidpose.tasks.train import pose_optimizer

    cfg = _cfg(
        synth_root, tmp_path, "train.lr=1e-3", "train.temporal_lr_scale=10", "train.fusion_lr_scale=20",
        "train.layer_decay=1.0",
    )  # fmt: skip
    model = build_model(cfg.model)
    lr_of = {id(p): g["lr"] for g in pose_optimizer(model, cfg).param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    temporal = [
        n
        for n in params
        if n.startswith(("mlsme.", "motion_head.", "smml.spatial_blocks.", "smml.motion_blocks."))
    ]
    assert len(temporal) > 20 and all(lr_of[id(params[n])] == pytest.approx(1e-2) for n in temporal)
    for name in ("smml.fusion_scale", "smml.gate.weight"):
        assert lr_of[id(params[name])] == pytest.approx(2e-2), name
    others = [n for n in params if n.startswith(("backbone.", "head."))]
    assert others and all(lr_of[id(params[n])] == pytest.approx(1e-3) for n in others)
    with pytest.raises(ConfigError, match="train.temporal_lr_scale must be > 0"):
        _cfg(synth_root, tmp_path, "train.temporal_lr_scale=0")


def test_lr_mult_pairs_come_before_the_named_scales(synth_root, tmp_path):
    from vidpose.models import build_model
    from vidpose.tasks.train import pose_optimizer

    cfg = _cfg(
        synth_root, tmp_path, "train.lr=1e-3", "train.temporal_lr_scale=10", "train.fusion_lr_scale=20",
        "train.layer_decay=1.0", 'train.lr_mult=[["mlsme.*", 3], ["smml.gate.*", 0.5]]',
    )  # fmt: skip
    assert cfg.train.lr_mult == (("mlsme.*", 3.0), ("smml.gate.*", 0.5))
    model = build_model(cfg.model)
    lr_of = {id(p): g["lr"] for g in pose_optimizer(model, cfg).param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    mlsme = [n for n in params if n.startswith("mlsme.")]
    assert len(mlsme) > 10 and all(lr_of[id(params[n])] == pytest.approx(3e-3) for n in mlsme)
    assert lr_of[id(params["smml.gate.weight"])] == pytest.approx(5e-4)  # the pair, not fusion_lr_scale
    assert lr_of[id(params["smml.fusion_scale"])] == pytest.approx(2e-2)
    heads = [n for n in params if n.startswith("motion_head.")]
    assert heads and all(lr_of[id(params[n])] == pytest.approx(1e-2) for n in heads)  # temporal_lr_scale
    with pytest.raises(ConfigError, match=r"train.lr_mult\[0\]: the factor of 'mlsme.\*' must be > 0"):
        _cfg(synth_root, tmp_path, 'train.lr_mult=[["mlsme.*", 0]]')
    bad = _cfg(synth_root, tmp_path, 'train.lr_mult=[["mlsmee.*", 2]]')
    with pytest.raises(ConfigError, match="pattern 'mlsmee.\\*' matches no trainable parameter"):
        pose_optimizer(build_model(bad.model), bad)


def test_lr_hold_keeps_the_gate_at_its_init_and_the_monitor_logs_it(synth_root, tmp_path):
    """``train.lr_hold`` holds SMML's gate for 3 steps (W stays exactly sigmoid(0) = 0.5 in the forwards
    the fusion monitor observes) while gamma learns; from step 4 the gate moves. A bad pattern is an error."""
    hold = ('train.lr_hold=[["smml.gate.*", 3]]', "train.fusion_lr_scale=20", "train.epochs=100")
    held = train(_cfg(synth_root, tmp_path / "a", *hold, "train.max_steps=3"), progress=False, evaluate=False)
    model, _ = load_model(held["files"]["last"])
    assert torch.equal(model.smml.gate.weight, torch.zeros_like(model.smml.gate.weight))
    assert torch.equal(model.smml.gate.bias, torch.zeros_like(model.smml.gate.bias))
    assert model.smml.fusion_scale.abs().min() > 0  # gamma learned meanwhile

    train(_cfg(synth_root, tmp_path / "b", *hold, "train.max_steps=6"), progress=False, evaluate=False)
    w, gamma = _losses(tmp_path / "b", "fusion/gate_w"), _losses(tmp_path / "b", "fusion/gamma_abs")
    assert sorted(w) == sorted(gamma) == [1, 2, 3, 4, 5, 6]
    assert [w[s] for s in (1, 2, 3, 4)] == [0.5] * 4  # step 4's forward runs before its update
    assert w[5] != 0.5 and w[6] != 0.5
    assert 0 < gamma[1] < gamma[3]  # |gamma| of a zero init grows by about the lr per step

    bad = _cfg(synth_root, tmp_path, 'train.lr_hold=[["gates.*", 3]]')
    from vidpose.models import build_model
    from vidpose.tasks.train import pose_optimizer

    with pytest.raises(ConfigError, match="train.lr_hold pattern 'gates.\\*' matches no trainable parameter"):
        pose_optimizer(build_model(bad.model), bad)
    with pytest.raises(ConfigError, match=r"train.lr_hold\[0\]: the steps of 'smml.gate.\*' must be >= 0"):
        _cfg(synth_root, tmp_path, 'train.lr_hold=[["smml.gate.*", -1]]')
