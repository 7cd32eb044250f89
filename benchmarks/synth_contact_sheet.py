"""Contact sheet of the synthetic benchmark: for a few clips, the clean render of a frame with its ground
truth (skeleton, person and head boxes; hollow dots = joints hidden by an occluder or a nearer person) beside
the degraded frame as written to disk, labelled with each person's occlusion / blur / hard flag.

The committed docs/synthetic_contact_sheet.png was made from the repository root with
python benchmarks/synth_contact_sheet.py docs/synthetic_contact_sheet.png --clip-ids 8 9 11 22 --scale 0.75

Also prints the rendering speed of the degraded frames (ms per frame, one process).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidpose.data.synthetic import SynthConfig, render_frame, sample_clip
from vidpose.data.synthetic.degrade import encode_jpeg
from vidpose.skeleton import PT18

_LEFT, _RIGHT, _MID = (60, 200, 60), (60, 90, 240), (230, 200, 40)


def _joint_colour(name: str) -> tuple[int, int, int]:
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _MID


def draw_truth(img: np.ndarray, persons, scale: float) -> np.ndarray:
    """Draw skeletons, boxes and joints of the annotated persons on an upscaled copy."""
    out = img.copy()
    for p in persons:
        if not p.annotated:
            continue
        kp = p.keypoints
        x, y, w, h = p.box * scale
        cv2.rectangle(out, (int(x), int(y)), (int(x + w), int(y + h)), (255, 255, 255), 1)
        hx, hy, hw, hh = p.head_box * scale
        cv2.rectangle(out, (int(hx), int(hy)), (int(hx + hw), int(hy + hh)), (0, 220, 255), 1)
        for a, b in PT18.limbs:
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                pa, pb = (kp[a, :2] * scale).astype(int), (kp[b, :2] * scale).astype(int)
                cv2.line(out, tuple(pa), tuple(pb), _joint_colour(PT18.names[b]), 2, cv2.LINE_AA)
        for j, name in enumerate(PT18.names):
            if kp[j, 2] > 0:
                c = tuple(int(v) for v in kp[j, :2] * scale)
                cv2.circle(out, c, 4, (0, 0, 0), -1, cv2.LINE_AA)
                cv2.circle(out, c, 3, _joint_colour(name), 1 if p.joint_occluded[j] else -1, cv2.LINE_AA)
    return out


def label_degraded(img: np.ndarray, fr, scale: float) -> np.ndarray:
    out = img.copy()
    d = fr.degradation
    text = f"exp {d.exposure:.2f} dof {d.defocus_sigma:.1f} noise {d.noise_sigma:.0f} q{d.jpeg_quality}"
    if d.light_gain < 1:
        text += f" dim {d.light_gain:.2f}"
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    for p in fr.persons:
        if not p.annotated:
            continue
        x, y = int(p.box[0] * scale) + 2, int(p.box[1] * scale) + 12
        tag = f"#{p.track_id} occ {p.occlusion:.2f} blur {p.blur:.0f}" + (" HARD" if p.hard else "")
        colour = (60, 60, 255) if p.hard else (255, 255, 255)
        cv2.putText(out, tag, (x, max(y, 28)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, tag, (x, max(y, 28)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
    if fr.ignore_region is not None:
        poly = (fr.ignore_region * scale).astype(np.int32)
        cv2.polylines(out, [poly], True, (255, 0, 255), 1, cv2.LINE_AA)
    return out


def most_degraded(spec) -> int:
    """Index of the frame with the strongest scheduled degradation (shake, defocus, noise, compression)."""
    score = [
        d.shake / 4 + d.exposure + d.defocus_sigma + d.noise_sigma / 8 + (90 - d.jpeg_quality) / 20
        for d in spec.degradations
    ]
    return int(np.argmax(score))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="PNG to write")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument(
        "--frames",
        type=int,
        nargs="+",
        default=None,
        help="frame indices shown per clip (default: frame 4 and the most degraded frame)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="val")
    ap.add_argument("--first-clip", type=int, default=0)
    ap.add_argument(
        "--clip-ids", type=int, nargs="+", default=None, help="explicit clip indices (overrides --clips)"
    )
    ap.add_argument("--scale", type=float, default=1.0, help="tile scale relative to the frame size")
    ap.add_argument("--colors", type=int, default=256, help="palette size of the PNG (0 = full colour)")
    args = ap.parse_args()

    cfg = SynthConfig()
    rows, ms = [], []
    for c in args.clip_ids or range(args.first_clip, args.first_clip + args.clips):
        spec = sample_clip(cfg, args.seed, args.split, c)
        tiles = []
        for i in args.frames or [4, most_degraded(spec)]:
            i = min(i, spec.num_frames - 1)
            clean = render_frame(spec, i, clean=True)
            t0 = time.perf_counter()
            fr = render_frame(spec, i)
            ms.append(1000 * (time.perf_counter() - t0))
            stored = cv2.imdecode(
                np.frombuffer(encode_jpeg(fr.image, fr.degradation.jpeg_quality), np.uint8), 1
            )
            size = (int(round(fr.image.shape[1] * args.scale)), int(round(fr.image.shape[0] * args.scale)))
            up_clean = cv2.resize(clean.image, size, interpolation=cv2.INTER_AREA)
            up_deg = cv2.resize(stored, size, interpolation=cv2.INTER_AREA)
            tiles += [draw_truth(up_clean, clean.persons, args.scale), label_degraded(up_deg, fr, args.scale)]
            tiles += [np.full((size[1], 4, 3), 255, np.uint8)]
        rows.append(np.concatenate(tiles[:-1], axis=1))
        rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))
    sheet = np.concatenate(rows[:-1], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(sheet[:, :, ::-1])
    if args.colors:
        rgb = rgb.quantize(colors=args.colors, method=Image.Quantize.MEDIANCUT)
    rgb.save(args.out, optimize=True)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB, {sheet.shape[1]}x{sheet.shape[0]}); "
        f"degraded frame render {np.mean(ms):.1f} ms mean over {len(ms)} frames"
    )


if __name__ == "__main__":
    main()
