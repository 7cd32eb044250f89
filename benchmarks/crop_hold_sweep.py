"""What held (shared) crops cost in accuracy and save in backbone work, as the hold tolerances tighten.

    python benchmarks/crop_hold_sweep.py [--model PATH] [--recipe CONFIG] [--split test/annotations]

``predict --share`` (and ``data.crop_hold``) cuts a person's windows with a crop that is held while the box
stays inside it with ``eval.crop_hold_margin`` and its size within ``eval.crop_hold_scale_tol``; a held crop
lets consecutive windows reuse the backbone features of their frames. For each tolerance setting this script
evaluates one model file on the synthetic test split with GT boxes, no flip test, every window cut with the
held crops (the model's own crop rule is replaced; nothing is retrained), and counts the backbone crops a
shared pass needs: the distinct (frame, crop) pairs of all T-frame windows, per window. Without sharing a
window costs T crops. The first row is the model's own rule (every window cut from its key frame's box).

Writes ``benchmarks/results/crop-hold-sweep-cpu2.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: (margin, scale_tol): the defaults first, then tighter holds
SETTINGS = ((0.05, 0.15), (0.07, 0.10), (0.08, 0.05), (0.09, 0.03), (0.095, 0.01))


def crops_per_window(cfg, sequences) -> tuple[float, int]:  # noqa: ANN001
    """Distinct (sequence, frame, crop) pairs of the windows' frames / windows, and the window count."""
    from vidpose.data.dataset import build_dataset
    from vidpose.tasks.evaluate import crop_holder

    dataset = build_dataset(cfg, sequences, train=False, hold_crops=crop_holder(cfg))
    windows = dataset.windows
    pairs = set()
    for w in windows:
        crop = w.crop if w.crop is not None else ("own", w.sequence, w.key_frame, w.track_id)
        pairs.update((w.sequence, f, crop) for f in w.frames)
    return len(pairs) / max(len(windows), 1), len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=str(REPO / "src/vidpose/assets" / "synthetic_single_frame.safetensors")
    )
    parser.add_argument("--recipe", default=str(REPO / "configs/synthetic/stage2_robust.yaml"))
    parser.add_argument("--split", default="test/annotations", help="data.val_ann of the recipe's data root")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/crop-hold-sweep-cpu2.md"))
    args = parser.parse_args()

    import torch

    from vidpose.config import load_config
    from vidpose.data.posetrack import read_sequences
    from vidpose.fileio import atomic_write_text
    from vidpose.models.serialization import load_model
    from vidpose.tasks.evaluate import checkpoint_eval_config, evaluate_split

    recipe = load_config(args.recipe, [f"data.val_ann={args.split}"])
    model, embedded = load_model(args.model)
    base, _ = checkpoint_eval_config(recipe, embedded)
    sequences = read_sequences(Path(base.data.root) / base.data.val_ann, format=base.data.format)
    T = len(base.data.frame_offsets)
    lines = [
        "# Held crops: accuracy against backbone work",
        "",
        f"- made by `python benchmarks/crop_hold_sweep.py`; model `{Path(args.model).name}` (trained with "
        f"`data.crop_hold: {str(embedded.data.crop_hold).lower()}`), not retrained; split "
        f"`{base.data.root}/{base.data.val_ann}`, GT boxes, no flip test; torch threads "
        f"{torch.get_num_threads()}",
        f"- backbone crops per window: distinct (frame, crop) pairs of the {T}-frame windows / windows "
        f"(without sharing: {T})",
        "",
        "| crops | margin | scale tol | AP all | AP hard | backbone crops / window | share of no-share work "
        "| eval s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [("own (key frame's box)", None, None)] + [("held", m, s) for m, s in SETTINGS]
    for label, margin, tol in rows:
        cfg = dataclasses.replace(base, data=dataclasses.replace(base.data, crop_hold=margin is not None))
        if margin is not None:
            cfg = dataclasses.replace(
                cfg, eval=dataclasses.replace(cfg.eval, crop_hold_margin=margin, crop_hold_scale_tol=tol)
            )
        per_window, n = crops_per_window(cfg, sequences)
        t0 = time.perf_counter()
        summary = evaluate_split(model, cfg, boxes="gt", flip_test=False, sequences=sequences)
        seconds = time.perf_counter() - t0
        hard = summary.ap_hard.ap[-1] if summary.ap_hard is not None else float("nan")
        lines.append(
            f"| {label} | {'' if margin is None else margin} | {'' if tol is None else tol} "
            f"| {summary.ap.ap[-1]:.1f} | {hard:.1f} | {per_window:.2f} | {per_window / T:.2f} "
            f"| {seconds:.0f} |"
        )
        print(lines[-1], f"({n} windows)", flush=True)
    atomic_write_text(Path(args.out), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
