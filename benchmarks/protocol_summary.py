"""One table over every round of the synthetic protocol, read from the committed round tables' JSON.

    python benchmarks/protocol_summary.py

Each row is a stage-2 run (a variant, over the seeds that ran) with its AP on all frames, on the hard subset
and with every window's key frame black, and the same three paired by seed with the single-frame run that the
round trains from the same init, data order, augmentation and steps (the round's baseline, or the variant's
own single-frame pair where it has one). Nothing is trained or evaluated here: the numbers are those of
``benchmarks/results/synthetic-protocol*-cpu2.json`` (written by ``benchmarks/synthetic_protocol.py``).

Writes ``benchmarks/results/synthetic-protocol-summary-cpu2.md``.
"""

from __future__ import annotations

import json
import re

from synthetic_protocol import MAIN, RESULTS, ROUNDS, SEEDS, mean_std  # benchmarks/ is on a script's path

from vidpose.fileio import atomic_write_text

#: round -> (stage-2 steps, what every run of the round shares); rounds 2-9 are ``synthetic_protocol.ROUNDS``
ROUND_INFO = {
    1: (120, "from stage 1 (3 epochs); identity start, masks"),
    2: (150, "+ key-frame corruptions, fusion lr 20x"),
    3: (300, "round 2's recipe, twice the steps"),
    4: (300, "round 3's, from a 6-epoch stage 1"),
    5: (300, "round 4's, the mix hold without masks"),
    6: (900, "round 5's pair, 3x the steps"),
    7: (900, "round 6's pair, from an 11-epoch stage 1"),
    8: (900, "round 6's, the window spread to -6..6"),
    9: (300, "round 5's pair, the speed switch ablated"),
}
#: variants compared with their own single-frame pair (the same change without the temporal modules)
OWN_PAIR = {"lr10": "single_frame_lr10", "long_black50": "long_black50_single_frame"}
#: what a variant changes with respect to its round's recipe (the overrides are in the round's table)
CHANGES = {
    "full": "the full model (MLSME + SMML, METHOD.md)",
    "fusion_paper_init": "fusion from the paper's formula (gamma = 1)",
    "key_frame_drop": "20 % of training key frames black",
    "no_frame_mask": "no frame masking",
    "no_pose_recon": "no pose reconstruction",
    "fusion_sum": "fusion by sum",
    "no_cube_mask": "no cube masking",
    "lr10": "10x lr above the backbone",
    "no_context_recon": "no context reconstruction",
    "fusion_concat": "fusion by concat",
    "fusion_cross_attention": "cross-attention only, no gate",
    "single_frame_lr10": "single frame, 10x lr above the backbone (the pair of `lr10`)",
    "long_black50_single_frame": "single frame, 50 % black key frames (the pair of `long_black50`)",
    "robust_full": "the full model",
    "long_full": "the full model",
    "long_temporal_lr10": "10x lr on the temporal modules",
    "long_mlsme_lr10": "10x lr on the MLSME only",
    "long_black50": "50 % of training key frames black",
    "long_gate_hold": "gate held at W = 0.5 for 150 steps",
    "r4_full": "the full model",
    "r4_gate_slow": "gate at 1 % of the lr",
    "r4_no_mask": "no cube or frame masking",
    "r4_mix_hold": "fusion held at the paper's half mix for 150 steps",
    "r4_mix_hold_mlsme_lr10": "mix hold + 10x lr on the MLSME",
    "r4_mix_hold_no_mask": "mix hold, no masking",
    "r5_mix_hold_no_mask": "mix hold, no masking",
    "r5_mix_hold_no_mask_gate20": "mix hold, no masking, gate at 20x lr after it",
    "r6_mix_hold_no_mask_900": "mix hold (450 steps), no masking",
    "r7_mix_hold_no_mask_900": "mix hold (450 steps), no masking",
    "r8_offsets3_900": "round 6's full model, offsets -6, -3, 0, 3, 6",
    "r8_offsets1_900": "round 6's full model (offsets -2..2), the control",
    "r8_offsets2_900": "round 6's full model, offsets -4, -2, 0, 2, 4",
    "r9_mix_hold_no_mask": "round 5's full model (no backbone gradient through the auxiliary frames)",
    "r9_aux_frame_grad": "round 5's full model with backbone gradients through all five frames",
}
CONDS = (("clean", "ap"), ("clean", "ap_hard"), ("black", "ap"))


def round_json(number: int) -> str:
    return "synthetic-protocol-cpu2.json" if number == 1 else f"{ROUNDS[number].stem}.json"


def round_main(number: int) -> tuple[str, str]:
    """(full model, single-frame baseline) of a round."""
    return MAIN if number == 1 else ROUNDS[number].main


def round_entries(number: int) -> dict[str, dict]:
    """run name (``<variant>_s<seed>``) -> its entry in the round's committed JSON."""
    data = json.loads((RESULTS / round_json(number)).read_text())
    entries = data["runs"] if number == 1 else data
    return {name: e for name, e in entries.items() if name != "stage1" and "clean" in e}


def value(entry: dict, cond: str, key: str) -> float | None:
    if cond not in entry or entry[cond][key] is None:
        return None
    return entry[cond][key]["Total"]


def variant_rows(number: int) -> list[str]:
    entries = round_entries(number)
    by_variant: dict[str, dict[int, dict]] = {}
    for name, entry in entries.items():
        match = re.fullmatch(r"(.+)_s(\d+)", name)
        if match is None:
            raise SystemExit(f"{round_json(number)}: run {name!r} is not <variant>_s<seed>")
        by_variant.setdefault(match[1], {})[int(match[2])] = entry
    main, baseline = round_main(number)
    rows = []
    order = sorted(by_variant, key=lambda v: v != main)  # the round's full model first, then as run
    for variant in order:
        seeds = by_variant[variant]
        if variant == baseline:
            continue
        # a variant's own single-frame pair is listed unpaired (it is the reference of its variant)
        own_pair = variant in OWN_PAIR.values()
        pair = {} if own_pair else by_variant.get(OWN_PAIR.get(variant, baseline), {})
        cells = []
        for cond, key in CONDS:
            cells.append(
                mean_std([v for s in SEEDS if s in seeds and (v := value(seeds[s], cond, key)) is not None])
            )
        for cond, key in CONDS:
            diffs = []
            for s in SEEDS:
                if s in seeds and s in pair:
                    a, b = value(seeds[s], cond, key), value(pair[s], cond, key)
                    if a is not None and b is not None:
                        diffs.append(a - b)
            cell = mean_std(diffs)
            cells.append("" if cell == "not run" else ("+" + cell if not cell.startswith("-") else cell))
        paired = len([s for s in seeds if s in pair])
        rows.append(
            f"| {number} | `{variant}` | {CHANGES.get(variant, '')} | {len(seeds)} | "
            + " | ".join(c.replace("not run", "") for c in cells[:3])
            + f" | {paired or ''} | "
            + " | ".join(cells[3:])
            + " |"
        )
    base = by_variant.get(baseline, {})
    cells = [
        mean_std([v for s in SEEDS if s in base and (v := value(base[s], c, k)) is not None])
        for c, k in CONDS
    ]
    rows.insert(
        0,
        f"| {number} | `{baseline}` (the baseline) | single frame | {len(base)} | "
        + " | ".join(cells)
        + " | | | | |",
    )
    return rows


def main() -> None:
    lines = [
        "# Synthetic protocol: every round in one table",
        "",
        "- made by `python benchmarks/protocol_summary.py` from the committed round tables "
        "(`synthetic-protocol*-cpu2.json`); nothing re-run",
        "- test split (12 clips, seed 20261201), GT boxes, no flip test, the last checkpoint of each run; "
        "AP Total",
        "- paired: the run minus the single-frame run of the same round and seed (same init, data order, "
        "augmentation, corruption draws and steps), mean ± sample std over the seeds both have; `lr10` and "
        "`long_black50` are paired with their own single-frame variant",
        "- the baseline row of each round is the single-frame model trained by that round's recipe",
        "",
        "| round | steps | what every run of the round shares |",
        "|---|---|---|",
        *(f"| {n} | {steps} | {shared} |" for n, (steps, shared) in ROUND_INFO.items()),
        "",
        "| round | run | what it changes | seeds | AP all | AP hard | AP key frame black | paired seeds "
        "| paired: all | paired: hard | paired: black |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number in ROUND_INFO:
        if number != 1 and number not in ROUNDS:
            raise SystemExit(f"round {number} is not in synthetic_protocol.ROUNDS")
        lines += variant_rows(number)
    out = RESULTS / "synthetic-protocol-summary-cpu2.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
