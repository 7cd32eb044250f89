"""Predict benchmark: frames per second and latency per person-frame of ``VideoPoseEstimator`` on CPU.

A 4-person clip (the first frames of the Bonn PoseTrack video in ``../shared/data``, 960x540, GT boxes, so no
detector cost), random weights (speed does not depend on them), flip test on, for the models of
``configs/synthetic_nano.yaml`` (ViT nano, 128x96) and ``configs/posetrack18_vitb.yaml`` (ViT-B, 256x192), in
fp32 and bf16 autocast, with and without shared per-frame work.
Writes ``benchmarks/results/predict-cpu2.md``::

    python benchmarks/bench_predict.py                         # nano 41 frames, base 3 frames
    python benchmarks/bench_predict.py --nano-frames 12 --base-frames 2 --out /tmp/predict.md
    python benchmarks/bench_predict.py --sizes nano --precisions fp32 --repeats 5 --out /tmp/predict-nano.md

``--repeats``: timed nano runs per row (the fastest is kept, the least disturbed by other processes); base
rows are timed once.

``--accuracy`` measures what sharing costs instead: a model on a synthetic split (GT boxes, flip test), AP
and time of ``evaluate`` (key-frame crops and ``data.crop_hold`` crops) and of ``predict`` shared and per
window (``benchmarks/results/predict-share-accuracy-cpu2.md``). ``--model`` is ``temporal`` or
``single_frame`` (the bundled models) or the path of any vidpose model file; ``--split`` an existing split
folder (``<root>/<split>/annotations/*.json``, frame paths relative to ``<root>``), else a test split of
``--clips`` clips from ``--seed`` is generated in a temporary folder. Predictions go to a temporary folder,
never into the split::

    python benchmarks/bench_predict.py --accuracy --clips 4 --seed 616161 --model temporal
    vidpose synth data/synth_t --split test --clips 4 --seed 616161
    python benchmarks/bench_predict.py --accuracy --model runs/x/model_best.safetensors \
        --split data/synth_t/test --out /tmp/accuracy.md
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from vidpose.config import Config, load_config
from vidpose.data.video_io import read_image
from vidpose.inference import GTBoxes, VideoPoseEstimator
from vidpose.models.pose_model import build_model
from vidpose.models.profile import machine_info

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))
BONN = SHARED / "bonn_multiperson_posetrack"
BONN_JSON = BONN / "posetrack18/test/060470979_bonn_test.json"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "predict-cpu2.md"
CONFIGS = {"nano": REPO / "configs/synthetic_nano.yaml", "base": REPO / "configs/posetrack18_vitb.yaml"}


def clip_json(num_frames: int, folder: Path) -> Path:
    """The first ``num_frames`` frames of the Bonn sequence, with absolute image paths."""
    data = json.loads(BONN_JSON.read_text())
    data["images"] = data["images"][:num_frames]
    for im in data["images"]:
        im["file_name"] = str(BONN / im["file_name"])
    kept = {im["id"] for im in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in kept]
    path = folder / f"bonn_{num_frames}.json"
    path.write_text(json.dumps(data))
    return path


def build(size: str) -> tuple[torch.nn.Module, Config]:
    """The model of the size's recipe, random weights (``model.init_from`` is not loaded)."""
    torch.manual_seed(0)
    cfg = load_config(CONFIGS[size])
    return build_model(cfg.model).eval(), cfg


def run_once(est: VideoPoseEstimator, clip: Path) -> dict[str, float]:
    """Consume the generator on ``clip``; wall time, frames, person-frames and backbone crops."""
    crops = [0]
    original = est.model.encode_frames

    def counting(frames):
        crops[0] += len(frames)
        return original(frames)

    est.model.encode_frames = counting
    try:
        start, cpu = time.perf_counter(), time.process_time()
        results = list(est(clip))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        del est.model.encode_frames
    persons = sum(len(r.persons) for r in results)
    return {"seconds": seconds, "cpu": cpu, "frames": len(results), "persons": persons, "crops": crops[0]}


def decode_seconds(clip: Path) -> float:
    data = json.loads(clip.read_text())
    start = time.perf_counter()
    for im in data["images"]:
        read_image(Path(im["file_name"]))
    return time.perf_counter() - start


def accuracy(args: argparse.Namespace) -> None:
    """AP and seconds of evaluate / predict (shared, per window) with GT boxes on a synthetic test split."""
    import dataclasses

    from vidpose.data.posetrack import read_predictions, read_sequences
    from vidpose.data.synthetic import generate_split
    from vidpose.evaluation import evaluate_ap
    from vidpose.fileio import atomic_write_text
    from vidpose.inference import predict_to_files
    from vidpose.models.serialization import load_model
    from vidpose.tasks.demo import MODELS, bundled_checkpoint
    from vidpose.tasks.evaluate import evaluate_split

    load_before = os.getloadavg()
    model_file = bundled_checkpoint(args.model) if args.model in MODELS else Path(args.model)
    model, cfg = load_model(model_file)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.split is None:
            root, split = Path(tmp), "test"
            generate_split(root, split, args.clips, args.seed)
            made = (
                f"synthetic test split `vidpose synth --split test --clips {args.clips} --seed {args.seed}`"
            )
        else:
            root, split = args.split.resolve().parent, args.split.resolve().name
            made = f"split `{args.split}`"
        sequences = read_sequences(root / split / "annotations")
        data = dataclasses.replace(cfg.data, root=str(root), val_ann=f"{split}/annotations", val_boxes="gt")
        for crop_hold in (False, True):
            c = dataclasses.replace(cfg, data=dataclasses.replace(data, crop_hold=crop_hold))
            start = time.perf_counter()
            ap = evaluate_split(model, c, sequences=sequences).ap.ap[-1]
            crops = "held (data.crop_hold)" if crop_hold else "key frame"
            rows.append(("evaluate", crops, ap, time.perf_counter() - start, None))
            print(rows[-1], flush=True)
        for share in (True, False):
            est = VideoPoseEstimator((model, cfg), boxes=GTBoxes(), share_features=share)
            start, preds, crops_run = time.perf_counter(), [], 0
            for seq in sequences:
                counted = run_once(est, Path(seq.source))
                crops_run += counted["crops"]
                out = predict_to_files(est, seq.source, Path(tmp) / "pred", root=root, write_video=False)
                preds.append(read_predictions(out.paths["posetrack"]))
            seconds = (time.perf_counter() - start) / 2  # each clip was run twice
            frames = sum(len(s.frames) for s in sequences)
            ap = evaluate_ap(sequences, preds).ap[-1]
            label = "predict --share" if share else "predict --no-share"
            rows.append((label, "held" if share else "key frame", ap, seconds, crops_run / frames))
            print(rows[-1], flush=True)
    load_after = os.getloadavg()
    base = {r[0]: r for r in rows}
    lines = [
        "# What sharing backbone features costs (CPU)",
        "",
        f"- model: {f'the bundled `{args.model}` model ' if args.model in MODELS else ''}`{model_file}` "
        f"(trained with `data.crop_hold` {'on' if cfg.data.crop_hold else 'off'}); {made} "
        f"({len(sequences)} sequences); GT boxes, flip test on",
        "- evaluate: `tasks.evaluate.evaluate_split` (windows cut by the key frame's box, or with "
        "`data.crop_hold` by the crop `predict --share` holds); predict: `VideoPoseEstimator` + "
        "`predict_to_files` on every clip, scored like `eval-posetrack`; seconds: predict's mean of 2 runs",
        f"- 1-min load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores shared with "
        "other work: times are noisy)",
        "- command: python benchmarks/bench_predict.py --accuracy "
        + (f"--clips {args.clips} --seed {args.seed} " if args.split is None else f"--split {args.split} ")
        + f"--model {args.model}",
        "",
        "| run | crops | AP | seconds | backbone crops / frame |",
        "|---|---|---|---|---|",
    ]
    for run, crops, ap, seconds, per_frame in rows:
        cost = "" if per_frame is None else f"{per_frame:.1f}"
        lines.append(f"| {run} | {crops} | {ap:.1f} | {seconds:.1f} | {cost} |")
    share, per_window = base["predict --share"], base["predict --no-share"]
    lines += [
        "",
        f"predict --share vs --no-share: {per_window[3] / share[3]:.2f}x faster, "
        f"{share[2] - per_window[2]:+.1f} AP; --share vs evaluate with data.crop_hold: "
        f"{share[2] - rows[1][2]:+.1f} AP.",
    ]
    out = args.out if args.out != DEFAULT_OUT else DEFAULT_OUT.with_name("predict-share-accuracy-cpu2.md")
    atomic_write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nano-frames", type=int, default=41)
    parser.add_argument("--base-frames", type=int, default=3)
    parser.add_argument("--sizes", default="nano,base", help="nano,base or one of them")
    parser.add_argument("--repeats", type=int, default=2, help="timed nano runs per row (fastest kept)")
    parser.add_argument("--precisions", default="fp32,bf16", help="fp32,bf16 or one of them")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--accuracy", action="store_true", help="AP and time of sharing (see the docstring)")
    parser.add_argument("--clips", type=int, default=4, help="--accuracy without --split: clips to generate")
    parser.add_argument("--seed", type=int, default=616161, help="--accuracy without --split: their seed")
    parser.add_argument(
        "--model", default="temporal", help="--accuracy: temporal, single_frame (bundled) or a model file"
    )
    parser.add_argument("--split", type=Path, default=None, help="--accuracy: an existing split folder")
    args = parser.parse_args(argv)
    if args.accuracy:
        accuracy(args)
        return
    if not BONN_JSON.is_file():
        raise SystemExit(f"{BONN_JSON} not found (set VIDPOSE_SHARED_DATA)")

    load_before = os.getloadavg()
    t0 = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
        for size, num_frames in [(s, {"nano": args.nano_frames, "base": args.base_frames}[s]) for s in sizes]:
            clip = clip_json(num_frames, Path(tmp))
            decode = decode_seconds(clip)
            model, cfg = build(size)
            for precision in [p.strip() for p in args.precisions.split(",") if p.strip()]:
                for share in (True, False):
                    est = VideoPoseEstimator(
                        (model, cfg), boxes=GTBoxes(), amp=precision == "bf16", share_features=share
                    )
                    if share or size == "nano":  # warm-up on the same clip (new batch shapes are slow once)
                        run_once(est, clip)
                    # nano: the fastest of --repeats timed runs (the least disturbed by others); base: 1 run
                    runs = [run_once(est, clip) for _ in range(args.repeats if size == "nano" else 1)]
                    r = dict(min(runs, key=lambda x: x["seconds"]), cpu=min(x["cpu"] for x in runs))
                    rows.append((size, precision, share, r, decode))
                    print(
                        f"{size} {precision} share={share}: {r['frames'] / r['seconds']:.2f} frames/s, "
                        f"{1e3 * r['seconds'] / r['persons']:.0f} ms/person-frame, "
                        f"{r['crops'] / r['persons']:.2f} crops/person-frame",
                        flush=True,
                    )
    load_after = os.getloadavg()
    info = machine_info()
    lines = [
        "# Predict speed (CPU)",
        "",
        f"- machine: {info['cpu']} ({info['logical_cpus']} logical CPUs; bf16 instructions: "
        f"{info['bf16_isa']}), torch {info['torch']}, {info['threads']} intra-op threads",
        "- clip: the Bonn PoseTrack video (960x540, 4 persons in every frame), GT boxes (no detector cost), "
        "tracker off (GT ids), flip test on, T=5 (offsets -2..2), batch size the recipe's eval.batch_size ("
        + ", ".join(f"{s} {load_config(CONFIGS[s]).eval.batch_size}" for s in sizes)
        + "), 4 key frames per batch",
        "- models: random weights (speed does not depend on them); nano = `configs/synthetic_nano.yaml` "
        "(ViT 128 x 4, MLSME dim 128) at 128x96; base = `configs/posetrack18_vitb.yaml` (ViT-B 768 x 12, "
        "MLSME dim 384, 2 SMML layers) at 256x192",
        "- timed: consuming the generator `VideoPoseEstimator(...)(clip)` once, wall clock: JPEG decoding, "
        "crops, model, heatmap decoding; before it, one untimed run on the same clip (nano: every row; base: "
        "the shared rows only, a per-window base run costs minutes); nano: the fastest of "
        f"{args.repeats} timed runs",
        "- shared = `share_features=True` (stabilised crops, backbone features cached per (frame, crop)); "
        "per window = `share_features=False` (the backbone runs on all T crops of every window, x2 for the "
        "flip)",
        "- crops / person-frame: images through the backbone (flipped ones included) per person and frame; "
        "both paths cost the same per person-frame on a short or a long clip (per window: 2T; shared: 2 plus "
        "re-centred crops)",
        "- ms / person-frame: wall time divided by the person-frames (4 per frame); CPU ms / person-frame: "
        "the process's CPU time (`time.process_time`, all threads) divided likewise, the fastest run's: on a "
        "busy machine it measures the work done, wall time also how much of the cores the run got",
        f"- the 2 cores were shared with other processes during the run: 1-min load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; timings are noisy and may be pessimistic",
        f"- total run time {time.time() - t0:.0f} s; command: python benchmarks/bench_predict.py "
        f"--nano-frames {args.nano_frames} --base-frames {args.base_frames}"
        + (f" --sizes {args.sizes}" if args.sizes != "nano,base" else "")
        + (f" --repeats {args.repeats}" if args.repeats != 2 else "")
        + (f" --precisions {args.precisions}" if args.precisions != "fp32,bf16" else ""),
        "",
        "| model | input | frames | precision | features | frames/s | ms / person-frame "
        "| CPU ms / person-frame | crops / person-frame | JPEG decode ms / frame |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, precision, share, r, decode in rows:
        h, w = load_config(CONFIGS[size]).model.image_size
        lines.append(
            f"| {size} | {h}x{w} | {r['frames']} | {precision} | {'shared' if share else 'per window'} | "
            f"{r['frames'] / r['seconds']:.2f} | {1e3 * r['seconds'] / r['persons']:.0f} | "
            f"{1e3 * r['cpu'] / r['persons']:.1f} | {r['crops'] / r['persons']:.2f} | "
            f"{1e3 * decode / r['frames']:.0f} |"
        )
    lines.append("")
    by_key = {(size, precision, share): r for size, precision, share, r, _ in rows}
    for size, precision, share, r, _ in rows:
        if share and (size, precision, False) in by_key:
            pw = by_key[(size, precision, False)]
            lines.append(
                f"- {size} {precision}: shared is {pw['seconds'] / r['seconds']:.2f}x faster than per window "
                f"(wall), {pw['cpu'] / r['cpu']:.2f}x (CPU time)"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
