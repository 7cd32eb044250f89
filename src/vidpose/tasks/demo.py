"""The demo: the temporal model beside the single-frame baseline and the truth, on synthetic clips with
occlusion, blur and dropped frames, with both models' AP and MOTA.

``run_demo(out_dir)`` generates a small synthetic test split (:data:`DEMO_SYNTH`: two or three people per
clip, foreground occluders crossing them and a motion-blur burst in every clip; exact ground truth), drops
one frame in every :data:`DROP_EVERY` (the frame's image replaced by a black one, as a glitching stream or a
lost packet leaves it; its ground truth and detection boxes kept, so that it is scored), runs both
bundled models (:func:`bundled_checkpoint`) through :class:`~vidpose.inference.pipeline.VideoPoseEstimator`
on each clip with the split's noisy detection boxes and the tracker (what a user gets: neither GT boxes nor
GT ids; exact per-window crops, as in evaluation and ``vidpose predict``), scores both with the native
PoseTrack evaluator (:func:`~vidpose.evaluation.evaluate_folders`, AP and MOTA) and writes into ``out_dir``:

- ``<clip>.mp4``: three panels, each the frame enlarged :data:`PANEL_SCALE` times with the poses drawn on the
  enlarged frame: temporal model | single-frame baseline | ground truth, a title bar above each; a frame with
  a hard person (more than 40 % occluded or blurred beyond half its head size) has a red border around every
  panel and its tag ("occluded", "blurred" or both) in every title bar, a dropped frame a blue border and the
  tag "dropped frame";
- ``predictions/temporal/<clip>.json`` and ``predictions/single_frame/<clip>.json``: poseval-ready PoseTrack18
  predictions with the tracker's ids (and the ``.coco.json`` files of ``vidpose predict``);
- ``metrics/temporal/`` and ``metrics/single_frame/``: poseval's JSON files and ``table.txt``;
- ``metrics/summary.json``: both models' AP (all frames, the marked frames, the dropped frames) and MOTA, the
  model files and the protocol; ``metrics/summary.txt``: :func:`format_summary`'s text;
- ``data/test/``: the generated clips (images, the dropped ones black; annotations; ``detections.json``).

The library prints nothing: the ``demo`` command prints :func:`format_summary`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..data.posetrack import read_predictions, read_sequences
from ..data.records import Sequence
from ..data.synthetic import SynthConfig, generate_split
from ..data.synthetic.labels import person_labels
from ..data.video_io import VideoWriter
from ..errors import CheckpointError, ConfigError, DataFormatError
from ..evaluation import evaluate_ap, evaluate_folders, format_table, write_poseval_json
from ..fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..inference.outputs import PredictionWriter
from ..inference.pipeline import FrameResult, VideoPoseEstimator
from ..inference.render import draw_poses, mark_frame, scale_poses, titled_panels, upscale_frame

__all__ = [
    "DEMO_SYNTH",
    "DROP_EVERY",
    "MODELS",
    "PANEL_SCALE",
    "DemoSummary",
    "bundled_checkpoint",
    "format_summary",
    "run_demo",
]

#: The two models the demo compares, in panel order.
MODELS: tuple[str, ...] = ("temporal", "single_frame")
_BUNDLED = {
    "temporal": "synthetic_temporal.safetensors",
    "single_frame": "synthetic_single_frame.safetensors",
}
_OPTION = {"temporal": "--temporal-model", "single_frame": "--single-frame-model"}
_LABEL = {"temporal": "temporal", "single_frame": "single-frame"}

#: The demo clips: the benchmark's generator with two or three people, every clip with a motion-blur burst,
#: no dim clips and no ignore regions (so that every person on screen is annotated).
DEMO_SYNTH = SynthConfig(
    people_range=(2, 3), occluders_per_clip=1.0, p_blur_burst=1.0, p_low_light=0.0, p_ignore_region=0.0
)
#: Default seed: both of its first two clips have occluded, blurred and clean frames.
DEMO_SEED = 8
#: Each panel is the frame enlarged this many times (the synthetic frames are 384 x 288).
PANEL_SCALE = 2.0
#: Joints scoring below this are not drawn (both models alike); GT joints are drawn when labelled.
DRAW_SCORE_THR = 0.2
TAG_COLOUR = (230, 40, 40)
#: Frames ``DROP_EVERY // 2``, ``DROP_EVERY // 2 + DROP_EVERY``, ... of every clip are dropped (black). Eight
#: frames apart, a dropped frame's window (offsets -2..2) holds no other dropped frame.
DROP_EVERY = 8
DROP_COLOUR = (40, 110, 230)
DROP_TAG = "dropped frame"
BOXES_NOTE = "the split's noisy detections (data/test/detections.json) + the tracker, not GT boxes"


def bundled_checkpoint(model: str = "temporal") -> Path:
    """Path of a model shipped with the package: ``"temporal"`` (MLSME + SMML, the full model) or
    ``"single_frame"`` (the single-frame baseline: same backbone and head). Raises :class:`ConfigError` for
    another name and :class:`CheckpointError` when the file is missing from the installation."""
    if model not in _BUNDLED:
        raise ConfigError(f"bundled model {model!r}: expected one of {', '.join(map(repr, MODELS))}")
    path = Path(str(resources.files("vidpose") / "assets" / _BUNDLED[model]))
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the bundled {_LABEL[model]} demo model is missing from this installation; reinstall "
            f"vidpose or pass {_OPTION[model]}"
        )
    return path


@dataclass
class DemoSummary:
    """What the demo wrote and measured.

    Attributes:
        out_dir: the output folder.
        checkpoints: model file per model name (:data:`MODELS`); ``frames_per_window``: T per model.
        videos: one mp4 per clip; ``predictions``: PoseTrack files per model name, one per clip.
        num_clips, num_frames: clips and frames evaluated; ``marked_frames``: frames with a hard person
            (dropped frames excluded); ``dropped_frames``: frames replaced by a black image.
        seed: seed of the clips.
        tables: the evaluator's AP / MOTA table per model.
        metrics: per model ``ap`` (total AP), ``ap_marked`` (AP on the marked frames; NaN if none),
            ``ap_dropped`` (AP on the dropped frames; NaN if none) and ``mota`` (total MOTA).
        seconds: wall time per stage (generate, temporal, single_frame, render, evaluate, total).
    """

    out_dir: Path
    checkpoints: dict[str, Path] = field(default_factory=dict)
    frames_per_window: dict[str, int] = field(default_factory=dict)
    videos: list[Path] = field(default_factory=list)
    predictions: dict[str, list[Path]] = field(default_factory=dict)
    num_clips: int = 0
    num_frames: int = 0
    marked_frames: int = 0
    dropped_frames: int = 0
    seed: int = DEMO_SEED
    tables: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _degradations(sequence: Sequence, hard_occlusion: float) -> dict[int, str]:
    """Frame index -> "occluded", "blurred" or "occluded + blurred" for frames with a hard person.

    A hard person more than ``hard_occlusion`` hidden counts as occluded, any other hard person is hard
    because of its blur (the generator's two criteria)."""
    tags: dict[int, str] = {}
    for frame, persons in (person_labels(sequence) or {}).items():
        kinds = {
            "occluded" if occlusion > hard_occlusion else "blurred" for hard, occlusion in persons if hard
        }
        if kinds:
            tags[frame] = " + ".join(k for k in ("occluded", "blurred") if k in kinds)
    return tags


def _dropped_frames(num_frames: int, every: int) -> list[int]:
    """The dropped frame indices of a clip of ``num_frames`` frames: one in ``every``, the first at
    ``every // 2``; none for ``every`` = 0."""
    return list(range(every // 2, num_frames, every)) if every > 0 else []


def _drop_frames(sequence: Sequence, root: Path, frames: list[int]) -> None:
    """Overwrite the images of ``frames`` of ``sequence`` (files under ``root``) with black JPEGs of their
    size."""
    for index in frames:
        path = root / sequence.frames[index].file_name
        image = cv2.imread(str(path))
        if image is None:
            raise DataFormatError(f"{path}: could not read the generated frame to drop it")
        ok, data = cv2.imencode(".jpg", np.zeros_like(image))
        if not ok:
            raise DataFormatError(f"{path}: OpenCV could not encode a black JPEG")
        atomic_write_bytes(path, data.tobytes())


def _gt_persons(sequence: Sequence, frame: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(track id, box, keypoints with score 1 for every labelled joint) of the GT persons of a frame."""
    out = []
    for p in sequence.frames[frame].persons:
        kp = np.asarray(p.keypoints, dtype=np.float64).copy()
        kp[:, 2] = (kp[:, 2] > 0) | (kp[:, :2].sum(axis=1) > 0)
        out.append((p.track_id, p.box, kp))
    return out


def _estimators(checkpoints: dict[str, Path], device: str, boxes: Path) -> dict[str, VideoPoseEstimator]:
    """One estimator per model name, each checked to be of the kind its name says."""
    out = {}
    for name in MODELS:
        path = checkpoints[name]
        estimator = VideoPoseEstimator(path, device=device, boxes=boxes, share_features=False)
        temporal = estimator.cfg.model.temporal
        if temporal != (name == "temporal"):
            raise CheckpointError(
                f"{path}: a {'temporal' if temporal else 'single-frame'} model (model.temporal = "
                f"{str(temporal).lower()}) given as the {_LABEL[name]} model ({_OPTION[name]}); the demo "
                "compares a temporal model with a single-frame one"
            )
        out[name] = estimator
    return out


def _compose(
    frame: np.ndarray,
    poses: list[list[tuple[int, np.ndarray | None, np.ndarray]]],
    titles: list[str],
    tag: str | None,
) -> np.ndarray:
    """frame [H, W, 3] and the three panels' persons -> the demo frame [s H + bar, 3 s W + 2 gap, 3].

    ``tag``: a degradation's name (the panels get a border and the title bars the tag: blue for
    :data:`DROP_TAG`, red for the others) or None."""
    big = upscale_frame(frame, PANEL_SCALE)
    radius = max(3, round(3 * PANEL_SCALE))
    panels = [
        draw_poses(big, scale_poses(persons, PANEL_SCALE), score_thr=thr, joint_radius=radius)
        for persons, thr in zip(poses, (DRAW_SCORE_THR, DRAW_SCORE_THR, 0.5), strict=True)
    ]
    colour = DROP_COLOUR if tag == DROP_TAG else TAG_COLOUR
    if tag:
        panels = [mark_frame(panel, "", colour) for panel in panels]
    return titled_panels(panels, titles, tag, colour)


def _confirmed(result: FrameResult) -> list[tuple[int, np.ndarray | None, np.ndarray]]:
    return [(p.track_id, p.box, p.keypoints) for p in result.persons if p.track_id >= 0]


def run_demo(
    out_dir: str | Path,
    temporal_checkpoint: str | Path | None = None,
    single_frame_checkpoint: str | Path | None = None,
    clips: int = 2,
    frames: int = 24,
    seed: int = DEMO_SEED,
    device: str = "cpu",
    drop_every: int = DROP_EVERY,
) -> DemoSummary:
    """Run the demo into ``out_dir`` (see the module docstring) and return what it wrote and measured.

    ``temporal_checkpoint`` / ``single_frame_checkpoint``: model files; None = the bundled ones.
    ``drop_every``: one frame in this many is dropped (:func:`_dropped_frames`); 0 = none.
    """
    if drop_every < 0:
        raise ConfigError(
            f"demo drop_every: expected 0 (no dropped frames) or a positive int, got {drop_every}"
        )
    start = time.perf_counter()
    out_dir = Path(out_dir)
    summary = DemoSummary(out_dir, seed=seed, predictions={name: [] for name in MODELS})
    summary.seconds = dict.fromkeys(("load", "generate", *MODELS, "render", "evaluate"), 0.0)
    data_root = out_dir / "data"
    synth = replace(DEMO_SYNTH, frames_per_clip=frames)
    given = {"temporal": temporal_checkpoint, "single_frame": single_frame_checkpoint}
    summary.checkpoints = {name: Path(given[name] or bundled_checkpoint(name)) for name in MODELS}
    estimators = _estimators(summary.checkpoints, device, data_root / "test" / "detections.json")
    summary.frames_per_window = {name: len(e.offsets) for name, e in estimators.items()}
    summary.seconds["load"] = time.perf_counter() - start

    t0 = time.perf_counter()
    generate_split(data_root, "test", clips, seed, synth, overwrite=True)
    sequences = read_sequences(data_root / "test" / "annotations")
    dropped = {s.name: _dropped_frames(len(s.frames), drop_every) for s in sequences}
    for sequence in sequences:
        _drop_frames(sequence, data_root, dropped[sequence.name])
    summary.seconds["generate"] = time.perf_counter() - t0
    summary.num_clips = len(sequences)
    summary.num_frames = sum(len(s.frames) for s in sequences)

    pred_dirs = {name: out_dir / "predictions" / name for name in MODELS}
    titles = [f"temporal model (T={summary.frames_per_window['temporal']})", "single-frame baseline"]
    marked: dict[str, set[int]] = {}
    baseline, temporal = estimators["single_frame"], estimators["temporal"]
    for sequence in sequences:
        tags = _degradations(sequence, synth.hard_occlusion)
        for index in dropped[sequence.name]:  # a black frame's occluders and blur are not seen
            tags.pop(index, None)
        marked[sequence.name] = set(tags)
        tags.update(dict.fromkeys(dropped[sequence.name], DROP_TAG))
        # the baseline first: its poses (a few per frame) wait for the temporal pass, which renders
        t0 = time.perf_counter()
        video = baseline.open(sequence.source, root=data_root)
        baseline_poses = {}
        with PredictionWriter(
            pred_dirs["single_frame"], video, baseline.cfg.eval.joint_score_thr, write_video=False
        ) as writer:
            for result in baseline.run(video):
                writer.add(result)
                baseline_poses[result.frame_index] = _confirmed(result)
            summary.predictions["single_frame"].append(writer.close()["posetrack"])
        summary.seconds["single_frame"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        render_s = 0.0
        video = temporal.open(sequence.source, root=data_root)
        path = out_dir / f"{sequence.name}.mp4"
        with (
            PredictionWriter(
                pred_dirs["temporal"], video, temporal.cfg.eval.joint_score_thr, write_video=False
            ) as writer,
            VideoWriter(path, fps=video.fps) as rendered,
        ):
            for result in temporal.run(video, return_frames=True):
                writer.add(result)
                r0 = time.perf_counter()
                i = result.frame_index
                poses = [_confirmed(result), baseline_poses.pop(i, []), _gt_persons(sequence, i)]
                truth = f"ground truth (frame {i + 1}/{len(sequence.frames)})"
                rendered.write(_compose(result.frame, poses, [*titles, truth], tags.get(i)))
                render_s += time.perf_counter() - r0
            summary.predictions["temporal"].append(writer.close()["posetrack"])
        summary.videos.append(path)
        summary.seconds["temporal"] += time.perf_counter() - t0 - render_s
        summary.seconds["render"] += render_s
    summary.marked_frames = sum(len(v) for v in marked.values())
    summary.dropped_frames = sum(len(v) for v in dropped.values())

    t0 = time.perf_counter()
    gt_dir = data_root / "test" / "annotations"
    subsets = {
        "ap_marked": ([s.only_frames(marked[s.name]) for s in sequences], summary.marked_frames),
        "ap_dropped": ([s.only_frames(set(dropped[s.name])) for s in sequences], summary.dropped_frames),
    }
    for name in MODELS:
        report = evaluate_folders(gt_dir, pred_dirs[name], tracking=True)
        assert report.mot is not None  # tracking=True
        metrics_dir = out_dir / "metrics" / name
        write_poseval_json(report, metrics_dir)
        summary.tables[name] = format_table(report)
        atomic_write_text(metrics_dir / "table.txt", summary.tables[name] + "\n")
        summary.metrics[name] = {"ap": float(report.ap.ap[-1])}
        preds = [read_predictions(pred_dirs[name] / f"{s.name}.json") for s in sequences]
        for key, (subset, count) in subsets.items():
            summary.metrics[name][key] = float(evaluate_ap(subset, preds).ap[-1]) if count else math.nan
        summary.metrics[name]["mota"] = float(report.mot.mota[-1])
    summary.seconds["evaluate"] = time.perf_counter() - t0
    summary.seconds["total"] = time.perf_counter() - start
    _write_summary(summary)
    return summary


def _write_summary(summary: DemoSummary) -> None:
    metrics_dir = summary.out_dir / "metrics"
    data = {
        "clips": summary.num_clips,
        "frames": summary.num_frames,
        "marked_frames": summary.marked_frames,
        "dropped_frames": summary.dropped_frames,
        "seed": summary.seed,
        "boxes": BOXES_NOTE,
        "models": {
            name: {
                "checkpoint": str(summary.checkpoints[name]),
                "frames_per_window": summary.frames_per_window[name],
                **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()},
            }
            for name, m in summary.metrics.items()
        },
        "seconds": {k: round(v, 2) for k, v in summary.seconds.items()},
    }
    atomic_write_json(metrics_dir / "summary.json", data, indent=2)
    atomic_write_text(metrics_dir / "summary.txt", format_summary(summary) + "\n")


def _number(value: float, width: int, signed: bool = False) -> str:
    if math.isnan(value):
        return "-".rjust(width)
    return f"{value:+{width}.1f}" if signed else f"{value:{width}.1f}"


def format_summary(summary: DemoSummary) -> str:
    """The demo's report as text: the clips and the protocol, both models' AP and MOTA side by side, the
    per-joint tables, where the files are and the time per stage."""
    out = summary.out_dir
    n_t = summary.frames_per_window.get("temporal", 0)
    lines = [
        f"demo: {summary.num_clips} synthetic test clip(s), {summary.num_frames} frames (seed "
        f"{summary.seed}): people crossed by occluders, a motion-blur burst per clip",
        f"marked frames: {summary.marked_frames} of {summary.num_frames} (a person more than 40 % occluded "
        "or blurred beyond half its head size)",
        f"dropped frames: {summary.dropped_frames} of {summary.num_frames} (replaced by a black image; "
        "GT and detection boxes kept)",
        f"boxes: {BOXES_NOTE}",
        f"temporal model:     {summary.checkpoints.get('temporal')} (T={n_t})",
        f"single-frame model: {summary.checkpoints.get('single_frame')} (T=1)",
        "",
        f"{'model':<14}{'AP':>7}{'AP marked':>11}{'AP dropped':>12}{'MOTA':>8}",
    ]
    for name in MODELS:
        m = summary.metrics.get(name)
        if m is None:
            continue
        lines.append(
            f"{_LABEL[name]:<14}{_number(m['ap'], 7)}{_number(m['ap_marked'], 11)}"
            f"{_number(m['ap_dropped'], 12)}{_number(m['mota'], 8)}"
        )
    if all(name in summary.metrics for name in MODELS):
        t, s = summary.metrics["temporal"], summary.metrics["single_frame"]
        lines.append(
            f"{'difference':<14}{_number(t['ap'] - s['ap'], 7, True)}"
            f"{_number(t['ap_marked'] - s['ap_marked'], 11, True)}"
            f"{_number(t['ap_dropped'] - s['ap_dropped'], 12, True)}{_number(t['mota'] - s['mota'], 8, True)}"
            "   (temporal - single-frame)"
        )
    lines.append(
        "AP: PoseTrack mAP (total); AP marked / dropped: on those frames only; MOTA: total, with tracking"
    )
    for name, title in (("temporal", "temporal model"), ("single_frame", "single-frame baseline")):
        if name in summary.tables:
            lines += ["", f"{title}:", summary.tables[name]]
    lines.append("")
    for video in summary.videos:
        lines.append(
            "video (temporal | single-frame | ground truth; marked frames framed in red, dropped ones in "
            f"blue): {video}"
        )
    lines += [
        f"predictions (PoseTrack18 JSON): {out / 'predictions' / 'temporal'}, "
        f"{out / 'predictions' / 'single_frame'}",
        f"metrics (summary.json, poseval JSON + table.txt per model): {out / 'metrics'}",
        "time: " + ", ".join(f"{k.replace('_', '-')} {v:.1f} s" for k, v in summary.seconds.items()),
    ]
    return "\n".join(lines)
