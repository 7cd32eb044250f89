"""Where predict's time goes: wall time per stage of ``VideoPoseEstimator`` with and without shared features.

Each stage is timed by wrapping the one function that does it (inclusive, stages do not nest), in CPU
seconds of the calling thread (``time.thread_time``): with one intra-op thread (``OMP_NUM_THREADS=1``) that
is the work done, whatever share of the cores other processes leave to this one (wall-clock seconds on a
busy machine measure the scheduler more than the code; the table gives the wall total too). Stages:
frame decoding (``read_image``), crop warps (``CropBox.warp``), normalisation, the backbone
(``encode_frames``), mirroring the crops, the MLSME, the SMML, the heatmap head, the flip average, heatmap
decoding, the inverse affine, tracking; "other" is the rest (boxes, scheduling, stacking, Python).
The input is a synthetic split (GT boxes, so no detector; flip test on), the model a vidpose model file
(default: the bundled temporal one). One untimed run on the first sequence first. Writes a Markdown table::

    vidpose synth data/synth_t --split test --clips 4 --seed 616161
    python benchmarks/profile_predict.py --split data/synth_t/test \\
        --out benchmarks/results/predict-profile-nano-cpu1.md

The run's threads are torch's (``OMP_NUM_THREADS``); the table says how many.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections import defaultdict
from pathlib import Path

import vidpose.inference.estimator as estimator_module
import vidpose.inference.inputs as inputs_module
import vidpose.inference.pipeline as pipeline_module
from vidpose.inference import GTBoxes, VideoPoseEstimator
from vidpose.inference.crops import CropBox
from vidpose.inference.tracker import PoseTracker
from vidpose.models.profile import machine_info
from vidpose.models.serialization import load_model

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "src" / "vidpose" / "assets" / "synthetic_temporal.safetensors"

STAGES = (
    "frame decoding",
    "crop warps",
    "normalisation",
    "backbone",
    "mirror crops",
    "MLSME",
    "SMML",
    "head",
    "flip average",
    "heatmap decoding",
    "inverse affine",
    "tracking",
)
UNSHAREABLE = ("MLSME", "SMML", "head")


class StageClock:
    """Seconds per stage, from wrappers installed on the functions that do each stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, stage: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.thread_time() - start
                self.calls[stage] += 1

        # a method found on the class is restored by deleting the instance attribute
        self._undo.append((owner, name, original if name in vars(owner) else None))
        setattr(owner, name, timed)

    def undo(self) -> None:
        for owner, name, original in reversed(self._undo):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._undo.clear()


def install(clock: StageClock, est: VideoPoseEstimator) -> None:
    model = est.model
    clock.wrap(inputs_module, "read_image", "frame decoding")
    clock.wrap(CropBox, "warp", "crop warps")
    clock.wrap(pipeline_module, "to_tensor_normalized", "normalisation")
    clock.wrap(model.backbone, "forward_features", "backbone")
    clock.wrap(estimator_module, "flip_images", "mirror crops")
    if model.temporal:
        clock.wrap(model.mlsme, "forward", "MLSME")
        clock.wrap(model.smml, "forward", "SMML")
    clock.wrap(model.head, "forward", "head")
    clock.wrap(estimator_module, "flip_average", "flip average")
    clock.wrap(est.codec, "decode", "heatmap decoding")
    clock.wrap(estimator_module, "to_image_coords", "inverse affine")
    clock.wrap(PoseTracker, "update_tracks", "tracking")


def profile(est: VideoPoseEstimator, sequences: list[Path]) -> dict:
    """Run every sequence once (after one untimed run of the first); total and per-stage seconds."""
    list(est(sequences[0]))
    crops = [0]
    original = est.model.encode_frames

    def counting(frames):  # noqa: ANN001, ANN202
        crops[0] += len(frames)
        return original(frames)

    est.model.encode_frames = counting
    clock = StageClock()
    install(clock, est)
    try:
        start, wall = time.thread_time(), time.perf_counter()
        results = [r for seq in sequences for r in est(seq)]
        total, wall = time.thread_time() - start, time.perf_counter() - wall
    finally:
        clock.undo()
        del est.model.encode_frames
    persons = sum(len(r.persons) for r in results)
    return {
        "total": total,
        "wall": wall,
        "frames": len(results),
        "persons": persons,
        "crops": crops[0],
        "stages": dict(clock.seconds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED, help="vidpose model file (.safetensors)")
    parser.add_argument("--split", type=Path, required=True, help="a split folder with annotations/*.json")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown table there")
    parser.add_argument("--sequences", type=int, default=None, help="only the first N sequences")
    parser.add_argument("--modes", default="shared,per-window", help="shared,per-window or one of them")
    args = parser.parse_args(argv)

    sequences = sorted((args.split / "annotations").glob("*.json"))[: args.sequences]
    if not sequences:
        raise SystemExit(f"{args.split / 'annotations'}: no sequence files")
    model, cfg = load_model(args.model)
    load_before = os.getloadavg()
    runs = {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        est = VideoPoseEstimator((model, cfg), boxes=GTBoxes(), share_features=mode == "shared")
        runs[mode] = profile(est, sequences)
        r = runs[mode]
        print(
            f"{mode}: {r['total']:.2f} CPU s ({r['wall']:.1f} s wall), "
            f"{r['crops'] / r['persons']:.2f} crops / person-frame"
        )
    load_after = os.getloadavg()

    info = machine_info()
    lines = [
        "# Where predict's time goes (CPU)",
        "",
        f"- model: `{args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model}` "
        f"(ViT {cfg.model.vit.size} {model.backbone.embed_dim} x {len(model.backbone.blocks)}, MLSME dim "
        f"{cfg.model.mlsme.dim}, "
        f"{cfg.model.image_size[0]}x{cfg.model.image_size[1]}, T={cfg.model.num_frames}); input: "
        f"`{args.split}` ({len(sequences)} sequences), GT boxes, flip test on, batch size "
        f"{cfg.eval.batch_size}",
        f"- machine: {info['cpu']} ({info['logical_cpus']} logical CPUs), torch {info['torch']}, "
        f"{info['threads']} intra-op thread(s); 1-min load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (other processes on the same cores: absolute seconds are noisy, the "
        "shares less so)",
        "- each stage: inclusive CPU seconds (main thread, `time.thread_time`) of the one function that does "
        "it (see the script's docstring); one untimed run on the first sequence before",
        f"- command: python benchmarks/profile_predict.py --split {args.split}"
        + (f" --sequences {args.sequences}" if args.sequences is not None else "")
        + (f" --model {args.model}" if args.model != BUNDLED else "")
        + (f" --modes {args.modes}" if args.modes != "shared,per-window" else ""),
        "",
        "| stage | " + " | ".join(f"{m} CPU s | {m} %" for m in runs) + " |",
        "|---|" + "---|---|" * len(runs),
    ]
    for stage in (*STAGES, "other"):
        cells = []
        for r in runs.values():
            s = r["total"] - sum(r["stages"].values()) if stage == "other" else r["stages"].get(stage, 0.0)
            cells += [f"{s:.2f}", f"{100 * s / r['total']:.1f}"]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{r['total']:.2f}** | 100" for r in runs.values()) + " |")
    lines.append(
        "| wall-clock total (s) | " + " | ".join(f"{r['wall']:.1f} | " for r in runs.values()) + " |"
    )
    lines.append(
        "| frames / person-frames / backbone crops per person-frame | "
        + " | ".join(
            f"{r['frames']} / {r['persons']} | {r['crops'] / r['persons']:.2f}" for r in runs.values()
        )
        + " |"
    )
    lines.append("")
    for mode, r in runs.items():
        unshared = sum(r["stages"].get(s, 0.0) for s in UNSHAREABLE)
        lines.append(
            f"- {mode}: MLSME + SMML + head (per window, cannot be shared) {unshared:.2f} s = "
            f"{100 * unshared / r['total']:.1f} % of the run; backbone "
            f"{100 * r['stages'].get('backbone', 0.0) / r['total']:.1f} %"
        )
    if set(runs) == {"shared", "per-window"}:
        sh, pw = runs["shared"], runs["per-window"]
        unshared = sum(sh["stages"].get(s, 0.0) for s in UNSHAREABLE)
        lines += [
            f"- per window / shared: {pw['total'] / sh['total']:.2f}x",
            f"- bound if everything but MLSME + SMML + head were free in the shared run: "
            f"{pw['total'] / unshared:.2f}x",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
