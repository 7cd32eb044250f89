"""Evaluator speed, one CPU core: PoseTrack AP + MOTA on a 1,500-frame tiled set, and AP + MOTA + PoseTrack21
keypoint HOTA on the two 30-sequence golden cases.

1. The tiled set repeats the real 41-frame Bonn PoseTrack sequence
   (``../shared/data/bonn_multiperson_posetrack``) under new sequence names in a temporary folder (36 full
   copies and one 24-frame copy = 1,500 labelled frames, 6,000 GT persons) with seeded noisy predictions:
   Gaussian joint noise, dropped joints, one false-positive person per five frames and shuffled track ids.
   Writes ``benchmarks/results/eval-bonn1500-cpu1.md``.
2. The golden cases ``../shared/data/eval_golden/bonn30train_*`` (30 Bonn train videos, 1,525 labelled frames)
   are timed step by step, reading the files included, against the official tools' reported times on 29 such
   sequences, one core: poseval AP + MOTA about 24 s, the PoseTrack21 kit's keypoint HOTA about 17 s. Writes
   ``benchmarks/results/eval-bonn30train-cpu1.md``.

    python benchmarks/bench_eval.py                      # both
    python benchmarks/bench_eval.py --only golden --repeats 5
    python benchmarks/bench_eval.py --only tiled --frames 3000 --out /tmp/eval.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BONN = REPO.parent / "shared" / "data" / "bonn_multiperson_posetrack" / "posetrack18" / "test"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "eval-bonn1500-cpu1.md"
DEFAULT_GOLDEN = REPO.parent / "shared" / "data" / "eval_golden"
GOLDEN_CASES = ("bonn30train_noise15_swap", "bonn30train_noise25_fp20_drop10")
DEFAULT_GOLDEN_OUT = REPO / "benchmarks" / "results" / "eval-bonn30train-cpu1.md"
#: The official tools' times on 29 sequences of this kind, one core (reported, not measured by this script).
POSEVAL_AP_MOTA_S = 24.0
KIT_HOTA_S = 17.0
TARGET_SPEEDUP = 20.0


def _pin_one_core() -> str:
    """Single-threaded BLAS and one CPU, set before numpy is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu} (sched_setaffinity)"
    return "not pinned"


def build_set(bonn_json: Path, out: Path, num_frames: int, seed: int) -> tuple[Path, Path]:
    """Tile the Bonn GT into ``out/gt`` and write noisy tracked predictions into ``out/pred``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    src = json.loads(bonn_json.read_text())
    per_seq = len(src["images"])
    (out / "gt").mkdir(parents=True)
    (out / "pred").mkdir(parents=True)
    k, left = 0, num_frames
    while left > 0:
        n = min(per_seq, left)
        name = f"{990000 + k:06d}_bonn_tile"
        images = [
            dict(im, id=im["id"] * 100 + k, frame_id=im["frame_id"] * 100 + k) for im in src["images"][:n]
        ]
        kept = {im["id"] // 100 for im in images}
        gt_ann = [
            dict(a, image_id=a["image_id"] * 100 + k) for a in src["annotations"] if a["image_id"] in kept
        ]
        perm = rng.permutation(40)  # real tracks get ids < 40, false positives 40..46
        pred_ann = []
        for a in gt_ann:
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3)
            has = kp[:, 2] > 0
            kp[:, :2] += rng.normal(0.0, 6.0, size=(len(kp), 2))
            keep = has & (rng.random(len(kp)) > 0.1)
            kp[~keep] = 0.0
            kp[keep, 2] = 1.0
            scores = np.where(keep, rng.uniform(0.2, 1.0, len(kp)), 0.0)
            pred_ann.append(
                {
                    "image_id": a["image_id"],
                    "track_id": int(perm[a["track_id"]]),
                    "keypoints": np.round(kp, 2).ravel().tolist(),
                    "scores": np.round(scores, 4).tolist(),
                }
            )
        for i, im in enumerate(images):
            if i % 5 == 0:  # a false positive: a random person pasted at a random place
                a = gt_ann[rng.integers(len(gt_ann))]
                kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3)
                kp[kp[:, 2] > 0, :2] += rng.uniform(-300, 300, size=2)
                pred_ann.append(
                    {
                        "image_id": im["id"],
                        "track_id": 40 + i % 7,
                        "keypoints": np.round(kp, 2).ravel().tolist(),
                        "scores": np.round(rng.uniform(0.0, 0.6, len(kp)), 4).tolist(),
                    }
                )
        gt = {"images": images, "annotations": gt_ann, "categories": src["categories"]}
        pred = {"images": images, "annotations": pred_ann, "categories": src["categories"]}
        (out / "gt" / f"{name}.json").write_text(json.dumps(gt))
        (out / "pred" / f"{name}.json").write_text(json.dumps(pred))
        left -= n
        k += 1
    return out / "gt", out / "pred"


def _best_of(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def bench_tiled(args: argparse.Namespace, pinned: str) -> str:
    """AP + MOTA on the tiled Bonn set; returns the Markdown table."""
    import numpy as np
    import scipy

    from vidpose.data.posetrack import read_prediction_folder, read_sequences
    from vidpose.evaluation import evaluate_folders, format_table
    from vidpose.evaluation.matching import match_sequences
    from vidpose.evaluation.posetrack_ap import ap_from_matches
    from vidpose.evaluation.tracking_mota import mota_from_matches

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        gt_dir, pred_dir = build_set(args.bonn, Path(tmp), args.frames, args.seed)
        t_read, (gt, pred) = _best_of(
            lambda: (read_sequences(gt_dir), read_prediction_folder(pred_dir)), args.repeats
        )
        t_match, matches = _best_of(lambda: match_sequences(gt, pred), args.repeats)
        t_ap, _ = _best_of(lambda: ap_from_matches(matches), args.repeats)
        t_mota, _ = _best_of(lambda: mota_from_matches(matches), args.repeats)
        t_eval, _ = _best_of(
            lambda: (ap_from_matches(m := match_sequences(gt, pred)), mota_from_matches(m)), args.repeats
        )
        t_total, report = _best_of(lambda: evaluate_folders(gt_dir, pred_dir, tracking=True), args.repeats)
    load_after = os.getloadavg()

    frames = report.num_frames
    persons = sum(len(f.persons) for s in gt for f in s.frames)
    rows = [
        ("read JSON (GT + predictions)", t_read),
        ("cleanup + matching (`match_sequences`)", t_match),
        ("AP from matches", t_ap),
        ("MOTA from matches", t_mota),
        ("**AP + MOTA** (matching + both metrics)", t_eval),
        ("`evaluate_folders(..., tracking=True)` (read + all)", t_total),
    ]
    lines = [
        f"# PoseTrack evaluator speed: Bonn tiled to {frames} frames, one CPU core",
        "",
        f"Set: {len(gt)} sequences, {frames} labelled frames, {persons} GT persons, "
        f"{sum(len(f.persons) for s in pred for f in s.frames)} predicted persons (seed {args.seed}); "
        f"best of {args.repeats} after one warm-up; {pinned}, BLAS threads 1.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {name} | {sec:.3f} |" for name, sec in rows],
        "",
        f"Target: AP + MOTA under 2 s -> {'met' if t_eval < 2.0 else 'NOT met'} ({t_eval:.3f} s).",
        "",
        "Result on this set (poseval table layout):",
        "",
        "```",
        format_table(report),
        "```",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}. "
        f"1-min load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (the machine is shared, "
        "timings may be pessimistic).",
        "",
        "Command: `python benchmarks/bench_eval.py`",
        "",
    ]
    return "\n".join(lines)


def _golden_case(case: Path, repeats: int) -> list[str]:
    """The Markdown section of one golden case: every step timed, then the speed-ups."""
    from vidpose.data.posetrack import read_prediction_folder, read_sequences
    from vidpose.evaluation import evaluate_folders, evaluate_hota, format_pose_hota_results
    from vidpose.evaluation.matching import match_sequences
    from vidpose.evaluation.posetrack_ap import ap_from_matches
    from vidpose.evaluation.tracking_mota import mota_from_matches

    gt_dir, pred_dir = case / "gt", case / "pred"
    t_read, (gt, pred) = _best_of(lambda: (read_sequences(gt_dir), read_prediction_folder(pred_dir)), repeats)
    t_match, matches = _best_of(lambda: match_sequences(gt, pred), repeats)
    t_ap, _ = _best_of(lambda: ap_from_matches(matches), repeats)
    t_mota, _ = _best_of(lambda: mota_from_matches(matches), repeats)
    t_hota, hota = _best_of(lambda: evaluate_hota(gt, pred), repeats)
    t_ap_mota, _ = _best_of(lambda: evaluate_folders(gt_dir, pred_dir, tracking=True), repeats)
    t_hota_read, _ = _best_of(
        lambda: evaluate_hota(read_sequences(gt_dir), read_prediction_folder(pred_dir)), repeats
    )
    t_all, report = _best_of(lambda: evaluate_folders(gt_dir, pred_dir, tracking=True, mode="pt21"), repeats)
    expected = (case / "expected" / "pt21_pose_hota.txt").read_text()
    same = format_pose_hota_results(hota) == expected == format_pose_hota_results(report.hota)
    frames = sum(len(s.frames) for s in gt)
    persons = sum(len(f.persons) for s in gt for f in s.frames)
    predicted = sum(len(f.persons) for s in pred for f in s.frames)
    x_ap_mota, x_hota = POSEVAL_AP_MOTA_S / t_ap_mota, KIT_HOTA_S / t_hota_read
    both = POSEVAL_AP_MOTA_S + KIT_HOTA_S
    rows = [
        ("read JSON (GT + predictions)", t_read, ""),
        ("cleanup + matching (`match_sequences`, pt18)", t_match, ""),
        ("AP from matches", t_ap, ""),
        ("MOTA from matches", t_mota, ""),
        ("keypoint HOTA from the records (`evaluate_hota`)", t_hota, ""),
        (
            "**AP + MOTA, reading included** (`evaluate_folders(tracking=True)`)",
            t_ap_mota,
            f"poseval ~{POSEVAL_AP_MOTA_S:.0f} s: **{x_ap_mota:.0f}x**",
        ),
        (
            "**keypoint HOTA, reading included**",
            t_hota_read,
            f"PT21 kit ~{KIT_HOTA_S:.0f} s: **{x_hota:.0f}x**",
        ),
        (
            'AP + MOTA + HOTA, one read (`evaluate_folders(tracking=True, mode="pt21")`)',
            t_all,
            f"both tools ~{both:.0f} s: {both / t_all:.0f}x",
        ),
    ]
    ok = min(x_ap_mota, x_hota) >= TARGET_SPEEDUP
    return [
        f"## `{case.name}`",
        "",
        f"{len(gt)} sequences, {frames} frames, {persons} GT persons, {predicted} predicted persons.",
        "",
        "| step | seconds | vs official |",
        "|---|---:|---|",
        *[f"| {step} | {sec:.3f} | {vs} |" for step, sec, vs in rows],
        "",
        f"Target >= {TARGET_SPEEDUP:.0f}x on each: {'met' if ok else 'NOT met'}. "
        f"`pose_hota_results.txt` byte-identical to the kit's: {'yes' if same else 'NO'}.",
        "",
        "```",
        format_pose_hota_results(hota).rstrip("\n"),
        "```",
        "",
    ]


def bench_golden(golden: Path, repeats: int, pinned: str) -> str:
    """Each step of AP + MOTA + keypoint HOTA on the 30-sequence golden cases; returns the Markdown report."""
    import numpy as np
    import scipy

    load_before = os.getloadavg()
    sections = [line for name in GOLDEN_CASES for line in _golden_case(golden / name, repeats)]
    load_after = os.getloadavg()
    lines = [
        "# Evaluator speed: AP + MOTA + PoseTrack21 keypoint HOTA, 30-sequence golden cases, one core",
        "",
        f"Best of {repeats} after one warm-up; {pinned}, BLAS threads 1. Official times are the ones "
        f"reported for poseval (AP + MOTA, ~{POSEVAL_AP_MOTA_S:.0f} s) and the PoseTrack21 kit (keypoint "
        f"HOTA, ~{KIT_HOTA_S:.0f} s) on 29 such sequences on one core; neither tool runs here. A step "
        "includes reading the files only where it says so.",
        "",
        *sections,
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}. "
        f"1-min load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (the machine is shared, "
        "timings may be pessimistic).",
        "",
        "Command: `python benchmarks/bench_eval.py --only golden`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("tiled", "golden"), default=None, help="run one benchmark")
    parser.add_argument("--bonn", type=Path, default=DEFAULT_BONN / "060470979_bonn_test.json")
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="tiled benchmark's table")
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN, help="folder of the golden cases")
    parser.add_argument("--golden-out", type=Path, default=DEFAULT_GOLDEN_OUT, help="golden cases' table")
    args = parser.parse_args(argv)
    pinned = _pin_one_core()

    from vidpose.fileio import atomic_write_text

    if args.only in (None, "tiled"):
        text = bench_tiled(args, pinned)
        atomic_write_text(args.out, text)
        print(text)
    if args.only in (None, "golden"):
        text = bench_golden(args.golden, args.repeats, pinned)
        atomic_write_text(args.golden_out, text)
        print(text)


if __name__ == "__main__":
    main()
