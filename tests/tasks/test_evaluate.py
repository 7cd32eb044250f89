"""vidpose evaluate: model, codec and preprocessing from the model file's embedded config (the recipe gives
the data), its own precision setting (eval.precision), data.num_workers honoured, and under DDP the windows
shared between processes and gathered (2 gloo processes give what one process gives)."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from vidpose.config import load_config
from vidpose.data.synthetic import SynthConfig, generate_split
from vidpose.engine.sampler import usable_workers
from vidpose.inference.estimator import WindowEstimator
from vidpose.models.serialization import load_model
from vidpose.tasks import evaluate
from vidpose.tasks.demo import bundled_checkpoint
from vidpose.tasks.evaluate import checkpoint_eval_config, evaluate_checkpoint, evaluate_split

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval_split")
    generate_split(root, "val", 1, 4242, SynthConfig(frames_per_clip=4, people_range=(2, 2)))
    return root


def _recipe(root: Path, *extra: str):
    return load_config(
        REPO / "configs" / "synthetic_nano.yaml",
        [f"data.root={root}", "data.val_ann=val/annotations", "data.val_boxes=gt", *extra],
    )


def test_model_codec_and_preprocessing_come_from_the_checkpoint(split, tmp_path):
    _, embedded = load_model(bundled_checkpoint("single_frame"))
    # a recipe whose model, codec and preprocessing disagree with the file
    recipe = _recipe(
        split,
        "model.vit.depth=1",
        "codec.sigma=3.5",
        "data.bbox_scale=1.6",
        "data.num_workers=0",
        "eval.batch_size=7",
    )
    cfg, replaced = checkpoint_eval_config(recipe, embedded)
    assert cfg.model == embedded.model and cfg.codec == embedded.codec
    assert cfg.data.bbox_scale == embedded.data.bbox_scale and cfg.data.mean == embedded.data.mean
    assert cfg.data.root == str(split) and cfg.eval.batch_size == 7  # the recipe's data and eval settings
    assert {"model.vit.depth", "codec.sigma", "data.bbox_scale"} <= set(replaced)

    summary = evaluate_checkpoint(bundled_checkpoint("single_frame"), recipe, out_dir=tmp_path / "a")
    assert "data.bbox_scale" in summary.report["from_checkpoint"]
    right = evaluate_checkpoint(
        bundled_checkpoint("single_frame"), dataclasses.replace(recipe, data=cfg.data, codec=cfg.codec)
    )
    assert summary.ap.ap[-1] == pytest.approx(right.ap.ap[-1], abs=1e-9) and summary.ap.ap[-1] > 5


def test_precision_and_workers_are_evaluations_own_settings(split, monkeypatch):
    model, embedded = load_model(bundled_checkpoint("single_frame"))
    recipe = _recipe(split, "train.amp=true", "data.num_workers=3", "eval.precision=bfloat16")
    cfg, _ = checkpoint_eval_config(recipe, embedded)
    seen = []

    def loader(*args, **kwargs):
        seen.append(kwargs["num_workers"])
        return DataLoader(*args, **{**kwargs, "num_workers": 0})

    class Recording(WindowEstimator):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs["precision"])
            super().__init__(*args, **{**kwargs, "precision": "float32"})  # bf16 on CPU is slow

    monkeypatch.setattr(evaluate, "DataLoader", loader)
    monkeypatch.setattr(evaluate, "WindowEstimator", Recording)
    # 3 workers where the CPUs allow them (the count is capped at this process's share: usable_workers)
    monkeypatch.setattr(evaluate, "usable_workers", lambda n: usable_workers(n, cpus=8, local_processes=1))
    summary = evaluate_split(model, cfg)
    assert seen == [3, "bfloat16"] and summary.report["precision"] == "bfloat16"
    seen.clear()
    evaluate_split(model, dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, precision="float32")))
    assert seen == [3, "float32"]  # train.amp does not switch evaluation to bf16
    seen.clear()
    monkeypatch.setattr(evaluate, "usable_workers", lambda n: usable_workers(n, cpus=2, local_processes=1))
    evaluate_split(model, cfg)
    assert seen == [2, "bfloat16"]  # on 2 CPUs the 3 workers asked for become 2


# --------------------------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _eval_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    summary = evaluate_checkpoint(
        bundled_checkpoint("single_frame"),
        _recipe(Path(root), "eval.batch_size=3"),
        out_dir=Path(out) / "ddp",
    )
    torch.save(
        {"ap": summary.ap.ap.tolist(), "keypoints": torch.from_numpy(summary.windows["keypoints"])},
        Path(out) / f"rank{rank}.pt",
    )


def test_two_gloo_processes_share_the_windows_and_give_the_same_ap(split, tmp_path):
    single = evaluate_checkpoint(bundled_checkpoint("single_frame"), _recipe(split, "eval.batch_size=3"))
    mp.spawn(_eval_worker, args=(2, _free_port(), str(split), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        np.testing.assert_allclose(got["keypoints"].numpy(), single.windows["keypoints"], atol=1e-4)
        np.testing.assert_allclose(got["ap"], single.ap.ap, atol=1e-6)
    assert (tmp_path / "ddp" / "report.json").is_file()  # written once, by rank 0
