"""Train a pose model from a recipe: the composition of data, model, optimiser, evaluator and the engine.

    >>> from vidpose.config import load_config
    >>> result = train(load_config("configs/synthetic_nano.yaml"))

One code path for one CPU, one GPU and many (``torchrun --nproc_per_node N -m vidpose.cli train CONFIG``):
the engine joins the process group from torchrun's environment, shards the data and wraps the model in DDP.
Everything a run needs to be understood later is kept together in ``train.out_dir``: the resolved config
(``config.yaml``), the JSON-lines log, TensorBoard events, ``last.pt`` / ``best.pt`` (full training state) and
the exported model files ``model_last.safetensors`` / ``model_best.safetensors``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from ..config import Config, config_to_dict
from ..data.dataset import build_dataset
from ..data.posetrack import read_sequences
from ..engine.checkpoint import load_model_state
from ..engine.distributed import cleanup, get_rank, get_world_size, init_distributed, is_main_process
from ..engine.hooks import HookBase, default_hooks
from ..engine.optim import build_optimizer
from ..engine.sampler import EpochLoader, usable_workers
from ..engine.trainer import Trainer, seed_everything
from ..errors import CheckpointError, ConfigError
from ..fileio import atomic_write_text
from ..models import build_model
from ..models.fitting import load_backbone_and_head
from ..models.serialization import load_model, save_model
from ..models.vit import VIT_SIZES
from ..state_dicts import unwrap
from .evaluate import crop_holder, evaluate_split

__all__ = ["train", "init_from_checkpoint", "pose_step", "pose_optimizer", "FusionMonitor"]


def pose_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One forward through the (possibly DDP-wrapped) model and the model's named, weighted losses."""
    outputs = model(batch["clip"])
    return unwrap(model).loss(outputs, batch["target"], batch["target_weight"])


class FusionMonitor(HookBase):
    """Adds what SMML's fusion does to every logged record: ``fusion/gate_w``, the mean pixel-wise weight W
    of this process's training forwards since the last record (W = 1: spatial feature only; not averaged
    over DDP ranks), and ``fusion/gamma_abs``,
    the mean |gamma| of the fusion scale. Observes the gate's output with a forward hook; changes nothing.

    Args:
        model: the (unwrapped) pose model; it must have ``smml.gate`` and ``smml.fusion_scale``.
    """

    priority = 80  # before the loggers (90)

    def __init__(self, model: nn.Module) -> None:
        self.smml = model.smml
        self._sum: torch.Tensor | None = None
        self._count = 0
        self._handle = self.smml.gate.register_forward_hook(self._observe)

    def _observe(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if module.training:
            w = output.detach().float().sigmoid().mean()
            self._sum = w if self._sum is None else self._sum + w
            self._count += 1

    def after_step(self) -> None:
        record = self.trainer.log_record
        if record is None:
            return
        if self._sum is not None:
            record["fusion/gate_w"] = float(self._sum) / self._count
        record["fusion/gamma_abs"] = float(self.smml.fusion_scale.detach().abs().mean())
        self._sum, self._count = None, 0

    def after_train(self) -> None:
        self._handle.remove()


#: Backbone settings that change the numbers without changing any weight's shape.
NUMERIC_VIT_FIELDS = ("norm_eps", "activation", "qkv_bias", "patch_padding", "num_heads")


def _built_vit_setting(vit: Any, name: str) -> Any:
    """A backbone setting as the model is built: ``None`` dimensions come from the size table (a recipe's
    ``size: base`` has 12 heads, which ``vidpose convert`` writes out as ``num_heads: 12``)."""
    value = getattr(vit, name)
    if value is None:
        return VIT_SIZES.get(vit.size, {}).get(name)
    return value


def init_from_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Initialise ``model.backbone`` and ``model.head`` from a vidpose model file (e.g. a ViTPose checkpoint
    converted with ``vidpose convert``); the temporal modules keep their (zero-fusion) initialisation."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"model.init_from: {path} not found; convert an official ViTPose checkpoint first with "
            "`vidpose convert vitpose.pth OUT.safetensors --format vitpose`"
        )
    source, source_cfg = load_model(path)
    target_vit = getattr(getattr(model, "cfg", None), "vit", None)
    if target_vit is not None:
        # Weights alone do not carry these: a mismatch would silently change every number.
        for name in NUMERIC_VIT_FIELDS:
            theirs = _built_vit_setting(source_cfg.model.vit, name)
            ours = _built_vit_setting(target_vit, name)
            if theirs != ours:
                raise CheckpointError(
                    f"model.init_from: {path} was built with model.vit.{name}={theirs!r}, the recipe says "
                    f"{ours!r}; set model.vit.{name}={theirs!r} in the recipe (or an override)"
                )
    state = {k: v for k, v in source.state_dict().items() if k.startswith(("backbone.", "head."))}
    load_backbone_and_head(model, state, where=str(path))


#: Settings under ``model.`` that change neither a weight's shape nor the inference numbers: a resumed run may
#: change them (they are reported). Every other ``model.`` setting is the architecture and must not change.
RESUMABLE_MODEL_KEYS = (
    "model.init_from",
    "model.aux_frame_grad",
    "model.vit.drop_path_rate",
    "model.vit.grad_checkpointing",
    "model.mlsme.use_cube_mask",
    "model.mlsme.cube_mask_ratio",
    "model.mlsme.use_frame_mask",
    "model.mlsme.frame_mask_count",
    "model.mlsme.key_frame_mask_prob",
    "model.loss.lambda_pose",
    "model.loss.lambda_ctx",
    "model.loss.norm_pix_target",
)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tuple(data) if isinstance(data, list) else data}


def config_changes(saved: dict[str, Any], cfg: Config) -> list[tuple[str, Any, Any]]:
    """``(key, saved value, new value)`` for every setting that differs (``train.out_dir`` ignored)."""
    old, new = _flatten(saved), _flatten(config_to_dict(cfg))
    keys = sorted(set(old) | set(new), key=lambda k: (k.split(".")[0] != "model", k))
    return [(k, old.get(k), new.get(k)) for k in keys if k != "train.out_dir" and old.get(k) != new.get(k)]


def is_architecture_key(key: str) -> bool:
    """A ``model.`` / ``codec.input_size`` setting a resumed run cannot change."""
    if key in ("codec.input_size", "codec.heatmap_size"):
        return True
    return key.startswith("model.") and key not in RESUMABLE_MODEL_KEYS


def check_resume(cfg: Config, out_dir: Path) -> list[tuple[str, Any, Any]] | None:
    """Before any file of a run is touched: None when there is nothing to resume; else the settings that
    differ from the saved run (its ``config.yaml``). A different architecture is a :class:`CheckpointError`
    with the first differing keys and their count."""
    if not (out_dir / "last.pt").is_file():
        return None
    saved_path = out_dir / "config.yaml"
    if not saved_path.is_file():
        return []
    try:
        saved = yaml.safe_load(saved_path.read_text()) or {}
    except yaml.YAMLError as e:
        raise CheckpointError(
            f"{saved_path}: the saved run's config is unreadable ({e.__class__.__name__})"
        ) from None
    changes = config_changes(saved, cfg)
    arch = [c for c in changes if is_architecture_key(c[0])]
    if arch:
        shown = ", ".join(f"{k} {old!r} -> {new!r}" for k, old, new in arch[:3])
        more = f" and {len(arch) - 3} more" if len(arch) > 3 else ""
        raise CheckpointError(
            f"{out_dir}: cannot resume, the model differs from the saved run in {len(arch)} setting(s): "
            f"{shown}{more}; use another train.out_dir, or --no-resume to start this one over"
        )
    return changes


#: The fusion parameters that ``train.fusion_lr_scale`` scales (fnmatch patterns over parameter names).
FUSION_PARAMS = ("smml.fusion_scale", "smml.gate.*")
#: The temporal modules that ``train.temporal_lr_scale`` scales (the fusion parameters above excepted).
TEMPORAL_PARAMS = ("mlsme.*", "motion_head.*", "smml.spatial_blocks.*", "smml.motion_blocks.*")


def pose_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """AdamW for a :class:`PoseModel`: layer decay and ``train.backbone_lr_scale`` apply to the backbone only;
    every other module (MLSME, SMML, heads) sits at the top id and gets ``train.lr``, except the fusion's
    scale and gate, which get ``train.lr * train.fusion_lr_scale``, and the other temporal modules
    (:data:`TEMPORAL_PARAMS`), which get ``train.lr * train.temporal_lr_scale`` (when the model has them).
    ``train.lr_mult`` pairs come first: a parameter they match takes their factor instead. ``train.lr_hold``
    holds the parameters it names for its first steps."""
    all_ids = model.layer_ids()
    layer_ids = {k: v for k, v in all_ids.items() if k.startswith("backbone.")}
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    lr_mult = list(cfg.train.lr_mult)
    for patterns, factor in (
        (FUSION_PARAMS, cfg.train.fusion_lr_scale),
        (TEMPORAL_PARAMS, cfg.train.temporal_lr_scale),
    ):
        if factor != 1.0:
            lr_mult += [(p, factor) for p in patterns if any(fnmatch.fnmatchcase(n, p) for n in names)]
    try:
        return build_optimizer(
            model, cfg.train, layer_ids=layer_ids, max_layer_id=max(all_ids.values()), lr_mult=lr_mult
        )
    except ValueError as err:  # a train.lr_mult / train.lr_hold pattern that matches no parameter
        raise ConfigError(f"train.{err}") from err


def _write_config(cfg: Config, out_dir: Path) -> None:
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def train(
    cfg: Config,
    *,
    resume: bool = True,
    progress: bool = True,
    evaluate: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` and return a summary (steps, final losses, last evaluation, exported model files).

    Args:
        resume: continue from ``train.out_dir/last.pt`` when it exists (same run: model, optimiser, scaler,
            schedule, sampler position and RNG states).
        progress: show a progress bar (rank 0).
        evaluate: validate every ``train.val_every_epochs`` epochs on ``data.val_ann`` and keep ``best``.
        log: receives the lines a user should see (main process only): "resuming ... from step N", the
            settings that differ from the saved run, "already finished".

    Raises:
        CheckpointError: resuming a run whose model differs (raised before any file is written).
        TrainingInterrupted: SIGINT / SIGTERM; ``last`` was written at the step it names.
    """
    say = log if (log is not None and is_main_process()) else (lambda line: None)
    out_dir = Path(cfg.train.out_dir)
    changes = check_resume(cfg, out_dir) if resume else None
    device = init_distributed(cfg.train.device)
    try:
        seed_everything(cfg.train.seed + get_rank())
        root = Path(cfg.data.root)
        train_sequences = read_sequences(root / cfg.data.train_ann, format=cfg.data.format)
        dataset = build_dataset(cfg, train_sequences, train=True, hold_crops=crop_holder(cfg))
        if len(dataset) == 0:
            raise ConfigError(f"{root / cfg.data.train_ann}: no training windows (no labelled persons)")

        model = build_model(cfg.model)
        if cfg.model.init_from:
            init_from_checkpoint(model, cfg.model.init_from)
        optimizer = pose_optimizer(model, cfg)

        eval_fn = None
        if evaluate:
            val_sequences = read_sequences(root / cfg.data.val_ann, format=cfg.data.format)

            def eval_fn(m: nn.Module) -> dict[str, float]:
                return evaluate_split(m, cfg, device=device, sequences=val_sequences).metrics()

        hooks = default_hooks(
            cfg.train, eval_fn=eval_fn, best_metric="ap" if evaluate else None, progress=progress
        )
        if hasattr(getattr(model, "smml", None), "gate"):
            hooks.append(FusionMonitor(model))
        workers = usable_workers(cfg.data.num_workers)
        if workers < cfg.data.num_workers:
            say(f"data.num_workers {cfg.data.num_workers} -> {workers}: the CPUs this process may use")
        loader = EpochLoader(
            dataset,
            cfg.train.batch_size,
            seed=cfg.train.seed,
            num_workers=workers,
            pin_memory=device.type == "cuda",
        )
        trainer = Trainer(
            model,
            loader,
            optimizer,
            pose_step,
            cfg.train,
            hooks=hooks,
            device=device,
            extra_state={"config": config_to_dict(cfg)},
        )
        if is_main_process():
            _write_config(cfg, out_dir)
        say(
            f"{len(dataset)} training windows from {len(train_sequences)} sequences; "
            f"{trainer.steps_per_epoch} steps per epoch (batch {cfg.train.batch_size} x {get_world_size()} "
            f"process(es)), {trainer.total_steps} steps in all"
        )
        start_step = 0
        finished = False
        if resume and trainer.resume():
            start_step = trainer.step
            say(f"resuming {cfg.name} ({out_dir}) from step {trainer.step} of {trainer.total_steps}")
            for key, old, new in changes or []:
                say(f"  {key}: {old!r} -> {new!r} (differs from the saved run)")
            finished = trainer.step >= trainer.total_steps
            if finished:
                say(
                    f"{out_dir}: the run is already finished (step {trainer.step} of {trainer.total_steps}); "
                    "nothing to train. Raise train.epochs / train.max_steps to continue it, or start over "
                    "with --no-resume or another train.out_dir"
                )
        if not finished:
            trainer.train()

        files = {}
        if is_main_process():
            # The exported weights are the evaluated ones: the EMA average when train.ema_decay > 0.
            last = trainer.ema.module if trainer.ema is not None else trainer.module
            files["last"] = str(save_model(last, cfg, out_dir / "model_last.safetensors"))
            best = trainer.checkpointer.best
            if best is not None:
                state = trainer.checkpointer.load(best)
                best_model = build_model(cfg.model)
                weights = state["ema"]["module"] if state["ema"] else state["model"]
                load_model_state(best_model, weights, source=str(best))
                files["best"] = str(save_model(best_model, cfg, out_dir / "model_best.safetensors"))
        result = {
            "steps": trainer.step,
            "start_step": start_step,
            "total_steps": trainer.total_steps,
            "already_finished": finished,
            "epochs": trainer.epoch,
            "last_eval": trainer.last_eval,
            "files": files,
            "config": dataclasses.asdict(cfg.train),
        }
    except BaseException:
        cleanup(synchronize=False)  # a failed peer would never reach a barrier
        raise
    cleanup()  # every rank leaves together (rank 0 has just written the model files)
    return result
