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
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from ..config import Config, config_to_dict
from ..data.dataset import build_dataset
from ..data.posetrack import read_sequences
from ..errors import CheckpointError, ConfigError
from ..fileio import atomic_write_text
from ..models import build_model
from ..models.serialization import load_model, save_model
from ..models.weights import load_backbone_and_head
from .checkpoint import load_model_state
from .distributed import cleanup, get_rank, init_distributed, is_main_process, unwrap
from .hooks import default_hooks
from .optim import build_optimizer
from .pose_eval import evaluate_split
from .sampler import EpochLoader
from .trainer import Trainer, seed_everything

__all__ = ["train", "init_from_checkpoint", "pose_step"]


def pose_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One forward through the (possibly DDP-wrapped) model and the model's named, weighted losses."""
    outputs = model(batch["clip"])
    return unwrap(model).loss(outputs, batch["target"], batch["target_weight"])


#: Backbone settings that change the numbers without changing any weight's shape.
NUMERIC_VIT_FIELDS = ("norm_eps", "activation", "qkv_bias", "patch_padding", "num_heads")


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
            theirs, ours = getattr(source_cfg.model.vit, name), getattr(target_vit, name)
            if theirs != ours:
                raise CheckpointError(
                    f"model.init_from: {path} was built with model.vit.{name}={theirs!r}, the recipe says "
                    f"{ours!r}; set model.vit.{name}={theirs!r} in the recipe (or an override)"
                )
    state = {k: v for k, v in source.state_dict().items() if k.startswith(("backbone.", "head."))}
    load_backbone_and_head(model, state, where=str(path))


def _write_config(cfg: Config, out_dir: Path) -> None:
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def train(
    cfg: Config, *, resume: bool = True, progress: bool = True, evaluate: bool = True
) -> dict[str, Any]:
    """Train ``cfg`` and return a summary (steps, final losses, last evaluation, exported model files).

    Args:
        resume: continue from ``train.out_dir/last.pt`` when it exists (same run: model, optimiser, scaler,
            schedule, sampler position and RNG states).
        progress: show a progress bar (rank 0).
        evaluate: validate every ``train.val_every_epochs`` epochs on ``data.val_ann`` and keep ``best``.
    """
    device = init_distributed(cfg.train.device)
    try:
        seed_everything(cfg.train.seed + get_rank())
        out_dir = Path(cfg.train.out_dir)
        root = Path(cfg.data.root)
        train_sequences = read_sequences(root / cfg.data.train_ann, format=cfg.data.format)
        dataset = build_dataset(cfg, train_sequences, train=True)
        if len(dataset) == 0:
            raise ConfigError(f"{root / cfg.data.train_ann}: no training windows (no labelled persons)")

        model = build_model(cfg.model)
        if cfg.model.init_from:
            init_from_checkpoint(model, cfg.model.init_from)
        layer_ids = model.layer_ids()
        optimizer = build_optimizer(
            model, cfg.train, layer_ids=layer_ids, max_layer_id=max(layer_ids.values())
        )

        eval_fn = None
        if evaluate:
            val_sequences = read_sequences(root / cfg.data.val_ann, format=cfg.data.format)

            def eval_fn(m: nn.Module) -> dict[str, float]:
                return evaluate_split(m, cfg, device=device, sequences=val_sequences).metrics()

        hooks = default_hooks(
            cfg.train, eval_fn=eval_fn, best_metric="ap" if evaluate else None, progress=progress
        )
        loader = EpochLoader(
            dataset,
            cfg.train.batch_size,
            seed=cfg.train.seed,
            num_workers=cfg.data.num_workers,
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
        if resume:
            trainer.resume()
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
        return {
            "steps": trainer.step,
            "epochs": trainer.epoch,
            "last_eval": trainer.last_eval,
            "files": files,
            "config": dataclasses.asdict(cfg.train),
        }
    finally:
        cleanup()
