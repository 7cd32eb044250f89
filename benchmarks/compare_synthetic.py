"""Compare trained runs on the synthetic benchmark's held-out test split and write a markdown table.

    python benchmarks/compare_synthetic.py runs/synthetic_nano runs/synthetic_nano_single_frame \
        --out benchmarks/results/synthetic-nano-vs-single-frame-cpu2.md

For each run folder: its ``model_best.safetensors`` (chosen on the val split during training) is evaluated
on ``test/annotations`` with GT boxes and the flip test, through the same ``evaluate_split`` as
``vidpose evaluate``; training time and throughput come from the run's ``log.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from pathlib import Path

import torch

from vidpose.config import load_config
from vidpose.engine.pose_eval import evaluate_split
from vidpose.fileio import atomic_write_text
from vidpose.models.serialization import load_model
from vidpose.skeleton import POSEVAL_NAMES

COLUMNS = ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total")


def run_stats(run: Path) -> dict[str, float]:
    """Steps, wall time (first to last logged training step, the evaluations between them included) and mean
    training throughput."""
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "samples_per_s" in r]
    evals = [r for r in records if "eval/ap" in r]
    return {
        "steps": steps[-1]["step"],
        "minutes": (steps[-1]["time"] - steps[0]["time"]) / 60.0,
        "samples_per_s": sum(r["samples_per_s"] for r in steps) / len(steps),
        "best_val_ap": max(r["eval/ap"] for r in evals) if evals else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--split", default="test/annotations")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    rows, joints = [], []
    for run in args.runs:
        cfg = load_config(run / "config.yaml")
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, val_ann=args.split, val_boxes="gt"))
        model, _ = load_model(run / "model_best.safetensors")
        summary = evaluate_split(model, cfg, flip_test=True, out_dir=run / "test_eval")
        stats = run_stats(run)
        rep = summary.report
        hard = rep.get("ap_hard", {"table": {c: float("nan") for c in COLUMNS}})
        rows.append(
            f"| {cfg.name} | {f'T={cfg.model.num_frames}' if cfg.model.temporal else 'T=1'} "
            f"| {rep['ap']['table']['Total']:.1f} | {hard['table']['Total']:.1f} "
            + " ".join(f"| {rep['ap']['table'][c]:.1f}" for c in COLUMNS[:-1])
            + f" | {stats['best_val_ap']:.1f} | {stats['steps']} | {stats['minutes']:.1f} "
            f"| {stats['samples_per_s']:.1f} |"
        )
        joints.append((cfg.name, rep["ap"]["per_joint"], hard.get("per_joint", {})))

    lines = [
        "# Synthetic benchmark: full model vs single-frame baseline (same recipe, budget and seed)",
        "",
        f"- machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}",
        f"- evaluation: `{args.split}` split (held out; the best checkpoint was chosen on val), GT boxes, "
        "flip test, vidpose's poseval-equal evaluator; hard = frames with a person > 40 % occluded or "
        "strongly blurred",
        "- training time: wall clock from the first to the last logged step (validation included);"
        " throughput: mean training samples (windows) per second",
        f"- command: python benchmarks/compare_synthetic.py {' '.join(str(r) for r in args.runs)} "
        f"--out {args.out}",
        "",
        "| config | frames | AP all | AP hard | Head | Shou | Elb | Wri | Hip | Knee | Ankl | best val AP "
        "| steps | train min | windows/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Per-joint AP, all frames / hard subset:",
        "",
        "| joint | " + " | ".join(name for name, _, _ in joints) + " |",
        "|---|" + "---|" * len(joints),
    ]
    for joint in POSEVAL_NAMES:
        cells = [f"{pj[joint]:.1f} / {ph.get(joint, float('nan')):.1f}" for _, pj, ph in joints]
        lines.append(f"| {joint} | " + " | ".join(cells) + " |")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
