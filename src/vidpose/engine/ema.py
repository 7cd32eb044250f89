"""Exponential moving average of a model's weights (optional; ``train.ema_decay > 0`` turns it on).

``ema = decay * ema + (1 - decay) * weights`` after every optimiser step, for every floating-point parameter
and buffer; integer buffers (counters) are copied. The average lives in a frozen copy of the bare model,
``ema.module``, which evaluation can use in place of the trained model.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .checkpoint import load_model_state
from .distributed import unwrap

__all__ = ["ModelEMA"]


class ModelEMA:
    """Moving average of ``model``'s state.

    Args:
        model: the trained model (a DDP wrapper is unwrapped); copied once, at construction.
        decay: weight of the old average per update, in [0, 1).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.module = copy.deepcopy(unwrap(model)).eval()
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights of ``model`` into the average."""
        current = unwrap(model).state_dict()
        floats_avg, floats_new = [], []
        for name, avg in self.module.state_dict().items():
            new = current[name].detach()
            if avg.dtype.is_floating_point:
                floats_avg.append(avg)
                floats_new.append(new.to(avg.dtype))
            else:
                avg.copy_(new)
        if floats_avg:
            torch._foreach_lerp_(floats_avg, floats_new, 1.0 - self.decay)
        self.num_updates += 1

    def to(self, device: torch.device) -> ModelEMA:
        self.module.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "num_updates": self.num_updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore; raises CheckpointError when the averaged weights do not match the model."""
        load_model_state(self.module, state["module"], source="ema")
        self.num_updates = int(state["num_updates"])
