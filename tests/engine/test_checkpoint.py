"""Checkpointer: atomic saves, strict loads with named bad keys, RNG capture and restore."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import vidpose.engine.checkpoint as checkpoint_module
from vidpose.config import TrainConfig
from vidpose.engine import (
    Checkpointer,
    PeriodicCheckpointer,
    Trainer,
    build_optimizer,
    capture_rng_state,
    load_model_state,
    preserved_rng_state,
    restore_rng_state,
)
from vidpose.errors import CheckpointError
from vidpose.state_dicts import diff_state_dict


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist()


def test_save_load_roundtrip_and_bookkeeping(tmp_path):
    ck = Checkpointer(tmp_path / "ckpt", is_main=True)
    assert ck.last is None and ck.best is None
    state = {"model": {"w": torch.arange(4.0)}, "step": 7, "meta": {"name": "x", "sizes": (256, 192)}}
    path = ck.save("last", state)
    assert path == tmp_path / "ckpt" / "last.pt" and ck.last == path and ck.best is None
    for source in ("last", path, tmp_path / "ckpt"):  # by name, by file, by folder
        loaded = ck.load(source)
        assert loaded["step"] == 7 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
        assert loaded["meta"] == {"name": "x", "sizes": (256, 192)}
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["last.pt"]


def test_only_the_main_process_writes(tmp_path):
    ck = Checkpointer(tmp_path, is_main=False)
    assert ck.save("last", {"step": 1}) is None
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_no_partial_file_and_keeps_old_last(tmp_path, monkeypatch):
    ck = Checkpointer(tmp_path, is_main=True)
    ck.save("last", {"step": 1, "w": torch.ones(3)})
    before = (tmp_path / "last.pt").read_bytes()

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        ck.save("last", {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    with pytest.raises((pickle.PicklingError, AttributeError)):  # unpicklable: fails inside torch.save
        ck.save("last", {"step": 3, "fn": lambda: None})
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind
    assert (tmp_path / "last.pt").read_bytes() == before
    assert ck.load("last")["step"] == 1


def test_load_errors_are_checkpoint_errors(tmp_path):
    ck = Checkpointer(tmp_path, is_main=True)
    with pytest.raises(CheckpointError, match="last.pt: checkpoint not found"):
        ck.load("last")
    (tmp_path / "broken.pt").write_bytes(b"truncated, not a zip archive")
    with pytest.raises(CheckpointError, match="broken.pt: cannot read checkpoint"):
        ck.load(tmp_path / "broken.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a dict, got list"):
        ck.load(tmp_path / "list.pt")


def test_mismatched_state_dict_lists_every_bad_key():
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    state = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}  # as saved from a DDP wrapper
    state["module.0.weight"] = torch.zeros(5, 4)
    del state["module.1.bias"]
    state["module.2.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        load_model_state(model, state, source="run/last.pt")
    msg = str(err.value)
    assert msg.startswith("run/last.pt: state does not match Sequential")
    assert "1 missing key(s): 1.bias (3,)" in msg
    assert "1 unexpected key(s): 2.weight (1,)" in msg
    assert "0.weight (expected (3, 4), got (5, 4))" in msg

    diff = load_model_state(model, state, strict=False)  # loads what matches, reports the rest
    assert (
        diff.missing == ["1.bias"] and diff.unexpected == ["2.weight"] and diff.mismatched[0][0] == "0.weight"
    )
    assert torch.equal(model[0].bias, state["module.0.bias"])
    assert not diff_state_dict(model.state_dict(), model.state_dict())


def test_trainer_resume_into_a_different_model_raises(tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path), epochs=1, batch_size=4, device="cpu", warmup_steps=0)
    data = TensorDataset(torch.randn(8, 4), torch.randn(8, 2))

    def step_fn(model, batch):
        return {"mse": F.mse_loss(model(batch[0]), batch[1])}

    small = nn.Linear(4, 2)
    Trainer(small, data, build_optimizer(small, cfg), step_fn, cfg, hooks=[PeriodicCheckpointer()]).train()
    saved = Checkpointer(tmp_path).load("last")
    assert saved["step"] == 2 and set(saved["model"]) == {"weight", "bias"}

    other = nn.Sequential(nn.Linear(4, 2))
    trainer = Trainer(other, data, build_optimizer(other, cfg), step_fn, cfg)
    with pytest.raises(
        CheckpointError,
        match=r"missing key\(s\): 0.bias \(2,\), 0.weight \(2, 4\); 2 unexpected key\(s\): bias \(2,\)",
    ):
        trainer.resume(tmp_path)
    torch.save({"weight": torch.zeros(2, 4)}, tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="not a vidpose training checkpoint"):
        trainer.resume(tmp_path / "weights.pt")


def test_rng_state_roundtrip_through_a_file(tmp_path):
    seed_all(1)
    draws()
    Checkpointer(tmp_path, is_main=True).save("rng", {"rng": capture_rng_state()})
    expected = draws()
    draws()
    restore_rng_state(Checkpointer(tmp_path).load("rng")["rng"])
    assert draws() == expected


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def test_preserved_rng_state_restores_the_stream():
    seed_all(0)
    expected = draws()
    seed_all(0)
    with preserved_rng_state():
        draws()
        draws()
    assert draws() == expected
