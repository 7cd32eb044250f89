"""Where the synthetic protocol's AP goes: each predicted joint's error kind, and the AP each fix would give.

    python benchmarks/error_diagnosis.py

Reads the test-split predictions the protocol already wrote (``runs/<round dir>/<run>/test_<condition>/
predictions``, made by ``python benchmarks/synthetic_protocol.py --round 5`` and ``--round 6``; no model is
run) and classifies every predicted joint with :mod:`vidpose.evaluation.error_diagnosis` (good, jitter,
left/right inversion, swap with another person, miss; PCKh units), on all frames and on the hard subset.
Rows over several seeds are mean ± sample std.

Writes ``benchmarks/results/error-diagnosis-synthetic-cpu2.{md,json}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthetic_protocol import mean_std  # benchmarks/ is on the path of a script run from it

from vidpose.data.posetrack import read_prediction_folder, read_sequences
from vidpose.data.synthetic.labels import hard_frames
from vidpose.evaluation import ERROR_KINDS, diagnose_errors
from vidpose.evaluation.report import TABLE_COLUMNS, diagnosis_shares, table_values
from vidpose.fileio import atomic_write_json, atomic_write_text

REPO = Path(__file__).resolve().parents[1]
TEST = REPO / "data" / "synth_v2" / "test" / "annotations"
RESULTS = REPO / "benchmarks" / "results"
STEM = "error-diagnosis-synthetic-cpu2"
#: row label -> run folders (seeds) whose test predictions are diagnosed
GROUPS: dict[str, list[str]] = {
    "stage 1 (the common init)": ["runs/synthetic_stage1_long"],
    "r5_single_frame (300 steps)": [f"runs/synthetic_stage2_r5/r5_single_frame_s{s}" for s in range(3)],
    "r5_mix_hold_no_mask (300 steps)": [
        f"runs/synthetic_stage2_r5/r5_mix_hold_no_mask_s{s}" for s in range(3)
    ],
    "r6_single_frame_900 (900 steps)": ["runs/synthetic_stage2_r6/r6_single_frame_900_s0"],
    "r6_mix_hold_no_mask_900 (900 steps)": ["runs/synthetic_stage2_r6/r6_mix_hold_no_mask_900_s0"],
}
CONDITIONS = ("clean", "black")
SUBSETS = ("all", "hard")
FIXES = ("jitter", "inversion", "swap", "miss", "localisation")


def diagnose(run: Path, condition: str, gt: list) -> dict | None:
    folder = REPO / run / f"test_{condition}" / "predictions"
    if not folder.is_dir():
        return None
    pred = read_prediction_folder(folder)
    d = diagnose_errors(gt, pred)
    return {
        "shares": diagnosis_shares(d),
        "ap": table_values(d.ap),
        "ap_fixed": {k: table_values(v) for k, v in d.ap_fixed.items()},
        "counts": {k: int(v.sum()) for k, v in d.counts.items()},
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    test = read_sequences(TEST)
    gts = {"all": test, "hard": [s.only_frames(hard_frames(s) or set()) for s in test]}
    data: dict = {}
    for label, runs in GROUPS.items():
        for cond in CONDITIONS:
            for subset in SUBSETS:
                found = {r: diagnose(Path(r), cond, gts[subset]) for r in runs}
                found = {r: v for r, v in found.items() if v is not None}
                if found:
                    data.setdefault(label, {})[f"{cond}/{subset}"] = found
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / f"{STEM}.json", data, indent=1)

    cols = (*TABLE_COLUMNS, "Total")
    lines = [
        "# Error diagnosis of the synthetic protocol's test predictions",
        "",
        "- made by `python benchmarks/error_diagnosis.py` from the predictions "
        "`benchmarks/synthetic_protocol.py` wrote (test split, 12 clips, seed 20261201, GT boxes, no flip "
        "test, last checkpoint)",
        "- kinds (`vidpose.evaluation.error_diagnosis`, Ronchi and Perona's taxonomy in PCKh units, "
        "threshold t = 0.5 head sizes): good <= t from its own joint; jitter <= 2t; inversion <= t from the "
        "same person's other-side joint; swap <= t from another person's same or other-side joint; miss: the "
        "rest. Shares are of the predicted joints of assigned persons whose GT joint is annotated",
        "- 'AP if fixed': the AP with the joints of that kind counted correct (scores kept); localisation = "
        "all four kinds at once",
        "",
    ]
    for cond in CONDITIONS:
        for subset in SUBSETS:
            key = f"{cond}/{subset}"
            rows = {label: list(g[key].values()) for label, g in data.items() if key in g}
            if not rows:
                continue
            title = "key frame black" if cond == "black" else "clean key frames"
            lines += [f"## {title}, {'all frames' if subset == 'all' else 'hard subset'}", ""]
            lines += [
                "| model | seeds | AP | good % | jitter % | inversion % | swap % | miss % | AP if fixed: "
                + " | ".join(FIXES)
                + " |",
                "|---" * (8 + len(FIXES)) + "|",
            ]
            for label, entries in rows.items():
                cells = [mean_std([e["ap"][-1] for e in entries])]
                cells += [mean_std([e["shares"][k][-1] for e in entries]) for k in ERROR_KINDS]
                cells += [mean_std([e["ap_fixed"][f][-1] for e in entries]) for f in FIXES]
                lines.append(f"| {label} | {len(entries)} | " + " | ".join(cells) + " |")
            lines += ["", "Inversion share (%) per joint group", "", "| model | " + " | ".join(cols) + " |"]
            lines.append("|---" * (len(cols) + 1) + "|")
            for label, entries in rows.items():
                cells = [mean_std([e["shares"]["inversion"][i] for e in entries]) for i in range(len(cols))]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
    atomic_write_text(RESULTS / f"{STEM}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
