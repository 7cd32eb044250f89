"""Trainer hooks: learning rate, checkpoints, evaluation and logging (detectron2 style).

A hook sees the trainer as ``self.trainer`` and is called at fixed points of the loop:

    before_train -> [before_step -> run_step -> after_step -> (after_epoch at an epoch's end)]* -> after_train

plus ``after_eval(metrics)`` whenever an evaluation has produced metrics. Hooks run in ascending ``priority``
(stable for equal priorities): the lr is set first, evaluation runs before the best checkpoint is chosen, the
``last`` checkpoint is written after both (so it holds the updated best metric), and loggers come last.
Every hook runs on every process (their collective operations must line up); only rank 0 writes files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from torch import nn

from ..config import TrainConfig
from ..errors import MissingDependencyError
from ..fileio import atomic_write_text
from .checkpoint import preserved_rng_state
from .distributed import broadcast_object, is_main_process
from .optim import schedule_from_config

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = [
    "HookBase",
    "LRScheduler",
    "PeriodicCheckpointer",
    "BestCheckpointer",
    "EvalHook",
    "JSONLinesLogger",
    "TensorBoardLogger",
    "ProgressBar",
    "default_hooks",
]

EvalFn = Callable[[nn.Module], dict[str, float]]


class HookBase:
    """Base class: override the points you need. ``state_dict`` is saved in every training checkpoint."""

    #: lower runs first.
    priority: int = 50
    trainer: Trainer

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        """Called also when training stops with an exception; ``trainer.completed`` tells which."""

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def after_eval(self, metrics: dict[str, float]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class LRScheduler(HookBase):
    """Sets ``group["lr"] = group["base_lr"] * factor(step)`` before every step (schedule from ``cfg``), or 0
    while ``step < group["hold_steps"]`` (a group held at its initial values, ``train.lr_hold``)."""

    priority = 10

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self._factor: Callable[[int], float] | None = None

    def before_train(self) -> None:
        t = self.trainer
        self._factor = schedule_from_config(self.cfg, t.steps_per_epoch, t.total_steps)
        for group in t.optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])

    def before_step(self) -> None:
        assert self._factor is not None, "before_train was not called"
        step = self.trainer.step
        factor = self._factor(step)
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = 0.0 if step < group.get("hold_steps", 0) else group["base_lr"] * factor


class PeriodicCheckpointer(HookBase):
    """Writes ``last`` every ``every_steps`` steps, at the end of each epoch and at the end of training.

    Args:
        every_steps: 0 = only at epoch ends (and at the end).
    """

    priority = 60

    def __init__(self, every_steps: int = 0) -> None:
        self.every_steps = every_steps
        self._saved_step = -1

    def _save(self) -> None:
        t = self.trainer
        t.checkpointer.save(t.checkpointer.LAST, t.state_dict())
        self._saved_step = t.step

    def after_step(self) -> None:
        t = self.trainer
        # At an epoch's end the save waits for after_epoch, after the evaluation of that epoch.
        if self.every_steps > 0 and t.step % self.every_steps == 0 and not t.epoch_ended:
            self._save()

    def after_epoch(self) -> None:
        self._save()

    def after_eval(self, metrics: dict[str, float]) -> None:
        self._saved_step = -1  # the hook states changed: the next chance to save must write

    def after_train(self) -> None:
        if self.trainer.completed and self._saved_step != self.trainer.step:
            self._save()


class BestCheckpointer(HookBase):
    """After each evaluation, writes the ``best`` checkpoint when ``metric`` improved.

    Args:
        metric: key of the evaluation's metrics (e.g. "mAP").
        mode: "max" or "min".
    """

    priority = 40

    def __init__(self, metric: str, mode: Literal["max", "min"] = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.metric = metric
        self.mode = mode
        self.best: float | None = None
        self.best_step = -1

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def after_eval(self, metrics: dict[str, float]) -> None:
        if self.metric not in metrics:
            raise KeyError(
                f"BestCheckpointer: metric {self.metric!r} not in the evaluation's {sorted(metrics)}"
            )
        value = float(metrics[self.metric])
        if self._better(value):
            self.best, self.best_step = value, self.trainer.step
            t = self.trainer
            t.checkpointer.save(t.checkpointer.BEST, t.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "mode": self.mode, "best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["metric"] == self.metric and state["mode"] == self.mode:
            self.best, self.best_step = state["best"], int(state["best_step"])


class EvalHook(HookBase):
    """Calls ``eval_fn(model) -> metrics`` every ``every_epochs`` epochs and at the end of training.

    The model is in eval mode during the call (the EMA model when ``use_ema`` and the trainer has one); the
    training RNG stream is saved and restored around it, so evaluating never changes the training that
    follows. Every process calls ``eval_fn`` (it may gather across processes); rank 0's metrics are broadcast
    and reported to all hooks through ``after_eval``.

    Args:
        every_epochs: 0 = only at the end.
        use_ema: evaluate the EMA weights when the trainer keeps them.
        at_end: evaluate at the end of training if the final step was not evaluated yet.
    """

    priority = 30

    def __init__(self, eval_fn: EvalFn, every_epochs: int = 1, *, use_ema: bool = True, at_end: bool = True):
        self.eval_fn = eval_fn
        self.every_epochs = every_epochs
        self.use_ema = use_ema
        self.at_end = at_end

    def evaluate(self) -> dict[str, float]:
        t = self.trainer
        model = t.ema.module if (self.use_ema and t.ema is not None) else t.module
        was_training = model.training
        model.eval()
        try:
            with preserved_rng_state():
                metrics = self.eval_fn(model)
        finally:
            model.train(was_training)
        metrics = broadcast_object({str(k): float(v) for k, v in metrics.items()})
        t.report_eval(metrics)
        return metrics

    def after_epoch(self) -> None:
        if self.every_epochs > 0 and (self.trainer.epoch + 1) % self.every_epochs == 0:
            self.evaluate()

    def after_train(self) -> None:
        t = self.trainer
        if self.at_end and t.completed and t.last_eval_step != t.step:
            self.evaluate()


# --------------------------------------------------------------------------------------------------- logging
def _record_step(line: str) -> float:
    """The ``step`` of a JSON-lines record; infinity for a blank, torn or foreign line (so it is dropped)."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return math.inf


class JSONLinesLogger(HookBase):
    """Appends one JSON object per logged step (``trainer.log_record``) and per evaluation to ``path``.

    On resume, records after the resumed step (written by the interrupted run) are dropped first.

    Args:
        path: None = ``<out_dir>/log.jsonl``.
    """

    priority = 90

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._file: Any = None

    def before_train(self) -> None:
        if not is_main_process():
            return
        if self.path is None:
            self.path = Path(self.trainer.cfg.out_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        step = self.trainer.step
        if self.path.is_file():
            keep = [ln for ln in self.path.read_text().splitlines() if _record_step(ln) <= step]
            atomic_write_text(self.path, "".join(ln + "\n" for ln in keep))
        self._file = open(self.path, "a")  # noqa: SIM115 - kept open for the whole run, closed in after_train

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def after_step(self) -> None:
        if self.trainer.log_record is not None:
            self._write(self.trainer.log_record)

    def after_eval(self, metrics: dict[str, float]) -> None:
        t = self.trainer
        self._write({"step": t.step, "epoch": t.epoch, **{f"eval/{k}": v for k, v in metrics.items()}})

    def after_train(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoardLogger(HookBase):
    """TensorBoard scalars: every logged step's numbers and every evaluation's metrics (``eval/<name>``).

    Args:
        log_dir: None = ``<out_dir>/tb``. On resume, events after the resumed step are purged.
    """

    priority = 90
    _SKIP = ("step", "epoch", "time")

    def __init__(self, log_dir: str | Path | None = None) -> None:
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._writer: Any = None

    def before_train(self) -> None:
        if not is_main_process():
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise MissingDependencyError(f"TensorBoard logging needs the tensorboard package: {e}") from e
        if self.log_dir is None:
            self.log_dir = Path(self.trainer.cfg.out_dir) / "tb"
        step = self.trainer.step
        self._writer = SummaryWriter(str(self.log_dir), purge_step=step if step > 0 else None)

    def after_step(self) -> None:
        record = self.trainer.log_record
        if self._writer is None or record is None:
            return
        for k, v in record.items():
            if k not in self._SKIP and isinstance(v, (int, float)):
                self._writer.add_scalar(k, v, record["step"])

    def after_eval(self, metrics: dict[str, float]) -> None:
        if self._writer is not None:
            for k, v in metrics.items():
                self._writer.add_scalar(f"eval/{k}", v, self.trainer.step)
            self._writer.flush()

    def after_train(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ProgressBar(HookBase):
    """A rich progress bar on rank 0: step / total, epoch, last logged loss, samples/s, time left.

    Args:
        console: a ``rich.console.Console`` to draw on; None = rich's default (stdout).
    """

    priority = 95

    def __init__(self, console: Any = None) -> None:
        self.console = console
        self._progress: Any = None
        self._task: Any = None

    def before_train(self) -> None:
        if not is_main_process():
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        t = self.trainer
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]} samples/s"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=t.total_steps, completed=t.step, epoch=t.epoch, loss="-", speed="-"
        )

    def after_step(self) -> None:
        if self._progress is None:
            return
        t = self.trainer
        fields: dict[str, Any] = {"epoch": t.epoch}
        if t.log_record is not None:
            fields["loss"] = f"{t.log_record['loss']:.4g}"
            fields["speed"] = f"{t.log_record['samples_per_s']:.1f}"
        self._progress.update(self._task, completed=t.step, **fields)

    def after_eval(self, metrics: dict[str, float]) -> None:
        if self._progress is not None:
            text = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            self._progress.console.print(f"step {self.trainer.step} eval: {text}")

    def after_train(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def default_hooks(
    cfg: TrainConfig,
    *,
    eval_fn: EvalFn | None = None,
    best_metric: str | None = None,
    best_mode: Literal["max", "min"] = "max",
    progress: bool = True,
    tensorboard: bool = True,
) -> list[HookBase]:
    """The standard set: lr schedule, ``last`` checkpoints (``ckpt_every_steps``), evaluation every
    ``val_every_epochs`` with a ``best`` checkpoint by ``best_metric`` (when ``eval_fn`` is given), JSON-lines
    log, TensorBoard and a progress bar."""
    hooks: list[HookBase] = [LRScheduler(cfg), PeriodicCheckpointer(cfg.ckpt_every_steps), JSONLinesLogger()]
    if eval_fn is not None:
        hooks.append(EvalHook(eval_fn, cfg.val_every_epochs))
        if best_metric is not None:
            hooks.append(BestCheckpointer(best_metric, best_mode))
    if tensorboard:
        hooks.append(TensorBoardLogger())
    if progress:
        hooks.append(ProgressBar())
    return hooks
