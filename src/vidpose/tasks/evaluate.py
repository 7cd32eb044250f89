"""Evaluate a pose model on a dataset split: windows -> model (flip test) -> poseval-ready files -> native
PoseTrack evaluator -> report (JSON, table, per-joint AP chart).

The same function serves ``vidpose evaluate`` and the periodic validation during training, so the numbers a
run logs are the numbers ``evaluate`` prints.

Legend: B windows in a batch, T frames, K joints, (h, w) heatmap size.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..codec import HeatmapCodec
from ..config import Config, config_to_dict
from ..data.dataset import CropHolder, PoseTrackWindows, build_dataset
from ..data.posetrack import read_sequences
from ..data.posetrack_writer import write_predictions
from ..data.records import Person, Sequence
from ..data.synthetic.labels import hard_frames
from ..engine.distributed import (
    all_gather_object,
    cleanup,
    get_rank,
    get_world_size,
    init_distributed,
    is_distributed,
    is_main_process,
)
from ..engine.sampler import usable_workers
from ..errors import DataFormatError
from ..evaluation import APResult, evaluate_ap, format_diagnosis, format_table, match_sequences
from ..evaluation.error_diagnosis import diagnose_matches
from ..evaluation.posetrack_ap import ap_from_matches
from ..evaluation.report import TABLE_COLUMNS as REPORT_COLUMNS
from ..evaluation.report import diagnosis_dict, table_values
from ..fileio import atomic_write_json, atomic_write_with
from ..inference.crops import hold_crops
from ..inference.estimator import WindowEstimator
from ..skeleton import POSEVAL_NAMES
from ..state_dicts import unwrap

__all__ = [
    "EvalSummary",
    "predict_windows",
    "evaluate_split",
    "evaluate_checkpoint",
    "checkpoint_eval_config",
    "MODEL_DATA_FIELDS",
]

TABLE_COLUMNS = (*REPORT_COLUMNS, "Total")


def predict_windows(
    model: nn.Module,
    dataset: PoseTrackWindows,
    codec: HeatmapCodec,
    *,
    flip_test: bool,
    batch_size: int,
    device: torch.device,
    precision: str = "float32",
    num_workers: int = 0,
) -> dict[str, np.ndarray]:
    """Run the model over every window of ``dataset`` through the one estimator
    (:class:`~vidpose.inference.estimator.WindowEstimator`, also behind ``vidpose predict``).

    Under DDP each process runs the windows ``rank, rank + world, ...`` and the results are gathered, so
    every process returns all windows, in window order, as one process would.

    Returns numpy arrays over all windows W: ``keypoints`` [W, K, 3] (x, y, joint score) in image pixels with
    joint score = heatmap maximum x box score, ``box`` [W, 4], ``box_score`` [W], ``sequence_index``,
    ``frame_index``, ``track_id``, ``window_index`` [W].
    """
    if len(dataset) == 0:
        raise DataFormatError("the evaluation split has no windows (no labelled persons / boxes)")
    rank, world = get_rank(), get_world_size()
    shard = dataset if world == 1 else Subset(dataset, range(rank, len(dataset), world))
    loader = DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    bare = unwrap(model)
    was_training = bare.training
    estimator = WindowEstimator(bare, codec, flip_test=flip_test, precision=precision)  # eval mode
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    try:
        for batch in loader:
            clip = batch["clip"].to(device, non_blocking=True)
            out["keypoints"].append(estimator.estimate(clip, batch["inv_affine"], batch["box_score"]))
            for key in WINDOW_KEYS[1:]:
                out[key].append(batch[key].numpy())
    finally:
        bare.train(was_training)
    local = {k: np.concatenate(out[k]) if out[k] else np.zeros((0,)) for k in WINDOW_KEYS}
    if world == 1:
        return local
    parts = [p for p in all_gather_object(local) if len(p["window_index"])]
    merged = {k: np.concatenate([p[k] for p in parts]) for k in WINDOW_KEYS}
    order = np.argsort(merged["window_index"], kind="stable")
    return {k: v[order] for k, v in merged.items()}


#: the per-window arrays of :func:`predict_windows`
WINDOW_KEYS = ("keypoints", "box", "box_score", "sequence_index", "frame_index", "track_id", "window_index")


#: Data settings that are part of the model (its input preprocessing): evaluation of a model file takes them
#: from the file's embedded config, with ``model`` and ``codec``; the recipe gives the data and the rest.
MODEL_DATA_FIELDS = ("frame_offsets", "bbox_scale", "mean", "std", "crop_hold")


def _flat(data: Any, prefix: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in _flat(value, f"{prefix}.{key}").items()}
    return {prefix: data}


def checkpoint_eval_config(recipe: Config, embedded: Config) -> tuple[Config, list[str]]:
    """The config a model file is evaluated with: ``model``, ``codec`` and the model's preprocessing
    (:data:`MODEL_DATA_FIELDS`) from the file's ``embedded`` config; data paths, boxes, workers, ``eval`` and
    the rest from the ``recipe``. Also returns the recipe's settings that differed and were replaced."""
    data = dataclasses.replace(recipe.data, **{k: getattr(embedded.data, k) for k in MODEL_DATA_FIELDS})
    cfg = dataclasses.replace(recipe, model=embedded.model, codec=embedded.codec, data=data)
    old, new = config_to_dict(recipe), config_to_dict(cfg)
    changed = []
    for section in ("model", "codec", "data"):
        a, b = _flat(old[section], section), _flat(new[section], section)
        changed += [k for k in b if a.get(k) != b[k]]
    return cfg, changed


def crop_holder(cfg: Config) -> CropHolder:
    """``data.crop_hold``'s crops for :func:`~vidpose.data.dataset.build_dataset`: the crop stabiliser of
    ``predict --share`` with the recipe's input size, ``data.bbox_scale`` and ``eval.crop_hold_*``."""
    return functools.partial(
        hold_crops,
        input_size=tuple(cfg.codec.input_size),
        bbox_scale=cfg.data.bbox_scale,
        margin=cfg.eval.crop_hold_margin,
        scale_tol=cfg.eval.crop_hold_scale_tol,
    )


def _persons_per_frame(sequences: list[Sequence], pred: dict[str, np.ndarray]) -> list[list[list[Person]]]:
    """Group window predictions into per-sequence, per-frame person lists with ids unique per frame.

    GT-box windows keep their GT track ids; a frame with detection windows (track id -1) numbers its persons
    0, 1, ... (AP ignores ids; tracking results come from ``vidpose predict``'s tracker)."""
    grouped: list[list[list[Person]]] = [[[] for _ in s.frames] for s in sequences]
    for i in range(len(pred["keypoints"])):
        s, f = int(pred["sequence_index"][i]), int(pred["frame_index"][i])
        kp = pred["keypoints"][i].astype(np.float64)
        grouped[s][f].append(
            Person(
                keypoints=kp,
                box=pred["box"][i].astype(np.float64),
                track_id=int(pred["track_id"][i]),
                score=float(pred["box_score"][i]),
                joint_scores=kp[:, 2].copy(),
            )
        )
    for frames in grouped:
        for persons in frames:
            ids = [p.track_id for p in persons]
            if min(ids, default=0) < 0 or len(set(ids)) != len(ids):
                for i, p in enumerate(persons):
                    p.track_id = i
    return grouped


def _ap_dict(result: APResult) -> dict[str, Any]:
    table = table_values(result.ap)
    return {
        "table": dict(zip(TABLE_COLUMNS, table, strict=True)),
        "per_joint": {n: float(v) for n, v in zip(POSEVAL_NAMES, result.ap[:-1], strict=True)},
        "total": float(result.ap[-1]),
    }


@dataclass
class EvalSummary:
    """What :func:`evaluate_split` measured.

    Attributes:
        ap: AP on all labelled frames; ap_hard: on the frames with a ``hard`` person (synthetic data only).
        report: the JSON-ready report; table: poseval's printed table; windows: the per-window predictions
        of :func:`predict_windows`; files: what was written (by the main process only).
    """

    ap: APResult
    ap_hard: APResult | None
    report: dict[str, Any]
    table: str
    windows: dict[str, np.ndarray] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    diagnosis: str | None = None

    def metrics(self) -> dict[str, float]:
        """Scalars for logging: ``ap`` (Total) and ``ap_hard`` when available."""
        m = {"ap": float(self.ap.ap[-1])}
        if self.ap_hard is not None:
            m["ap_hard"] = float(self.ap_hard.ap[-1])
        return m


def evaluate_split(
    model: nn.Module,
    cfg: Config,
    *,
    out_dir: str | Path | None = None,
    boxes: str | None = None,
    flip_test: bool | None = None,
    device: torch.device | str = "cpu",
    sequences: list[Sequence] | None = None,
    checkpoint: str | None = None,
    from_checkpoint: list[str] | None = None,
    diagnose: bool = False,
) -> EvalSummary:
    """Evaluate ``model`` on the validation split of ``cfg.data`` with the native PoseTrack evaluator.

    Args:
        out_dir: where to write ``predictions/<seq>.json``, ``report.json`` and ``per_joint_ap.png``; None
            writes nothing (validation during training). Under DDP every process evaluates its share of the
            windows (:func:`predict_windows`) and gets the whole result; only the main process writes.
        boxes: "gt" or a detection file (relative to ``data.root``); None = ``data.val_boxes``.
        flip_test: None = ``eval.flip_test``.
        sequences: the GT sequences (None = read ``data.root / data.val_ann``).
        checkpoint, from_checkpoint: recorded in the report (the model file, and the recipe settings its
            embedded config replaced).
        diagnose: also diagnose the AP's errors (:func:`vidpose.evaluation.diagnose_errors`, all frames):
            ``report["diagnosis"]`` and the tables in ``summary.diagnosis``.
    """
    device = torch.device(device)
    t0 = time.perf_counter()
    if boxes is not None:
        cfg = _replace_data(cfg, val_boxes=boxes)
    flip = cfg.eval.flip_test if flip_test is None else flip_test
    if sequences is None:
        sequences = read_sequences(Path(cfg.data.root) / cfg.data.val_ann, format=cfg.data.format)
    dataset = build_dataset(cfg, sequences, train=False, hold_crops=crop_holder(cfg))
    codec = HeatmapCodec(cfg.codec)
    pred = predict_windows(
        model,
        dataset,
        codec,
        flip_test=flip,
        batch_size=cfg.eval.batch_size,
        device=device,
        precision=cfg.eval.precision,
        num_workers=usable_workers(cfg.data.num_workers),
    )
    grouped = _persons_per_frame(sequences, pred)
    pred_seqs = [
        Sequence(
            name=s.name,
            frames=[
                type(f)(**{**f.__dict__, "persons": ps}) for f, ps in zip(s.frames, persons, strict=True)
            ],
            format="pt18",
        )
        for s, persons in zip(sequences, grouped, strict=True)
    ]
    mode = "pt21" if cfg.data.format == "pt21" else "pt18"
    matches = match_sequences(sequences, pred_seqs, mode)
    ap = ap_from_matches(matches, mode)

    hard = [hard_frames(s) for s in sequences]
    ap_hard = None
    if all(h is not None for h in hard) and any(hard):
        keep = [(s, p, h) for s, p, h in zip(sequences, pred_seqs, hard, strict=True) if h]
        ap_hard = evaluate_ap([s.only_frames(h) for s, _, h in keep], [p for _, p, _ in keep], mode=mode)

    seconds = time.perf_counter() - t0
    report: dict[str, Any] = {
        "config": cfg.name,
        "checkpoint": checkpoint,
        "from_checkpoint": list(from_checkpoint or []),
        "boxes": cfg.data.val_boxes,
        "flip_test": flip,
        "precision": cfg.eval.precision,
        "key_frame": cfg.data.key_frame,
        "readout": getattr(model, "readout", "fused"),
        "mode": mode,
        "sequences": len(sequences),
        "windows": int(len(pred["keypoints"])),
        "seconds": round(seconds, 2),
        "ap": _ap_dict(ap),
    }
    if ap_hard is not None:
        report["ap_hard"] = _ap_dict(ap_hard)
        report["hard_frames"] = int(sum(len(h) for h in hard if h))
    table = format_table(ap)
    summary = EvalSummary(ap=ap, ap_hard=ap_hard, report=report, table=table, windows=pred)
    if diagnose:
        diagnosis = diagnose_matches(matches, mode)
        report["diagnosis"] = diagnosis_dict(diagnosis)
        summary.diagnosis = format_diagnosis(diagnosis)
    if out_dir is not None and is_main_process():
        out_dir = Path(out_dir)
        for s, persons in zip(sequences, grouped, strict=True):
            summary.files.append(write_predictions(s, persons, out_dir / "predictions"))
        report["resolved_config"] = config_to_dict(cfg)
        summary.files.append(atomic_write_json(out_dir / "report.json", report, indent=2))
        summary.files.append(plot_per_joint_ap(report, out_dir / "per_joint_ap.png"))
    return summary


def evaluate_checkpoint(
    checkpoint: str | Path,
    cfg: Config,
    *,
    out_dir: str | Path | None = None,
    boxes: str | None = None,
    flip_test: bool | None = None,
    device: torch.device | str = "cpu",
    readout: str = "fused",
    diagnose: bool = False,
) -> EvalSummary:
    """:func:`evaluate_split` of the model in the vidpose model file ``checkpoint``, with the model, codec and
    preprocessing of the file's embedded config and the data and evaluation settings of ``cfg``
    (:func:`checkpoint_eval_config`; the replaced recipe settings are listed in the report under
    ``from_checkpoint``). ``readout``: "fused", or "motion" for the motion branch's own head (a diagnostic);
    ``diagnose``: see :func:`evaluate_split`.
    Under torchrun the processes share the windows (joined here, left at the end)."""
    from ..models.serialization import load_model

    joined = not is_distributed()
    device = init_distributed(str(device))
    try:
        model, embedded = load_model(checkpoint, device=device)
        model.readout = readout
        eval_cfg, replaced = checkpoint_eval_config(cfg, embedded)
        summary = evaluate_split(
            model,
            eval_cfg,
            out_dir=out_dir,
            boxes=boxes,
            flip_test=flip_test,
            device=device,
            checkpoint=str(checkpoint),
            from_checkpoint=replaced,
            diagnose=diagnose,
        )
    except BaseException:
        if joined:
            cleanup(synchronize=False)  # a failed peer would never reach a barrier
        raise
    if joined:
        cleanup()
    return summary


def _replace_data(cfg: Config, **changes: Any) -> Config:
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **changes))


def plot_per_joint_ap(report: dict[str, Any], path: Path) -> Path:
    """A bar chart of per-joint AP (and of the hard subset when present), written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["ap"]["per_joint"])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    series = [("all frames", report["ap"])] + (
        [("hard subset", report["ap_hard"])] if "ap_hard" in report else []
    )
    width = 0.8 / len(series)
    for i, (label, ap) in enumerate(series):
        values = [ap["per_joint"][n] for n in names]
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width, values, width, label=f"{label} (Total {ap['total']:.1f})"
        )
    ax.set_xticks(x, [n.replace("_", " ") for n in names], rotation=45, ha="right")
    ax.set_ylabel("AP (%)")
    ax.set_ylim(0, 100)
    ax.set_title(
        f"{report['config']}: per-joint AP ({report['boxes']} boxes, flip test {report['flip_test']})"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        return atomic_write_with(path, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)
