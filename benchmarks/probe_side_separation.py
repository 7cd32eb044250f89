"""Probe (a negative result, kept so it can be re-run): does separating collapsed left/right peaks at decode
time recover the inversions the error diagnosis found?

    python benchmarks/probe_side_separation.py

``benchmarks/error_diagnosis.py`` found 9 % of the stage-1 model's joints within the threshold of the same
person's other-side joint; 319 of its 728 test-split inversions are "collapsed" (the other side's prediction
is good: both heatmaps peak on one joint). The probe: for every left/right pair whose two argmaxes lie within
``R`` heatmap pixels, the weaker channel's heatmap is zeroed in a disc of radius R around the stronger one's
peak and re-decoded, the new peak kept when it is at least ``ratio`` times the old maximum (its value becomes
the joint's score). It patches :meth:`vidpose.codec.HeatmapCodec.decode` in this process only and evaluates
``runs/synthetic_stage1_long`` (``benchmarks/synthetic_protocol.py --round 5`` makes it) on the validation
split (not the test split: a setting chosen here would be one chosen on the test otherwise), GT boxes, no flip
test. Writes ``benchmarks/results/side-separation-probe-cpu1.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from vidpose import codec as C
from vidpose.config import load_config
from vidpose.fileio import atomic_write_text
from vidpose.skeleton import PT18
from vidpose.tasks.evaluate import evaluate_checkpoint

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "runs" / "synthetic_stage1_long"
SETTINGS = ((0.0, 0.0), (1.5, 0.0), (2.0, 0.5), (2.0, 0.8), (3.0, 0.0), (3.0, 0.3), (4.0, 0.6))
_PLAIN_DECODE = C.HeatmapCodec.decode


def separated_decode(radius: float, ratio: float):
    """A ``HeatmapCodec.decode`` that re-decodes the weaker of two collapsed left/right peaks."""

    def decode(self, heatmaps):
        hm = heatmaps.detach().float()  # [B, K, h, w]
        uv, scores = C._argmax_2d(hm)
        _, _, h, w = hm.shape
        ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
        xs = torch.arange(w, dtype=torch.float32).view(1, 1, w)
        masked = hm.clone()
        for a, b in PT18.flip_pairs:
            close = (uv[:, a] - uv[:, b]).norm(dim=-1) <= radius  # [B]
            a_weaker = scores[:, a] < scores[:, b]
            for weak, strong, sel in ((a, b, close & a_weaker), (b, a, close & ~a_weaker)):
                c = uv[:, strong]
                disc = (xs - c[:, 0, None, None]) ** 2 + (ys - c[:, 1, None, None]) ** 2 <= radius**2
                masked[:, weak] = torch.where(sel[:, None, None] & disc, 0.0, masked[:, weak])
        uv2, s2 = C._argmax_2d(masked)
        accept = (s2 >= ratio * scores) & (uv2 != uv).any(-1)
        uv = torch.where(accept[..., None], uv2, uv)
        scores = torch.where(accept, s2, scores)
        if self.method == "dark":
            offsets = C._dark_offsets(hm, uv, self.dark_kernel)
        else:
            offsets = C._shift_offsets(hm, uv)
        return self.heatmap_to_input(uv + offsets), scores

    return decode


def main() -> None:
    cfg = load_config(RUN / "config.yaml", ["data.val_ann=val/annotations"])
    rows = []
    for radius, ratio in SETTINGS:
        C.HeatmapCodec.decode = _PLAIN_DECODE if radius <= 0 else separated_decode(radius, ratio)
        t = time.time()
        s = evaluate_checkpoint(RUN / "model_last.safetensors", cfg, boxes="gt", flip_test=False)
        rows.append((radius, ratio, s.ap.ap[-1], s.ap_hard.ap[-1], time.time() - t))
        print(rows[-1], flush=True)
    C.HeatmapCodec.decode = _PLAIN_DECODE
    lines = [
        "# Left/right peak separation at decode time (probe; `benchmarks/probe_side_separation.py`)",
        "",
        f"- model `{RUN.relative_to(REPO)}` (stage 1), validation split (12 clips, seed 0), GT boxes, "
        "no flip test, 1 torch thread beside training runs",
        "- R = 0 is the plain decode (argmax + DARK)",
        "",
        "| R (heatmap px) | min ratio | val AP | val AP hard | s |",
        "|---|---|---|---|---|",
        *(f"| {r:g} | {q:g} | {ap:.2f} | {hard:.2f} | {sec:.0f} |" for r, q, ap, hard, sec in rows),
    ]
    out = REPO / "benchmarks" / "results" / "side-separation-probe-cpu1.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
