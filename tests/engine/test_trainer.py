"""Trainer and hooks on a toy regression: learning, exact resume, NaN detection, AMP, accumulation, logs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from vidpose.config import TrainConfig
from vidpose.engine import (
    BestCheckpointer,
    Checkpointer,
    EvalHook,
    HookBase,
    JSONLinesLogger,
    LRScheduler,
    PeriodicCheckpointer,
    ProgressBar,
    TensorBoardLogger,
    Trainer,
    build_optimizer,
    lr_at,
    move_to,
    seed_everything,
)
from vidpose.errors import CheckpointError, ConfigError


class ToyData(Dataset):
    """y = x @ w + b; ``noise`` > 0 adds augmentation noise drawn from the global torch RNG."""

    def __init__(self, n: int = 40, noise: float = 0.0) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.randn(8, 2, generator=g) * 0.5 + 0.1
        self.noise = noise

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        x = self.x[i]
        if self.noise:
            x = x + self.noise * torch.randn(8)
        return x, self.y[i]


def toy_model(dropout: float = 0.1) -> nn.Module:
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 2))


def mse_step(model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    x, y = batch
    return {"mse": F.mse_loss(model(x), y)}


def masked_step(model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    """Two named losses, one with a random input mask from the global RNG (like token masking)."""
    x, y = batch
    keep = (torch.rand_like(x) > 0.25).to(x.dtype)
    return {"mse": F.mse_loss(model(x), y), "masked": 0.5 * F.mse_loss(model(x * keep), y)}


class Recorder(HookBase):
    """Per-step total loss, learning rate (as set before the step) and log records."""

    priority = 100

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.records: list[dict] = []

    def before_step(self) -> None:
        self.lrs.append(self.trainer.optimizer.param_groups[0]["lr"])

    def after_step(self) -> None:
        self.losses.append(self.trainer.step_loss.item())
        if self.trainer.log_record is not None:
            self.records.append(self.trainer.log_record)


class Crash(HookBase):
    """Raises at the very end of step ``at`` (after its checkpoint and log record, if any)."""

    priority = 200

    def __init__(self, at: int) -> None:
        self.at = at

    def after_step(self) -> None:
        if self.trainer.step == self.at:
            raise RuntimeError("simulated crash")


def make_cfg(out: Path, **kw) -> TrainConfig:
    base = dict(
        out_dir=str(out),
        epochs=100,
        batch_size=8,
        lr=1e-2,
        weight_decay=0.01,
        warmup_steps=3,
        schedule="cosine",
        grad_clip=1.0,
        device="cpu",
        log_every=5,
        seed=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def make_trainer(cfg: TrainConfig, *, init_seed: int = 0, data=None, step_fn=mse_step, dropout=0.1, hooks=()):
    seed_everything(init_seed)
    model = toy_model(dropout)
    data = ToyData() if data is None else data
    return Trainer(model, data, build_optimizer(model, cfg), step_fn, cfg, hooks=list(hooks))


def test_toy_model_learns_and_schedule_is_applied(tmp_path):
    cfg = make_cfg(tmp_path, max_steps=40, log_every=10, lr=3e-2)
    rec = Recorder()
    trainer = make_trainer(cfg, hooks=[LRScheduler(cfg), rec])
    trainer.train()
    first, last = sum(rec.losses[:5]) / 5, sum(rec.losses[-5:]) / 5
    assert len(rec.losses) == 40 and trainer.step == 40 and trainer.completed
    assert last < 0.15 * first, (first, last)  # measured: 2.32 -> 0.17
    # lr of the first group follows warm-up + cosine over the 40 steps exactly
    sched = dict(schedule="cosine", warmup_steps=3, warmup_ratio=cfg.warmup_ratio, total_steps=40)
    expected = [lr_at(s, cfg.lr, **sched) for s in range(40)]
    assert rec.lrs == pytest.approx(expected, rel=1e-12)
    # log records every 10 steps and at epoch ends (5 steps); losses are means over the window's steps
    assert [r["step"] for r in rec.records] == list(range(5, 41, 5))
    assert rec.records[-1]["loss"] == pytest.approx(sum(rec.losses[35:40]) / 5, rel=1e-5)
    assert rec.records[-1]["loss/mse"] == pytest.approx(rec.records[-1]["loss"])
    assert rec.records[0]["samples_per_s"] > 0 and rec.records[0]["grad_norm"] > 0


def test_resume_mid_epoch_gives_identical_losses(tmp_path):
    """10 steps straight == 6 steps, crash, resume from ``last``, 4 more (dropout, masking, noise, EMA)."""
    kw = dict(max_steps=10, ckpt_every_steps=3, ema_decay=0.9, log_every=1)
    data = ToyData(noise=0.05)  # 40 samples / batch 8 = 5 steps per epoch: step 6 is inside epoch 1

    cfg_a = make_cfg(tmp_path / "a", **kw)
    rec_a = Recorder()
    straight = make_trainer(cfg_a, data=data, step_fn=masked_step, hooks=[LRScheduler(cfg_a), rec_a])
    straight.train()

    cfg_b = make_cfg(tmp_path / "b", **kw)
    rec_b = Recorder()
    hooks_b = [LRScheduler(cfg_b), PeriodicCheckpointer(3), JSONLinesLogger(), rec_b, Crash(at=7)]
    crashed = make_trainer(cfg_b, data=data, step_fn=masked_step, hooks=hooks_b)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.train()  # step 7 is lost: the last checkpoint is from step 6
    assert not crashed.completed and len(rec_b.losses) == 7
    saved = Checkpointer(tmp_path / "b").load("last")
    assert (saved["step"], saved["epoch"], saved["step_in_epoch"]) == (6, 1, 1)

    rec_c = Recorder()
    hooks_c = [LRScheduler(cfg_b), PeriodicCheckpointer(3), JSONLinesLogger(), rec_c]
    resumed = make_trainer(cfg_b, init_seed=123, data=data, step_fn=masked_step, hooks=hooks_c)
    assert resumed.resume()
    assert (resumed.step, resumed.epoch, resumed.step_in_epoch) == (6, 1, 1)
    resumed.train()

    assert rec_b.losses[:6] + rec_c.losses == rec_a.losses  # exact equality, step by step
    assert rec_b.losses[6] == rec_c.losses[0]  # the lost step is replayed identically
    for p, q in zip(straight.module.parameters(), resumed.module.parameters(), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(straight.ema.module.parameters(), resumed.ema.module.parameters(), strict=True):
        assert torch.equal(p, q)
    # the interrupted run's record of step 7 was dropped on resume; every step appears once
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11))


def test_nan_loss_raises_floating_point_error_with_step(tmp_path):
    calls = []

    def step_fn(model, batch):
        calls.append(1)
        losses = mse_step(model, batch)
        if len(calls) == 4:
            losses["aux"] = torch.tensor(float("nan"))
        else:
            losses["aux"] = torch.zeros(())
        return losses

    cfg = make_cfg(tmp_path, max_steps=10)
    trainer = make_trainer(cfg, step_fn=step_fn, hooks=[PeriodicCheckpointer(0)])
    with pytest.raises(FloatingPointError, match=r"step 3 .*aux = nan"):
        trainer.train()
    assert trainer.step == 3 and not trainer.completed
    assert not (tmp_path / "last.pt").exists()  # nothing saved for a failed run


def test_step_fn_must_return_named_scalar_losses(tmp_path):
    cfg = make_cfg(tmp_path, max_steps=1)
    trainer = make_trainer(cfg, step_fn=lambda m, b: {"mse": F.mse_loss(m(b[0]), b[1], reduction="none")})
    with pytest.raises(TypeError, match="'mse' must be a scalar"):
        trainer.train()


def test_bf16_autocast_path_runs_on_cpu(tmp_path):
    dtypes = []

    def step_fn(model, batch):
        out = model(batch[0])
        dtypes.append(out.dtype)
        return {"mse": F.mse_loss(out.float(), batch[1])}

    cfg = make_cfg(tmp_path, max_steps=3, amp=True, amp_dtype="bfloat16")
    trainer = make_trainer(cfg, step_fn=step_fn)
    assert not trainer.scaler.is_enabled()
    trainer.train()
    assert dtypes == [torch.bfloat16] * 3
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in trainer.module.parameters())


def test_float16_off_cuda_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="float16 needs CUDA"):
        make_trainer(make_cfg(tmp_path, amp=True, amp_dtype="float16"))


def test_too_small_dataset_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="too small"):
        make_trainer(make_cfg(tmp_path, batch_size=64))


def test_grad_accumulation_equals_the_big_batch(tmp_path):
    """2 micro-batches of 4 give the same update as one batch of 8 (same samples, same order)."""
    params = []
    for batch_size, accum in ((8, 1), (4, 2)):
        cfg = make_cfg(tmp_path / str(accum), batch_size=batch_size, accum_steps=accum, max_steps=3)
        trainer = make_trainer(cfg, dropout=0.0, hooks=[LRScheduler(cfg)])
        assert trainer.steps_per_epoch == 5
        trainer.train()
        params.append(torch.cat([p.flatten() for p in trainer.module.parameters()]))
    torch.testing.assert_close(params[0], params[1], rtol=1e-5, atol=1e-6)


def test_eval_hook_best_checkpoint_and_untouched_rng(tmp_path):
    """Evaluation runs in eval mode each epoch, picks ``best`` by the metric and leaves training unchanged."""
    scores = iter([0.2, 0.9, 0.5])
    modes = []

    def eval_fn(model):
        modes.append(model.training)
        torch.rand(100)  # consumes the global RNG; must not perturb the training stream
        return {"score": next(scores)}

    cfg = make_cfg(tmp_path / "eval", max_steps=15, val_every_epochs=1)
    rec = Recorder()
    hooks = [LRScheduler(cfg), EvalHook(eval_fn, 1), BestCheckpointer("score"), PeriodicCheckpointer(0), rec]
    trainer = make_trainer(cfg, step_fn=masked_step, hooks=hooks)
    trainer.train()
    assert modes == [False, False, False] and trainer.last_eval == {"score": 0.5}

    ckpt = Checkpointer(tmp_path / "eval")
    best, last = ckpt.load("best"), ckpt.load("last")
    assert best["step"] == 10 and last["step"] == 15
    assert last["hooks"]["BestCheckpointer"] == {
        "metric": "score",
        "mode": "max",
        "best": 0.9,
        "best_step": 10,
    }

    plain_cfg = make_cfg(tmp_path / "plain", max_steps=15)
    plain = Recorder()
    make_trainer(plain_cfg, step_fn=masked_step, hooks=[LRScheduler(plain_cfg), plain]).train()
    assert plain.losses == rec.losses


def test_logs_jsonl_tensorboard_and_progress(tmp_path):
    from rich.console import Console

    cfg = make_cfg(tmp_path, max_steps=7, log_every=3)
    out = io.StringIO()
    hooks = [
        LRScheduler(cfg),
        EvalHook(lambda m: {"score": 1.0}, 0),
        JSONLinesLogger(),
        TensorBoardLogger(),
        ProgressBar(Console(file=out, width=120)),
    ]
    make_trainer(cfg, hooks=hooks).train()
    records = [json.loads(ln) for ln in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [
        3,
        5,
        6,
        7,
        7,
    ]  # every 3 steps, epoch end (5), end (7), eval at end
    assert records[-1] == {"step": 7, "epoch": 1, "eval/score": 1.0}
    assert {"loss", "loss/mse", "lr", "grad_norm", "samples_per_s"} <= set(records[0])
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    text = out.getvalue()
    assert "7/7" in text and "samples/s" in text and "score 1" in text


def test_resume_without_checkpoint(tmp_path):
    trainer = make_trainer(make_cfg(tmp_path / "empty"))
    assert trainer.resume() is False
    with pytest.raises(CheckpointError, match="not found"):
        trainer.resume(tmp_path / "empty", must_exist=True)
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint not found"):
        trainer.resume(tmp_path / "nope.pt")  # a named file is always required


def test_move_to_nested_batches():
    batch = {"a": [torch.zeros(2), (torch.ones(1), 3)], "b": "text"}
    moved = move_to(batch, torch.device("cpu"))
    assert torch.equal(moved["a"][0], batch["a"][0]) and moved["a"][1][1] == 3 and moved["b"] == "text"
    assert isinstance(moved["a"][1], tuple)
