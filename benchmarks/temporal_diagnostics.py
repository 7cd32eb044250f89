"""What a trained temporal model does with its frames: attention over the T frames and the fusion's mix.

    python benchmarks/temporal_diagnostics.py MODEL [MODEL ...] [--recipe CONFIG] [--windows 128]

For each temporal model file, on evenly spaced windows of the synthetic test split (GT boxes, eval mode, no
flip), with the key frame as recorded ("clean") and blacked out ("black"):

- **attention over frames**: in every attention layer of the MLSME, the attention probability that the key
  frame's tokens put on each of the T frames (joint space-time layers: summed over a frame's N tokens;
  divided layers: the temporal attention of each position), averaged over tokens, heads and windows. A
  model that ignores its neighbours puts ~1 on the key frame; uniform is 1 / T;
- **motion pooling**: the mean softmax weight of each frame in the learned pooling over T (if any);
- **fusion**: SMML's output is ``Fs' + gamma (1 - W)(Fm' - Fs')``; the table gives mean W, mean |gamma| and
  the size of the motion correction ``|gamma (1 - W)(Fm' - Fs')| / |Fs'|`` (L2 norms per token, averaged).

Writes ``benchmarks/results/temporal-diagnostics-cpu2.md`` (and ``.json``). Attention probabilities are
recomputed from each layer's input with the layer's own q/k projections (SDPA does not return them).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _attention_probs(module, x):  # noqa: ANN001, ANN202
    """An :class:`~vidpose.models.blocks.Attention` layer's probabilities on input x [B, L, D] ->
    [B, heads, L, L]."""
    from vidpose.models.blocks import split_heads

    q, k, _ = split_heads(module.qkv(x), 3, module.num_heads).unbind(0)
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)


def diagnose(model, batches, num_frames: int, grid: tuple[int, int]) -> dict:  # noqa: ANN001
    """Run ``model`` (temporal, eval mode) over ``batches`` of clips [B, T, 3, H, W]; the statistics above."""
    import torch

    from vidpose.models.blocks import DividedSpaceTimeBlock

    T, N, key = num_frames, grid[0] * grid[1], num_frames // 2
    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(T))
    counts: dict[str, int] = defaultdict(int)
    handles = []
    mlsme = model.mlsme
    layers = [(f"patch{i}", b) for i, b in enumerate(mlsme.patch_blocks)]
    layers += [(f"frame{i}", b) for i, b in enumerate(mlsme.frame_blocks)]
    for name, block in layers:
        if isinstance(block, DividedSpaceTimeBlock):

            def time_hook(module, args, name=name):  # noqa: ANN001, ANN202
                p = _attention_probs(module, args[0])  # [B * N, heads, T, T]
                sums[f"{name} (temporal)"] += p[:, :, key].mean(dim=(0, 1)).double().numpy()
                counts[f"{name} (temporal)"] += 1

            handles.append(block.attn_time.register_forward_pre_hook(time_hook))
        else:

            def joint_hook(module, args, name=name):  # noqa: ANN001, ANN202
                p = _attention_probs(module, args[0])  # [B, heads, T * N, T * N]
                rows = p[:, :, key * N : (key + 1) * N]  # the key frame's queries
                per_frame = rows.reshape(*rows.shape[:3], T, N).sum(dim=-1)  # [B, heads, N, T]
                sums[f"{name} (joint)"] += per_frame.mean(dim=(0, 1, 2)).double().numpy()
                counts[f"{name} (joint)"] += 1

            handles.append(block.attn.register_forward_pre_hook(joint_hook))
    if mlsme.pool_score is not None:

        def pool_hook(module, args, out):  # noqa: ANN001, ANN202
            sums["motion pooling"] += out.softmax(dim=1).mean(dim=(0, 2, 3)).double().numpy()
            counts["motion pooling"] += 1

        handles.append(mlsme.pool_score.register_forward_hook(pool_hook))
    fusion = {"W": [], "gamma": [], "correction": []}
    smml = model.smml
    combine = smml.combine

    def recording_combine(fs, fm):  # noqa: ANN001, ANN202
        out = combine(fs, fm)
        if hasattr(smml, "gate"):
            h, w = grid
            pair = torch.cat([fs, fm], dim=-1).transpose(1, 2).reshape(fs.shape[0], -1, h, w)
            fusion["W"].append(float(smml.gate(pair).sigmoid().mean()))
        corr = (out - fs).norm(dim=-1) / fs.norm(dim=-1).clamp(min=1e-12)
        fusion["correction"].append(float(corr.mean()))
        if hasattr(smml, "fusion_scale"):
            fusion["gamma"].append(float(smml.fusion_scale.abs().mean()))
        return out

    smml.combine = recording_combine
    try:
        with torch.no_grad():
            for clip in batches:
                model(clip)
    finally:
        del smml.combine
        for h in handles:
            h.remove()
    return {
        "attention": {k: (sums[k] / counts[k]).tolist() for k in sums},
        "fusion": {k: float(np.mean(v)) if v else None for k, v in fusion.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="temporal vidpose model files")
    parser.add_argument("--recipe", default=str(REPO / "configs" / "synthetic" / "stage2_robust.yaml"))
    parser.add_argument("--split", default="test/annotations", help="data.val_ann of the recipe's data root")
    parser.add_argument("--windows", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "temporal-diagnostics-cpu2"))
    args = parser.parse_args()

    import torch

    from vidpose.config import load_config
    from vidpose.data.dataset import build_dataset
    from vidpose.data.posetrack import read_sequences
    from vidpose.fileio import atomic_write_json, atomic_write_text
    from vidpose.models.serialization import load_model
    from vidpose.tasks.evaluate import checkpoint_eval_config, crop_holder

    recipe = load_config(args.recipe, [f"data.val_ann={args.split}", "data.val_boxes=gt"])
    lines = [
        "# Temporal diagnostics: attention over frames and the fusion's mix",
        "",
        f"- made by `python benchmarks/temporal_diagnostics.py` on {args.windows} evenly spaced windows of "
        f"`{recipe.data.root}/{args.split}` (GT boxes, eval mode, no flip); torch threads "
        f"{torch.get_num_threads()}",
        "- attention: probability the key frame's tokens put on frames t-2 .. t+2 (uniform = 0.20); "
        "fusion: mean gate W, mean |gamma|, |gamma (1 - W)(Fm' - Fs')| / |Fs'|",
        "",
    ]
    results = {}
    for path in args.models:
        model, embedded = load_model(path)
        model.eval()
        cfg, _ = checkpoint_eval_config(recipe, embedded)
        T = len(cfg.data.frame_offsets)
        sequences = read_sequences(Path(cfg.data.root) / cfg.data.val_ann, format=cfg.data.format)
        name = Path(path).parent.name if Path(path).stem.startswith("model") else Path(path).stem
        results[name] = {}
        lines += [f"## `{path}`", "", "| condition | layer | " + " | ".join(f"t{o:+d}" for o in
                  cfg.data.frame_offsets) + " |", "|---" * (T + 2) + "|"]  # fmt: skip
        fusion_rows = []
        for cond in ("clean", "black"):
            c = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, key_frame=cond))
            dataset = build_dataset(c, sequences, train=False, hold_crops=crop_holder(c))
            picks = np.linspace(0, len(dataset) - 1, min(args.windows, len(dataset))).round().astype(int)
            clips = [dataset[int(i)]["clip"] for i in picks]
            batches = [torch.stack(clips[i : i + args.batch]) for i in range(0, len(clips), args.batch)]
            stats = diagnose(model, batches, T, model.grid)
            results[name][cond] = stats
            for layer, probs in stats["attention"].items():
                lines.append(f"| {cond} | {layer} | " + " | ".join(f"{p:.3f}" for p in probs) + " |")
            f = stats["fusion"]
            fusion_rows.append(
                f"| {cond} | "
                + " | ".join("" if f[k] is None else f"{f[k]:.4f}" for k in ("W", "gamma", "correction"))
                + " |"
            )
        lines += ["", "| condition | mean W | mean abs gamma | correction / Fs' |", "|---|---|---|---|"]
        lines += [*fusion_rows, ""]
        print("\n".join(lines), flush=True)
    atomic_write_text(Path(args.out + ".md"), "\n".join(lines) + "\n")
    atomic_write_json(Path(args.out + ".json"), results, indent=2)


if __name__ == "__main__":
    main()
