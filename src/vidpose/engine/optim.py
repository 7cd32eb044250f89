"""AdamW parameter groups (layer-wise lr decay, no decay on biases/norms/embeddings) and lr schedules.

Schedules are plain functions of the step (nanoGPT's ``get_lr``): the optimiser keeps each group's
unscheduled learning rate as ``group["base_lr"]`` and the :class:`~vidpose.engine.hooks.LRScheduler` hook
sets ``group["lr"] = group["base_lr"] * lr_factor(step, ...)`` before every step, so a resumed run needs no
scheduler state. Steps are 0-based: ``lr_factor(0, ...)`` is the factor of the first optimiser step.
"""

from __future__ import annotations

import fnmatch
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..config import TrainConfig
from .distributed import unwrap

__all__ = [
    "NO_DECAY_PATTERNS",
    "param_groups",
    "build_optimizer",
    "milestones_to_steps",
    "warmup_factor",
    "step_factor",
    "cosine_factor",
    "lr_factor",
    "lr_at",
    "schedule_from_config",
]

#: fnmatch patterns (matched against the full name and its last component) of parameters without weight decay,
#: besides every parameter with fewer than two dimensions (biases, norm scales).
NO_DECAY_PATTERNS: tuple[str, ...] = ("*pos_embed*", "*token*", "*rel_pos*")


def _no_decay(name: str, param: torch.Tensor, patterns: Sequence[str]) -> bool:
    if param.ndim <= 1:
        return True
    leaf = name.rsplit(".", 1)[-1]
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(leaf, p) for p in patterns)


def param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    layer_ids: dict[str, int] | None = None,
    max_layer_id: int | None = None,
    layer_decay: float = 1.0,
    backbone_lr_scale: float = 1.0,
    lr_mult: Sequence[tuple[str, float]] = (),
    lr_hold: Sequence[tuple[str, int]] = (),
    no_decay: Sequence[str] = NO_DECAY_PATTERNS,
) -> list[dict[str, Any]]:
    """AdamW parameter groups of the trainable parameters of ``model``.

    A parameter named in ``layer_ids`` (a backbone parameter) gets
    ``lr * backbone_lr_scale * layer_decay ** (max_layer_id - layer_id)``; every other parameter gets ``lr``.
    Parameters with ``ndim <= 1`` or whose name matches a ``no_decay`` pattern get no weight decay.
    ``lr_mult`` lists (fnmatch pattern, factor) pairs: a parameter whose full name matches a pattern gets its
    lr multiplied by the factor of the first matching pair (on top of the layer scale), like MMEngine's
    ``paramwise_cfg.custom_keys``. ``lr_hold`` lists (fnmatch pattern, steps) pairs: a parameter whose name
    matches is held at its value for the first ``steps`` optimiser steps (the group's ``hold_steps``, which
    :class:`~vidpose.engine.hooks.LRScheduler` turns into lr 0; first matching pair wins). Parameters with the
    same (layer, weight decay, lr factor, hold) share a group.

    Returns:
        groups with keys ``params``, ``lr``, ``base_lr`` (= ``lr``, the unscheduled rate), ``lr_scale``,
        ``weight_decay``, ``layer_id`` (-1 for parameters outside ``layer_ids``) and ``hold_steps``.

    Raises:
        ValueError: a name of ``layer_ids`` is not a trainable parameter, an id exceeds ``max_layer_id``,
            or a pattern of ``lr_mult`` or ``lr_hold`` matches no trainable parameter.
    """
    named = [(n, p) for n, p in unwrap(model).named_parameters() if p.requires_grad]
    layer_ids = dict(layer_ids or {})
    unknown = sorted(set(layer_ids) - {n for n, _ in named})
    if unknown:
        raise ValueError(f"layer_ids names {len(unknown)} unknown or frozen parameter(s): {unknown[:8]}")
    top_id = 0
    if layer_ids:
        top_id = max(layer_ids.values()) if max_layer_id is None else max_layer_id
        lo, hi = min(layer_ids.values()), max(layer_ids.values())
        if lo < 0 or hi > top_id:
            raise ValueError(f"layer ids must be in [0, max_layer_id={top_id}], got [{lo}, {hi}]")

    for what, pairs in (("lr_mult", lr_mult), ("lr_hold", lr_hold)):
        for pattern, _ in pairs:
            if not any(fnmatch.fnmatchcase(n, pattern) for n, _ in named):
                raise ValueError(f"{what} pattern {pattern!r} matches no trainable parameter")

    def first(pairs: Sequence[tuple[str, Any]], name: str, default: Any) -> Any:
        return next((v for pattern, v in pairs if fnmatch.fnmatchcase(name, pattern)), default)

    groups: dict[tuple[int, bool, float, int], dict[str, Any]] = {}
    for name, p in named:
        layer = layer_ids.get(name, -1)
        decay = not _no_decay(name, p, no_decay)
        key = (layer, decay, float(first(lr_mult, name, 1.0)), int(first(lr_hold, name, 0)))
        if key not in groups:
            scale = 1.0 if layer < 0 else backbone_lr_scale * layer_decay ** (top_id - layer)
            scale *= key[2]
            groups[key] = {
                "params": [],
                "lr": lr * scale,
                "base_lr": lr * scale,
                "lr_scale": scale,
                "weight_decay": weight_decay if decay else 0.0,
                "layer_id": layer,
                "hold_steps": key[3],
            }
        groups[key]["params"].append(p)
    return list(groups.values())


def build_optimizer(
    model: nn.Module,
    cfg: TrainConfig,
    *,
    layer_ids: dict[str, int] | None = None,
    max_layer_id: int | None = None,
    lr_mult: Sequence[tuple[str, float]] = (),
    no_decay: Sequence[str] = NO_DECAY_PATTERNS,
) -> torch.optim.AdamW:
    """AdamW from ``cfg`` (``lr``, ``weight_decay``, ``layer_decay``, ``backbone_lr_scale``, ``betas``,
    ``lr_hold``) and the per-parameter lr factors ``lr_mult`` (see :func:`param_groups`)."""
    groups = param_groups(
        model,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        layer_ids=layer_ids,
        max_layer_id=max_layer_id,
        layer_decay=cfg.layer_decay,
        backbone_lr_scale=cfg.backbone_lr_scale,
        lr_mult=lr_mult,
        lr_hold=cfg.lr_hold,
        no_decay=no_decay,
    )
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


# ------------------------------------------------------------------------------------------------ schedules
def milestones_to_steps(milestones: Sequence[int], steps_per_epoch: int) -> tuple[int, ...]:
    """Epoch milestones -> the first step of each of those epochs (16 -> step ``16 * steps_per_epoch``)."""
    return tuple(int(m) * steps_per_epoch for m in milestones)


def warmup_factor(step: int, warmup_steps: int, warmup_ratio: float) -> float:
    """Linear warm-up: ``warmup_ratio`` at step 0 rising to 1 at ``warmup_steps`` (1 afterwards)."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return warmup_ratio + (1.0 - warmup_ratio) * step / warmup_steps


def step_factor(step: int, milestone_steps: Sequence[int], gamma: float) -> float:
    """``gamma ** (number of milestones <= step)``."""
    return gamma ** sum(1 for m in milestone_steps if step >= m)


def cosine_factor(step: int, start_step: int, total_steps: int, min_ratio: float) -> float:
    """Half-cosine from 1 at ``start_step`` to ``min_ratio`` at ``total_steps`` (clamped outside)."""
    span = max(total_steps - start_step, 1)
    progress = min(max((step - start_step) / span, 0.0), 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_factor(
    step: int,
    *,
    schedule: Literal["step", "cosine"],
    warmup_steps: int,
    warmup_ratio: float,
    total_steps: int,
    milestone_steps: Sequence[int] = (),
    gamma: float = 0.1,
    min_lr_ratio: float = 0.0,
) -> float:
    """Multiplier of the base lr at 0-based ``step``: warm-up times the step or cosine schedule.

    The cosine starts decaying at the end of the warm-up and reaches ``min_lr_ratio`` at ``total_steps``.
    """
    warm = warmup_factor(step, warmup_steps, warmup_ratio)
    if schedule == "step":
        return warm * step_factor(step, milestone_steps, gamma)
    if schedule == "cosine":
        return warm * cosine_factor(step, max(warmup_steps, 0), total_steps, min_lr_ratio)
    raise ValueError(f"unknown schedule {schedule!r} (expected 'step' or 'cosine')")


def lr_at(step: int, base_lr: float, **schedule: Any) -> float:
    """``base_lr * lr_factor(step, **schedule)``."""
    return base_lr * lr_factor(step, **schedule)


def schedule_from_config(cfg: TrainConfig, steps_per_epoch: int, total_steps: int) -> Callable[[int], float]:
    """``step -> lr factor`` for ``cfg`` (``schedule``, ``warmup_steps``, ``warmup_ratio``, ``milestones``,
    ``gamma``, ``min_lr_ratio``); milestones are epochs, converted with ``steps_per_epoch``."""
    return functools.partial(
        lr_factor,
        schedule=cfg.schedule,
        warmup_steps=cfg.warmup_steps,
        warmup_ratio=cfg.warmup_ratio,
        total_steps=total_steps,
        milestone_steps=milestones_to_steps(cfg.milestones, steps_per_epoch),
        gamma=cfg.gamma,
        min_lr_ratio=cfg.min_lr_ratio,
    )
