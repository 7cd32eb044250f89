"""The generic training engine: distributed helpers, sampling, optimiser, EMA, checkpoints, trainer and hooks.

It knows nothing about poses: a model, a dataset, a ``step_fn(model, batch) -> {name: loss}`` and an
``eval_fn(model) -> {metric: value}`` are composed on top of it.
"""

from __future__ import annotations

from .checkpoint import (
    Checkpointer,
    StateDiff,
    capture_rng_state,
    load_model_state,
    preserved_rng_state,
    restore_rng_state,
)
from .distributed import (
    all_gather_object,
    all_reduce_max,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup,
    get_local_rank,
    get_rank,
    get_world_size,
    init_distributed,
    is_distributed,
    is_main_process,
    select_device,
    unwrap,
    wrap_ddp,
)
from .ema import ModelEMA
from .hooks import (
    BestCheckpointer,
    EvalHook,
    HookBase,
    JSONLinesLogger,
    LRScheduler,
    PeriodicCheckpointer,
    ProgressBar,
    TensorBoardLogger,
    default_hooks,
)
from .optim import (
    NO_DECAY_PATTERNS,
    build_optimizer,
    cosine_factor,
    lr_at,
    lr_factor,
    milestones_to_steps,
    param_groups,
    schedule_from_config,
    step_factor,
    warmup_factor,
)
from .sampler import EpochLoader, ShardedSampler, derive_seed, seeded_rng
from .trainer import LoaderFactory, StepFn, Trainer, move_to, seed_everything

__all__ = [
    "Checkpointer",
    "StateDiff",
    "capture_rng_state",
    "load_model_state",
    "preserved_rng_state",
    "restore_rng_state",
    "all_gather_object",
    "all_reduce_max",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "cleanup",
    "get_local_rank",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "select_device",
    "unwrap",
    "wrap_ddp",
    "ModelEMA",
    "BestCheckpointer",
    "EvalHook",
    "HookBase",
    "JSONLinesLogger",
    "LRScheduler",
    "PeriodicCheckpointer",
    "ProgressBar",
    "TensorBoardLogger",
    "default_hooks",
    "NO_DECAY_PATTERNS",
    "build_optimizer",
    "cosine_factor",
    "lr_at",
    "lr_factor",
    "milestones_to_steps",
    "param_groups",
    "schedule_from_config",
    "step_factor",
    "warmup_factor",
    "EpochLoader",
    "ShardedSampler",
    "derive_seed",
    "seeded_rng",
    "LoaderFactory",
    "StepFn",
    "Trainer",
    "move_to",
    "seed_everything",
]
