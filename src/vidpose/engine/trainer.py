"""The training loop: a short ``train()`` over ``run_step()``, hooks for everything else (detectron2 style).

The model is generic: ``step_fn(model, batch) -> {"name": scalar loss}`` computes the named losses of one
batch (the model is the DDP wrapper under DDP: call it, not ``model.module``, to synchronise gradients).
``run_step`` is the only place that steps: batch -> losses -> sum -> backward -> clip -> optimiser -> EMA.
One precision path on every device: ``torch.autocast(device.type, dtype, enabled=cfg.amp)``, with a gradient
scaler only for float16 on CUDA.

Counters: ``trainer.step`` is the number of optimiser steps done (in ``before_step`` it is also the 0-based
index of the step about to run), ``trainer.epoch`` the 0-based epoch, ``trainer.step_in_epoch`` the steps
done in it.

    >>> trainer = Trainer(model, dataset, build_optimizer(model, cfg), step_fn, cfg)
    >>> trainer.register_hooks(default_hooks(cfg, eval_fn=evaluate, best_metric="mAP"))
    >>> trainer.resume()      # continues from <out_dir>/last.pt if there is one
    >>> trainer.train()
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from ..config import TrainConfig
from ..errors import CheckpointError, ConfigError, TrainingInterrupted
from ..precision import autocast_dtype
from .checkpoint import Checkpointer, capture_rng_state, load_model_state, restore_rng_state
from .distributed import (
    all_gather_object,
    all_reduce_max,
    all_reduce_sum,
    get_rank,
    get_world_size,
    is_distributed,
    select_device,
    unwrap,
    wrap_ddp,
)
from .ema import ModelEMA
from .hooks import HookBase
from .sampler import EpochLoader

__all__ = ["Trainer", "LoaderFactory", "StepFn", "seed_everything", "move_to", "STATE_FORMAT"]

STATE_FORMAT = "vidpose.train_state"
_STATE_VERSION = 1

StepFn = Callable[[nn.Module, Any], Mapping[str, Tensor]]


class LoaderFactory(Protocol):
    """What the trainer iterates: ``factory(epoch, start_batch)`` yields the epoch's batches from
    ``start_batch`` on; ``len(factory)`` is the number of batches in a whole epoch (see
    :class:`~vidpose.engine.sampler.EpochLoader`)."""

    def __call__(self, epoch: int, start_batch: int) -> Iterable[Any]: ...

    def __len__(self) -> int: ...


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def move_to(batch: Any, device: torch.device) -> Any:
    """Tensors in dicts, lists, tuples (named too) and dataclasses moved to ``device``; the rest unchanged."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        out = copy.copy(batch)
        for f in dataclasses.fields(batch):
            object.__setattr__(out, f.name, move_to(getattr(batch, f.name), device))
        return out
    return batch


def _batch_size(batch: Any) -> int:
    """Leading size of the first tensor found in ``batch`` (0 if none)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, Mapping):
        batch = list(batch.values())
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        batch = [getattr(batch, f.name) for f in dataclasses.fields(batch)]
    if isinstance(batch, (list, tuple)):
        for v in batch:
            n = _batch_size(v)
            if n:
                return n
    return 0


class _LogWindow:
    """Sums of the losses between two log records, kept on the device (no host sync per step)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.losses: dict[str, Tensor] = {}
        self.total: Tensor | None = None
        self.grad_norm: Tensor | None = None
        self.steps = 0
        self.samples = 0
        self.data_time = 0.0
        self.start = time.perf_counter()

    def add(
        self,
        losses: dict[str, Tensor],
        total: Tensor,
        grad_norm: Tensor | None,
        samples: int,
        data_time: float,
    ):
        for k, v in losses.items():
            self.losses[k] = self.losses[k] + v if k in self.losses else v.clone()
        self.total = total.clone() if self.total is None else self.total + total
        if grad_norm is not None:
            g = grad_norm.detach().float()
            self.grad_norm = g.clone() if self.grad_norm is None else self.grad_norm + g
        self.steps += 1
        self.samples += samples
        self.data_time += data_time


class Trainer:
    """Runs ``step_fn`` over the data with an optimiser, under hooks.

    Args:
        model: the bare model; moved to the device and wrapped in DDP when the world has several processes.
        data: a map-style dataset (batched by an :class:`EpochLoader` with ``cfg.batch_size`` and
            ``cfg.seed``) or a :class:`LoaderFactory` (build an ``EpochLoader`` to choose workers or collate).
        optimizer: over ``model``'s parameters (see :func:`~vidpose.engine.optim.build_optimizer`).
        step_fn: ``(model, batch) -> {name: scalar loss}``; the batch is already on the device.
        cfg: reads ``epochs``, ``max_steps``, ``batch_size``, ``accum_steps``, ``grad_clip``, ``amp``,
            ``amp_dtype``, ``ema_decay``, ``seed``, ``device``, ``log_every`` and ``out_dir``.
        hooks: see :mod:`vidpose.engine.hooks`; more can be added with :meth:`register_hooks`.
        device: None = ``select_device(cfg.device)``.
        find_unused_parameters: passed to DDP (needed when some parameters get no gradient in a step).
        extra_state: plain data stored as ``"meta"`` in every checkpoint (the config, say); not restored.

    Raises:
        ConfigError: float16 autocast off CUDA, ``accum_steps < 1``, or an epoch with no complete step.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Dataset | LoaderFactory,
        optimizer: torch.optim.Optimizer,
        step_fn: StepFn,
        cfg: TrainConfig,
        *,
        hooks: Sequence[HookBase] = (),
        device: torch.device | None = None,
        find_unused_parameters: bool = False,
        extra_state: dict[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = select_device(cfg.device) if device is None else device
        if cfg.accum_steps < 1:
            raise ConfigError(f"train.accum_steps must be >= 1, got {cfg.accum_steps}")
        use_fp16 = cfg.amp and cfg.amp_dtype == "float16"
        if use_fp16 and self.device.type != "cuda":
            raise ConfigError(f"train.amp_dtype float16 needs CUDA (device is {self.device}); use bfloat16")
        self.amp_dtype = autocast_dtype(cfg.amp_dtype)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_fp16)

        if isinstance(data, Dataset):
            data = EpochLoader(data, cfg.batch_size, seed=cfg.seed, pin_memory=self.device.type == "cuda")
        self.loader: LoaderFactory = data
        self.steps_per_epoch = len(self.loader) // cfg.accum_steps
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"an epoch has {len(self.loader)} batch(es) per process, fewer than train.accum_steps="
                f"{cfg.accum_steps}: the dataset is too small for train.batch_size={cfg.batch_size}"
            )
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps > 0:
            self.total_steps = min(self.total_steps, cfg.max_steps)

        self.model = wrap_ddp(model.to(self.device), self.device, find_unused_parameters)
        self.optimizer = optimizer
        self.step_fn = step_fn
        self.ema = ModelEMA(self.module, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.checkpointer = Checkpointer(cfg.out_dir)
        self.extra_state = extra_state or {}

        self._stop_signal: str | None = None
        self.step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.completed = False
        self.step_losses: dict[str, Tensor] = {}
        self.step_loss: Tensor | None = None
        self.log_record: dict[str, Any] | None = None
        self.last_eval: dict[str, float] | None = None
        self.last_eval_step = -1
        self._window = _LogWindow()
        self._data_iter: Iterator[Any] | None = None
        self._hooks: list[HookBase] = []
        self.register_hooks(hooks)

    # -------------------------------------------------------------------------------------------- properties
    @property
    def module(self) -> nn.Module:
        """The bare model (unwrapped from DDP)."""
        return unwrap(self.model)

    @property
    def hooks(self) -> list[HookBase]:
        return list(self._hooks)

    @property
    def epoch_ended(self) -> bool:
        """True after the last step of an epoch (in ``after_step`` and ``after_epoch``)."""
        return self.step_in_epoch >= self.steps_per_epoch

    def register_hooks(self, hooks: Iterable[HookBase]) -> None:
        """Add hooks; all hooks are kept sorted by ``priority`` (stable)."""
        for h in hooks:
            if not isinstance(h, HookBase):
                raise TypeError(f"hooks must subclass HookBase, got {type(h).__name__}")
            h.trainer = self
            self._hooks.append(h)
        self._hooks.sort(key=lambda h: h.priority)

    def _call(self, point: str, *args: Any) -> None:
        for h in self._hooks:
            getattr(h, point)(*args)

    # ----------------------------------------------------------------------------------------------- loop
    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGINT / SIGTERM during :meth:`train` ask the loop to stop after the current step (a second one
        interrupts at once). Only in the main thread, where Python delivers signals."""
        self._stop_signal: str | None = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous: dict[int, Any] = {}

        def request_stop(signum: int, frame: Any) -> None:
            self._stop_signal = signal.Signals(signum).name
            for sig, handler in previous.items():  # a second signal takes the old way out at once
                signal.signal(sig, handler)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_requested(self) -> bool:
        """A stop signal arrived (on any process: under DDP every process stops at the same step)."""
        if not is_distributed():
            return self._stop_signal is not None
        flag = torch.tensor([1.0 if self._stop_signal is not None else 0.0], device=self.device)
        return bool(all_reduce_max(flag).item() > 0)

    def _stop_now(self) -> None:
        """Called between steps after a stop signal: write ``last`` atomically and raise."""
        name = self._stop_signal or "SIGINT"
        path = self.checkpointer.save(self.checkpointer.LAST, self.state_dict())
        raise TrainingInterrupted(self.step, self.total_steps, None if path is None else str(path), name)

    def train(self) -> None:
        """Run from the current step to ``total_steps``; ``after_train`` hooks run even when a step raises.

        SIGINT / SIGTERM stop it after the running step: ``last`` is written atomically (the position inside
        the epoch included, so that a resume repeats nothing) and :class:`TrainingInterrupted` is raised."""
        self.completed = False
        self._window.reset()
        with self._stop_on_signals():
            self._train_loop()

    def _train_loop(self) -> None:
        try:
            self._call("before_train")
            while self.step < self.total_steps:
                if self._stop_requested():
                    self._stop_now()
                if self._data_iter is None:
                    start = self.step_in_epoch * self.cfg.accum_steps
                    self._data_iter = iter(self.loader(self.epoch, start))
                self.log_record = None
                self._call("before_step")
                self.run_step()
                self._call("after_step")
                if self.epoch_ended:
                    self._call("after_epoch")
                    self.epoch += 1
                    self.step_in_epoch = 0
                    self._data_iter = None
            self.completed = True
        finally:
            self._data_iter = None
            self._call("after_train")

    def _next_batch(self) -> Any:
        assert self._data_iter is not None
        try:
            return next(self._data_iter)
        except StopIteration:
            raise RuntimeError(
                f"the loader of epoch {self.epoch} ran out after {self.step_in_epoch} steps; "
                f"len(loader) said {len(self.loader)} batches"
            ) from None

    def _sum_losses(self, losses: Mapping[str, Tensor]) -> Tensor:
        """Sum of the named losses; raises FloatingPointError (on every process) if one is NaN or infinite."""
        if not isinstance(losses, Mapping) or not losses:
            raise TypeError(
                f"step_fn must return a non-empty dict of named losses, got {type(losses).__name__}"
            )
        for name, v in losses.items():
            if not isinstance(v, Tensor) or v.ndim != 0:
                raise TypeError(
                    f"step_fn's loss {name!r} must be a scalar tensor, got {getattr(v, 'shape', v)!r}"
                )
        values = torch.stack([v.detach().float() for v in losses.values()])
        bad = (~torch.isfinite(values)).any().float()
        if all_reduce_max(bad).item() > 0:
            where = f"step {self.step} (epoch {self.epoch}, step {self.step_in_epoch} of the epoch)"
            culprits = [
                f"{n} = {v}" for n, v in zip(losses, values.tolist(), strict=True) if not math.isfinite(v)
            ]
            what = ", ".join(culprits) if culprits else "a loss is not finite on another process"
            raise FloatingPointError(f"non-finite loss at {where}: {what}")
        return torch.stack([v.float() for v in losses.values()]).sum()

    def run_step(self) -> None:
        """One optimiser step over ``cfg.accum_steps`` micro-batches."""
        cfg = self.cfg
        self.model.train()
        accum = cfg.accum_steps
        data_time = 0.0
        samples = 0
        step_losses: dict[str, Tensor] = {}
        step_loss = torch.zeros((), device=self.device)
        for micro in range(accum):
            t0 = time.perf_counter()
            batch = move_to(self._next_batch(), self.device)
            data_time += time.perf_counter() - t0
            samples += _batch_size(batch)
            sync = micro == accum - 1 or not isinstance(self.model, DistributedDataParallel)
            with contextlib.nullcontext() if sync else self.model.no_sync():
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=cfg.amp):
                    losses = self.step_fn(self.model, batch)
                total = self._sum_losses(losses)
                self.scaler.scale(total / accum).backward()
            for k, v in losses.items():
                d = v.detach().float() / accum
                step_losses[k] = step_losses[k] + d if k in step_losses else d
            step_loss = step_loss + total.detach() / accum

        grad_norm = None
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)

        self.step += 1
        self.step_in_epoch += 1
        self.step_losses, self.step_loss = step_losses, step_loss
        self._window.add(step_losses, step_loss, grad_norm, samples, data_time)
        log_every = cfg.log_every
        if (
            (log_every > 0 and self.step % log_every == 0)
            or self.epoch_ended
            or self.step >= self.total_steps
        ):
            self.log_record = self._flush_log()

    def _flush_log(self) -> dict[str, Any]:
        """Losses averaged over the window and the processes, lr, grad norm, throughput (collective op)."""
        w = self._window
        names = sorted(w.losses)
        assert w.total is not None and w.steps > 0
        parts = [w.losses[n] for n in names] + [w.total]
        if w.grad_norm is not None:
            parts.append(w.grad_norm)
        vec = torch.stack([p.float() for p in parts] + [torch.tensor(float(w.samples), device=self.device)])
        vec = all_reduce_sum(vec.to(torch.float64) if self.device.type != "mps" else vec).tolist()
        world = get_world_size()
        elapsed = max(time.perf_counter() - w.start, 1e-9)
        record: dict[str, Any] = {"step": self.step, "epoch": self.epoch}
        record["loss"] = vec[len(names)] / (world * w.steps)
        record.update({f"loss/{n}": vec[i] / (world * w.steps) for i, n in enumerate(names)})
        record["lr"] = max(g["lr"] for g in self.optimizer.param_groups)
        if w.grad_norm is not None:
            record["grad_norm"] = vec[len(names) + 1] / (world * w.steps)
        record["samples_per_s"] = vec[-1] / elapsed
        record["step_time"] = elapsed / w.steps
        record["data_time"] = w.data_time / w.steps
        record["time"] = time.time()
        w.reset()  # an inf grad norm (a step skipped by the fp16 scaler) is logged as None, valid JSON
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}

    def report_eval(self, metrics: dict[str, float]) -> None:
        """Record an evaluation's metrics and pass them to every hook's ``after_eval``."""
        self.last_eval = dict(metrics)
        self.last_eval_step = self.step
        self._call("after_eval", self.last_eval)

    # ----------------------------------------------------------------------------------------------- state
    def _hook_keys(self) -> list[str]:
        seen: dict[str, int] = {}
        keys = []
        for h in self._hooks:
            name = type(h).__name__
            keys.append(name if name not in seen else f"{name}.{seen[name]}")
            seen[name] = seen.get(name, 0) + 1
        return keys

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly; a collective operation under DDP (RNG of every rank)."""
        return {
            "format": STATE_FORMAT,
            "version": _STATE_VERSION,
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": get_world_size(),
            "rng": all_gather_object(capture_rng_state()),
            "hooks": {k: h.state_dict() for k, h in zip(self._hook_keys(), self._hooks, strict=True)},
            "last_eval": self.last_eval,
            "last_eval_step": self.last_eval_step,
            "meta": self.extra_state,
        }

    def load_state_dict(self, state: Mapping[str, Any], source: str = "checkpoint") -> None:
        """Restore a :meth:`state_dict`; raises CheckpointError naming what does not match."""
        if state.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{source}: not a vidpose training checkpoint (no format={STATE_FORMAT!r})")
        load_model_state(self.module, state["model"], source=source)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"{source}: optimizer state does not match the optimizer: {e}") from e
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state["ema"] is None:
                raise CheckpointError(f"{source}: train.ema_decay > 0 but the checkpoint has no EMA weights")
            self.ema.load_state_dict(state["ema"])
        step, epoch, in_epoch = int(state["step"]), int(state["epoch"]), int(state["step_in_epoch"])
        if in_epoch > self.steps_per_epoch:
            raise CheckpointError(
                f"{source}: saved at step {in_epoch} of an epoch, but an epoch now has "
                f"{self.steps_per_epoch} steps (the dataset, batch size, accum_steps or world size changed)"
            )
        if in_epoch == self.steps_per_epoch:
            epoch, in_epoch = epoch + 1, 0
        self.step, self.epoch, self.step_in_epoch = step, epoch, in_epoch
        self.last_eval = state["last_eval"]
        self.last_eval_step = int(state["last_eval_step"])
        hook_states = state["hooks"]
        for key, h in zip(self._hook_keys(), self._hooks, strict=True):
            if key in hook_states:
                h.load_state_dict(hook_states[key])
        rng = state["rng"]
        rank = get_rank()
        if rank < len(rng):
            restore_rng_state(rng[rank])
        self._data_iter = None

    def resume(self, path: str | Path | None = None, *, must_exist: bool = False) -> bool:
        """Continue from a checkpoint file, or from ``last.pt`` in a folder (None = ``cfg.out_dir``).

        A folder without ``last.pt`` means a fresh start (unless ``must_exist``); a named file must exist.

        Returns:
            True if a checkpoint was loaded; False if there was none.

        Raises:
            CheckpointError: the checkpoint is unreadable or does not match, or is missing when required.
        """
        target = Path(self.cfg.out_dir if path is None else path)
        is_folder = path is None or target.is_dir() or not target.suffix
        file = target / f"{Checkpointer.LAST}.pt" if is_folder else target
        if not file.is_file():
            must_exist = must_exist or not is_folder
            if must_exist:
                raise CheckpointError(f"{file}: checkpoint not found, cannot resume")
            return False
        state = self.checkpointer.load(file)
        self.load_state_dict(state, source=str(file))
        return True
