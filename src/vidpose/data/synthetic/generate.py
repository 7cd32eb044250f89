"""Writing a synthetic split in the PoseTrack18 layout.

::

    OUT/<split>/images/<seq>/000000.jpg ...
    OUT/<split>/annotations/<seq>.json     images, annotations, categories (PoseTrack18 keys + extra labels)
    OUT/<split>/detections.json            COCO detection list [{image_id, bbox, score, category_id}]
    OUT/<split>/synth_config.yaml          seed, split, clip count and the SynthConfig that made the split

``file_name`` is relative to OUT (the dataset root), like PoseTrack18's ``images/val/<seq>/000000.jpg`` is
relative to its root: ``<split>/images/<seq>/000000.jpg``. Sequence names ``<6 digits>_mpii_synth`` and image
ids ``1SSSSSSFFFF`` follow the PoseTrack18 scheme (poseval parses both). Extra per-person fields:
``occlusion`` (fraction of the silhouette hidden), ``blur`` (pixels), ``hard``, ``joint_occluded`` (17 flags);
extra per-image field: ``degradation``. Images carry no ``has_labeled_person`` (a PoseTrack21 key that readers
use to tell the two layouts apart). Every joint inside the frame is labelled with visibility 1, hidden or not;
ears are never labelled (0, 0, 0), as in PoseTrack.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from ...errors import ConfigError, DataFormatError
from ...fileio import atomic_write_bytes
from ..posetrack_writer import posetrack18_categories
from .clip import _DETECT, SPLITS, ClipSpec, FrameRender, render_frame, sample_clip, stream
from .config import SynthConfig
from .degrade import encode_jpeg

__all__ = ["SplitSummary", "generate_split", "generate_clip", "image_id"]


@dataclass(frozen=True)
class SplitSummary:
    """What :func:`generate_split` wrote.

    Attributes:
        split: train | val | test.
        root: OUT/<split>.
        num_clips, num_frames: sequences and frames written.
        num_persons: person annotations; num_hard: those flagged hard.
        mean_occlusion, mean_blur: averages over the annotations.
        num_detections: boxes in detections.json; num_ignore_regions: frames with an ignore region.
    """

    split: str
    root: Path
    num_clips: int
    num_frames: int
    num_persons: int
    num_hard: int
    mean_occlusion: float
    mean_blur: float
    num_detections: int
    num_ignore_regions: int


def image_id(seq_index: int, frame: int) -> int:
    """PoseTrack18 image id ``1SSSSSSFFFF`` (source 1, 6-digit sequence, 4-digit frame)."""
    return 10_000_000_000 + seq_index * 10_000 + frame


def _r(v: float, nd: int = 2) -> float:
    return round(float(v), nd)


def _dump(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _annotation_json(spec: ClipSpec, split: str, frames: list[FrameRender]) -> dict:
    cfg = spec.cfg
    H, W = cfg.frame_size
    images, annotations = [], []
    for i, fr in enumerate(frames):
        iid = image_id(spec.seq_index, i)
        persons = [p for p in fr.persons if p.annotated]
        region = fr.ignore_region
        images.append(
            {
                "id": iid,
                "file_name": f"{split}/images/{spec.name}/{i:06d}.jpg",
                "frame_id": iid,
                "vid_id": f"{spec.seq_index:06d}",
                "nframes": len(frames),
                "is_labeled": True,
                "ignore_regions_x": [] if region is None else [[_r(v) for v in region[:, 0]]],
                "ignore_regions_y": [] if region is None else [[_r(v) for v in region[:, 1]]],
                "width": W,
                "height": H,
                "degradation": fr.degradation.to_json(),
            }
        )
        for p in persons:
            annotations.append(
                {
                    "id": iid * 100 + p.track_id,
                    "image_id": iid,
                    "track_id": p.track_id,
                    "category_id": 1,
                    "bbox": [_r(v) for v in p.box],
                    "bbox_head": [_r(v) for v in p.head_box],
                    "keypoints": [_r(v) for v in p.keypoints.reshape(-1)],
                    "num_keypoints": int((p.keypoints[:, 2] > 0).sum()),
                    "iscrowd": False,
                    "occlusion": p.occlusion,
                    "blur": p.blur,
                    "hard": p.hard,
                    "joint_occluded": [int(v) for v in p.joint_occluded],
                }
            )
    return {"images": images, "annotations": annotations, "categories": posetrack18_categories()}


def _noisy_box(
    rng: np.random.Generator, box: np.ndarray, sigma: float, frame_hw: tuple[int, int]
) -> np.ndarray:
    H, W = frame_hw
    x, y, w, h = box
    cx = x + w / 2 + rng.normal(0.0, sigma) * w
    cy = y + h / 2 + rng.normal(0.0, sigma) * h
    w, h = w * math.exp(rng.normal(0.0, sigma)), h * math.exp(rng.normal(0.0, sigma))
    x0, y0 = min(max(cx - w / 2, 0.0), W), min(max(cy - h / 2, 0.0), H)
    x1, y1 = min(max(cx + w / 2, 0.0), W), min(max(cy + h / 2, 0.0), H)
    return np.array([x0, y0, x1 - x0, y1 - y0])


def _detections(spec: ClipSpec, index: int, fr: FrameRender) -> list[dict]:
    """A noisy person detector: misses and jitter grow, scores drop with occlusion, blur and darkness; false
    boxes anywhere, detections of the unannotated crowd."""
    cfg = spec.cfg
    H, W = cfg.frame_size
    rng = stream(spec.entropy, _DETECT, index)
    iid = image_id(spec.seq_index, index)
    light = 0.6 + 0.4 * fr.degradation.light_gain
    out: list[tuple[np.ndarray, float]] = []
    for p in fr.persons:
        if not p.annotated or p.box[2] < 1 or p.box[3] < 1:
            continue
        head_size = max(0.6 * math.hypot(p.head_box[2], p.head_box[3]), 1.0)
        quality = (1.0 - p.occlusion) * math.exp(-p.blur / head_size) * light
        if rng.uniform() < cfg.det_miss_rate + 0.6 * (1.0 - quality) ** 2:
            continue
        sigma = cfg.det_jitter * (1.0 + 2.0 * (1.0 - quality))
        score = float(np.clip(0.35 + 0.6 * quality + rng.normal(0.0, 0.05), 0.05, 0.99))
        out.append((_noisy_box(rng, p.box, sigma, (H, W)), score))
        if rng.uniform() < 0.05:  # a duplicate that survived NMS
            out.append((_noisy_box(rng, p.box, 3 * sigma, (H, W)), score * rng.uniform(0.2, 0.6)))
    for box in fr.crowd_boxes:
        if rng.uniform() < 0.5:
            out.append((_noisy_box(rng, box, cfg.det_jitter, (H, W)), float(rng.uniform(0.15, 0.6))))
    for _ in range(int(rng.poisson(cfg.det_false_per_frame))):
        h = rng.uniform(0.15, 0.7) * H
        w = h * rng.uniform(0.3, 0.7)
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        out.append((np.array([x, y, w, h]), float(rng.uniform(0.05, 0.5))))
    out = [(b, s) for b, s in out if b[2] >= 2 and b[3] >= 2]
    out.sort(key=lambda bs: -bs[1])
    return [
        {"image_id": iid, "bbox": [_r(v) for v in b], "score": _r(s, 4), "category_id": 1} for b, s in out
    ]


def generate_clip(spec: ClipSpec, split: str, split_dir: Path) -> tuple[dict, list[dict]]:
    """Render every frame of ``spec``, write the JPEGs and the annotation JSON; return (annotation dict,
    detections of the clip)."""
    seq_dir = split_dir / "images" / spec.name
    seq_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    detections: list[dict] = []
    for i in range(spec.num_frames):
        fr = render_frame(spec, i)
        atomic_write_bytes(seq_dir / f"{i:06d}.jpg", encode_jpeg(fr.image, fr.degradation.jpeg_quality))
        detections.extend(_detections(spec, i, fr))
        fr.image = fr.image[:0]  # keep the labels only
        frames.append(fr)
    ann = _annotation_json(spec, split, frames)
    atomic_write_bytes(split_dir / "annotations" / f"{spec.name}.json", _dump(ann))
    return ann, detections


def generate_split(
    out_dir: str | Path,
    split: str,
    num_clips: int,
    seed: int,
    cfg: SynthConfig = SynthConfig(),
    overwrite: bool = False,
) -> SplitSummary:
    """Generate ``num_clips`` clips of ``split`` under ``out_dir/split``.

    The same (seed, split, cfg) always gives the same bytes; splits draw from disjoint random streams.

    Raises:
        ConfigError: unknown split or a negative clip count.
        DataFormatError: ``out_dir/split`` already holds files and ``overwrite`` is False.
    """
    if split not in SPLITS:
        raise ConfigError(f"synthetic split {split!r}: expected one of {sorted(SPLITS)}")
    if not 0 <= num_clips < 100_000:
        raise ConfigError(f"synthetic num_clips: got {num_clips}, expected 0..99999")
    split_dir = Path(out_dir) / split
    if split_dir.exists() and any(split_dir.iterdir()):
        if not overwrite:
            raise DataFormatError(
                f"{split_dir}: already holds files; use overwrite=True (--overwrite) to replace them"
            )
        for sub in ("images", "annotations"):
            shutil.rmtree(split_dir / sub, ignore_errors=True)
        for name in ("detections.json", "synth_config.yaml"):
            (split_dir / name).unlink(missing_ok=True)
    (split_dir / "annotations").mkdir(parents=True, exist_ok=True)

    detections: list[dict] = []
    num_frames = num_persons = num_hard = num_regions = 0
    occ_sum = blur_sum = 0.0
    for c in range(num_clips):
        spec = sample_clip(cfg, seed, split, c)
        ann, dets = generate_clip(spec, split, split_dir)
        detections.extend(dets)
        num_frames += len(ann["images"])
        num_regions += sum(1 for im in ann["images"] if im["ignore_regions_x"])
        for a in ann["annotations"]:
            num_persons += 1
            num_hard += int(a["hard"])
            occ_sum += a["occlusion"]
            blur_sum += a["blur"]
    atomic_write_bytes(split_dir / "detections.json", _dump(detections))
    meta = {
        "generator": "vidpose.data.synthetic",
        "seed": seed,
        "split": split,
        "num_clips": num_clips,
        "config": asdict(cfg),
    }
    atomic_write_bytes(split_dir / "synth_config.yaml", yaml.safe_dump(meta, sort_keys=False).encode())
    return SplitSummary(
        split=split,
        root=split_dir,
        num_clips=num_clips,
        num_frames=num_frames,
        num_persons=num_persons,
        num_hard=num_hard,
        mean_occlusion=occ_sum / max(num_persons, 1),
        mean_blur=blur_sum / max(num_persons, 1),
        num_detections=len(detections),
        num_ignore_regions=num_regions,
    )
