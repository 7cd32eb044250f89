"""The demo: a synthetic test clip set, the bundled model, tracked poses beside the truth, and the metrics.

``run_demo(out_dir)`` generates a small synthetic test split (people, occluders, blur; exact ground truth),
runs :class:`~vidpose.inference.pipeline.VideoPoseEstimator` with the bundled checkpoint on each clip with the
split's noisy detection boxes and the tracker (so track ids are real), writes per clip a poseval-ready
prediction file and an H.264 video (prediction on the left, ground truth on the right, frames with a hard
person marked), and scores everything with the native PoseTrack evaluator (AP and MOTA).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..data.posetrack import read_sequences
from ..data.records import Sequence
from ..data.synthetic import SynthConfig, generate_split
from ..data.synthetic.labels import person_labels
from ..data.video_io import VideoWriter
from ..errors import CheckpointError
from ..evaluation import evaluate_folders, format_table, write_poseval_json
from ..fileio import atomic_write_text
from .outputs import PredictionWriter
from .pipeline import VideoPoseEstimator
from .render import draw_poses, mark_frame, side_by_side

__all__ = ["DemoSummary", "bundled_checkpoint", "run_demo"]

BUNDLED_NAME = "synthetic_nano.safetensors"


def bundled_checkpoint() -> Path:
    """Path of the small model shipped with the package (trained with ``configs/synthetic_nano.yaml``)."""
    path = Path(str(resources.files("vidpose") / "assets" / BUNDLED_NAME))
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the bundled demo model is missing from this installation; reinstall vidpose or pass "
            "--checkpoint"
        )
    return path


@dataclass
class DemoSummary:
    """What the demo wrote and measured: ``videos`` and ``predictions`` per clip, the evaluator's ``table``,
    ``metrics`` (AP / MOTA totals), ``seconds`` per stage."""

    out_dir: Path
    videos: list[Path] = field(default_factory=list)
    predictions: list[Path] = field(default_factory=list)
    table: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _degradations(sequence: Sequence) -> dict[int, str]:
    """Frame index -> "occluded" / "blurred" for frames with a hard person (from the synthetic labels)."""
    tags: dict[int, str] = {}
    for frame, persons in (person_labels(sequence.source) or {}).items():
        hard = [occlusion for is_hard, occlusion in persons if is_hard]
        if hard:
            tags[frame] = "occluded" if max(hard) > 0.4 else "blurred"
    return tags


def _gt_persons(sequence: Sequence, frame: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    out = []
    for p in sequence.frames[frame].persons:
        kp = np.asarray(p.keypoints, dtype=np.float64).copy()
        kp[:, 2] = (kp[:, 2] > 0) | (kp[:, :2].sum(axis=1) > 0)
        out.append((p.track_id, p.box, kp))
    return out


def run_demo(
    out_dir: str | Path,
    checkpoint: str | Path | None = None,
    clips: int = 2,
    frames: int = 24,
    seed: int = 2026,
    device: str = "cpu",
) -> DemoSummary:
    """Run the demo into ``out_dir`` (see the module docstring) and return what it wrote and measured."""
    out_dir = Path(out_dir)
    summary = DemoSummary(out_dir)
    t0 = time.perf_counter()
    data_root = out_dir / "data"
    generate_split(data_root, "test", clips, seed, SynthConfig(frames_per_clip=frames), overwrite=True)
    sequences = read_sequences(data_root / "test" / "annotations")
    summary.seconds["generate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    estimator = VideoPoseEstimator(
        checkpoint or bundled_checkpoint(), device=device, boxes=data_root / "test" / "detections.json"
    )
    pred_dir = out_dir / "predictions"
    for sequence in sequences:
        video = estimator.open(sequence.source, root=data_root)
        tags = _degradations(sequence)
        with (
            PredictionWriter(
                pred_dir, video, estimator.cfg.eval.joint_score_thr, write_video=False
            ) as writer,
            VideoWriter(out_dir / f"{sequence.name}.mp4", fps=video.fps) as rendered,
        ):
            for result in estimator.run(video, return_frames=True):
                writer.add(result)
                persons = [(p.track_id, p.box, p.keypoints) for p in result.persons if p.track_id >= 0]
                left = draw_poses(result.frame, persons)
                right = draw_poses(result.frame, _gt_persons(sequence, result.frame_index), score_thr=0.5)
                frame = side_by_side(left, right, ("vidpose (tracked)", "ground truth"))
                if result.frame_index in tags:
                    frame = mark_frame(frame, tags[result.frame_index], (230, 40, 40))
                rendered.write(frame)
            paths = writer.close()
        summary.predictions.append(paths["posetrack"])
        summary.videos.append(out_dir / f"{sequence.name}.mp4")
    summary.seconds["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = evaluate_folders(data_root / "test" / "annotations", pred_dir, tracking=True)
    write_poseval_json(report, out_dir / "metrics")
    summary.table = format_table(report)
    summary.metrics = {"ap_total": float(report.ap.ap[-1]), "mota_total": float(report.mot.mota[-1])}
    atomic_write_text(out_dir / "metrics" / "table.txt", summary.table + "\n")
    summary.seconds["evaluate"] = time.perf_counter() - t0
    return summary
