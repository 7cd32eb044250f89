"""ModelEMA: the update rule, integer buffers, state round trip, and its use by the trainer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from vidpose.config import TrainConfig
from vidpose.engine import ModelEMA, Trainer, build_optimizer
from vidpose.errors import CheckpointError


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_rule_and_integer_buffers():
    model = net()
    ema = ModelEMA(model, decay=0.9)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model(torch.randn(5, 3))  # train-mode BatchNorm: running stats and the counter change
    ema.update(model)
    now = model.state_dict()
    for k, v in ema.module.state_dict().items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, 0.9 * start[k] + 0.1 * now[k])
        else:
            assert torch.equal(v, now[k])  # num_batches_tracked is copied
    assert ema.num_updates == 1
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())


def test_state_roundtrip_and_mismatch():
    model = net()
    ema = ModelEMA(model, decay=0.5)
    with torch.no_grad():
        model[0].weight.mul_(3)
    ema.update(model)
    other = ModelEMA(net(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1
    assert torch.equal(other.module[0].weight, ema.module[0].weight)
    wrong = ModelEMA(nn.Linear(3, 4), decay=0.5)
    with pytest.raises(CheckpointError, match="ema: state does not match"):
        wrong.load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(model, decay=1.0)


def test_trainer_keeps_an_ema_when_configured(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 2))
    cfg = TrainConfig(out_dir=str(tmp_path), epochs=2, batch_size=4, device="cpu", ema_decay=0.8, lr=0.05)

    def step_fn(m, batch):
        return {"mse": F.mse_loss(m(batch[0]), batch[1])}

    trainer = Trainer(model, data, build_optimizer(model, cfg), step_fn, cfg)
    start = model.weight.detach().clone()
    trainer.train()
    assert trainer.ema is not None and trainer.ema.num_updates == trainer.step == 8
    averaged = trainer.ema.module.weight
    assert not torch.equal(averaged, model.weight) and not torch.equal(averaged, start)
