"""The GPU path of the PoseTrack recipes, checked in a few minutes on one CUDA device (written for an H200).

Builds the PT18 rehearsal root from ``../shared/data`` (the same builder as ``tests/rehearsal``), writes an
official-layout ViTPose-B state dict (random weights) and converts it with ``vidpose convert``, then runs:

1. the converted-ViTPose equality on CUDA with TF32 off: the recipe's temporal model from ``init_from`` gives
   ViTPose's own heatmaps for the key frame (reference forward on the official keys);
2. ``vidpose train configs/posetrack18_vitb.yaml`` for a few steps in bf16 (the recipe's precision, its batch
   32, its 8 data workers), then again to resume from ``last``;
3. the same recipe in fp16 (``train.amp_dtype=float16``: autocast with the grad scaler);
4. ``vidpose predict`` throughput on the 41-frame Bonn clip (GT boxes, flip test, bf16 autocast);
5. ``vidpose bench train`` of the recipe in fp32 (TF32) / bf16 / fp16, grad checkpointing off and on, with
   MFU.

Each check's result and wall time go to ``benchmarks/results/gpu-check-<device>.md`` (with the bench table).
Without CUDA it exits with code 2 and one line, before doing anything::

    python benchmarks/gpu_check.py                     # needs torch with CUDA and ../shared/data
    python benchmarks/gpu_check.py --steps 4 --bench-batch 32 --out benchmarks/results/gpu-check-h200.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))
RECIPE = REPO / "configs" / "posetrack18_vitb.yaml"


def _vidpose(args: list[str], cwd: Path, timeout: int = 600) -> tuple[float, str]:
    """Run ``vidpose ARGS`` in ``cwd``; (seconds, stdout). Raises with stderr on failure."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "vidpose.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"vidpose {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return time.perf_counter() - start, proc.stdout


def _prepare(work: Path) -> dict:
    """The PT18 root under ``work/data/posetrack18``, the official ViT-B weights and their conversion."""
    import torch

    sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "rehearsal")]
    from posetrack_roots import GRID, build_root

    import official_vitpose

    build_root(SHARED, work / "data" / "posetrack18", "pt18")
    official = official_vitpose.official_state_dict(
        "classic", seed=0, grid=GRID, width=768, depth=12, joints=17, scale=0.02
    )
    torch.save({"state_dict": official, "meta": {}}, work / "vitpose_b.pth")
    (work / "checkpoints").mkdir()
    out = "checkpoints/vitpose-b-coco.safetensors"
    seconds, _ = _vidpose(["convert", "vitpose_b.pth", out, "--format", "vitpose", "--frames", "5"], work)
    return {"official": official, "convert_s": seconds, "reference": official_vitpose.reference_vitpose}


def check_equality(work: Path, official: dict, reference) -> str:  # noqa: ANN001
    """Max |difference| between the recipe's model at step 0 and ViTPose's forward, on CUDA, TF32 off."""
    import torch

    from vidpose.config import load_config
    from vidpose.data.dataset import build_dataset
    from vidpose.data.posetrack import read_sequences
    from vidpose.models import build_model
    from vidpose.tasks.train import init_from_checkpoint

    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cwd = Path.cwd()
    os.chdir(work)
    try:
        cfg = load_config(RECIPE)
        model = build_model(cfg.model)
        init_from_checkpoint(model, cfg.model.init_from)
        model = model.cuda().eval()
        seqs = read_sequences(Path(cfg.data.root) / cfg.data.val_ann, format=cfg.data.format)
        clip = build_dataset(cfg, seqs, train=False)[0]["clip"][None].cuda()
        sd = {k: v.cuda() for k, v in official.items()}
        with torch.no_grad():
            ours = model(clip)
            theirs = reference(sd, clip[:, cfg.model.num_frames // 2], "classic", num_heads=12)
    finally:
        os.chdir(cwd)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    diff = (ours - theirs).abs().max().item()
    if not diff <= 1e-4 * max(1.0, theirs.abs().max().item()):
        raise AssertionError(f"step-0 heatmaps differ from ViTPose's by {diff:.3g}")
    return f"max |diff| {diff:.2e} (heatmap max {theirs.abs().max().item():.3g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="training steps per run (then 2 more on resume)")
    parser.add_argument("--bench-batch", type=int, default=32, help="windows per step in bench train")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/results/gpu-check-<gpu>.md"
    )
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("error: gpu_check needs a CUDA device (torch.cuda.is_available() is False); nothing was run",
              file=sys.stderr)  # fmt: skip
        return 2
    if not SHARED.is_dir():
        print(f"error: sample data not found at {SHARED} (set VIDPOSE_SHARED_DATA)", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name(0)
    tag = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    out = args.out or REPO / "benchmarks" / "results" / f"gpu-check-{tag}.md"
    rows: list[tuple[str, str, str]] = []

    def record(name: str, fn) -> None:  # noqa: ANN001
        start = time.perf_counter()
        try:
            result = fn()
            rows.append((name, "ok", f"{result} ({time.perf_counter() - start:.0f} s)"))
        except Exception as e:  # noqa: BLE001 - every check is reported, the next one still runs
            rows.append((name, "FAILED", f"{type(e).__name__}: {str(e)[:400]}"))
        print(rows[-1], flush=True)

    bench_table = ""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prep = _prepare(work)
        rows.append(("convert ViTPose-B", "ok", f"{prep['convert_s']:.0f} s"))
        record(
            "step-0 equality, CUDA, TF32 off",
            lambda: check_equality(work, prep["official"], prep["reference"]),
        )
        run = [f"train.max_steps={args.steps}", "train.epochs=1", "--no-progress", "--no-eval"]
        more = [f"train.max_steps={args.steps + 2}", "train.epochs=1", "--no-progress", "--no-eval"]

        def train(extra: list[str], steps: list[str]) -> str:
            seconds, text = _vidpose(["train", str(RECIPE), *extra, *steps], work)
            return text.strip().splitlines()[0] + f"; {seconds:.0f} s incl. start-up"

        record("train bf16 (recipe as written)", lambda: train([], run))
        record("resume bf16 from last", lambda: train([], more))
        fp16 = ["train.amp_dtype=float16", "train.out_dir=runs/fp16"]
        record("train fp16 + grad scaler", lambda: train(fp16, run))

        def predict() -> str:
            model = work / "runs/posetrack18_vitb/model_last.safetensors"
            clip = SHARED / "bonn_multiperson_posetrack/posetrack18/test/060470979_bonn_test.json"
            seconds, _ = _vidpose(
                ["predict", str(clip), "-c", str(model), "-o", "predict", "--boxes", "gt", "--device", "cuda",
                 "--amp", "--no-video", "--root", str(SHARED / "bonn_multiperson_posetrack")], work
            )  # fmt: skip
            return f"41 frames in {seconds:.1f} s incl. start-up: {41 / seconds:.1f} frames/s"

        record("predict, Bonn clip", predict)

        def bench() -> str:
            nonlocal bench_table
            md = work / "bench.md"
            _vidpose(
                ["bench", "train", str(RECIPE), "--device", "cuda", "--batch", str(args.bench_batch),
                 "--precisions", "fp32,bf16,fp16", "--out", str(md)], work
            )  # fmt: skip
            bench_table = md.read_text()
            return "table below"

        record("bench train with MFU", bench)

    info = {"gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda}
    lines = [
        f"# GPU check of the PoseTrack recipes on {gpu}",
        "",
        f"- {json.dumps(info)}; script: benchmarks/gpu_check.py --steps {args.steps} --bench-batch "
        f"{args.bench_batch}; data: the PT18 rehearsal root built from ../shared/data",
        "",
        "| check | result | details |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        bench_table.replace("# Training cost", "## Training cost"),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
