"""Model cost benchmark: parameters, GFLOPs and CPU latency per window for every ViT size.

Writes ``benchmarks/results/model-cpu2.md`` and ``.csv`` (the committed results) through the library's
``vidpose.models.profile`` (the same code as ``vidpose bench model``)::

    python benchmarks/bench_model.py                     # nano..huge, 256x192, T=5, fp32 + bf16
    python benchmarks/bench_model.py --sizes nano,tiny --out /tmp/model.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from vidpose.models.profile import bench_sizes, format_bench_markdown, write_bench

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "model-cpu2.md"
ALL_SIZES = "nano,tiny,small,base,large,huge"
# Fewer timed forwards for the big sizes: a huge T=5 window takes seconds on 2 cores.
REPEATS_BY_SIZE = {"large": 4, "huge": 3}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=ALL_SIZES)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--image-size", default="256x192", help="HxW")
    parser.add_argument("--repeats", type=int, default=5, help="timed forwards (large: 4, huge: 3)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    h, w = (int(v) for v in args.image_size.lower().split("x"))
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    load_before = os.getloadavg()
    start = time.time()
    rows = bench_sizes(
        sizes,
        frames=args.frames,
        image_size=(h, w),
        precisions=("fp32", "bf16"),
        warmup=args.warmup,
        repeats=args.repeats,
        repeats_by_size=REPEATS_BY_SIZE,
        device="cpu",
    )
    load_after = os.getloadavg()
    reduced = ", ".join(f"{s} {n}" for s, n in REPEATS_BY_SIZE.items() if s in sizes)
    notes = [
        "latency cells: median of the timed forwards, in parentheses the fastest one (the least disturbed by "
        "other processes; the better estimate of an idle machine)",
        f"repeats: {args.repeats} timed forwards per precision"
        + (f" ({reduced} for the big sizes)" if reduced else ""),
        "the 2 cores were shared with other processes (other test and training jobs) during the run: "
        f"1-min load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; latencies are noisy and "
        "may be pessimistic",
        f"total run time {time.time() - start:.0f} s; weights random (cost does not depend on them)",
        "T=1 columns: the single-frame ViTPose baseline (same backbone and head; no MLSME, SMML or "
        "motion head)",
        "params: total includes the training-only parts (MLSME reconstruction heads, motion head)",
        f"command: python benchmarks/bench_model.py --sizes {','.join(sizes)} --frames {args.frames} "
        f"--image-size {h}x{w}; torch.get_num_threads() = {torch.get_num_threads()}",
    ]
    print(format_bench_markdown(rows))
    for path in write_bench(rows, args.out, notes=notes):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
