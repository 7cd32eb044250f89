"""Synth: one split of the synthetic degradation benchmark written in the PoseTrack18 layout, timed (the job
behind ``vidpose synth``).

    >>> run = synth("data/synthetic", "test", clips=4, seed=616161)
    >>> run.summary.num_frames, run.frames_per_second
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..data import synthetic
from ..data.synthetic import SplitSummary

__all__ = ["SPLITS", "SynthRun", "synth", "format_synth_run"]

#: the split names of the synthetic benchmark (disjoint random streams), in the generator's order
SPLITS: tuple[str, ...] = tuple(synthetic.SPLITS)


@dataclass(frozen=True)
class SynthRun:
    """A generated split: the generator's ``summary`` and the wall-clock ``seconds`` it took."""

    summary: SplitSummary
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.summary.num_frames / max(self.seconds, 1e-9)


def synth(
    out: str | Path,
    split: str,
    clips: int,
    seed: int,
    frames: int | None = None,
    overwrite: bool = False,
) -> SynthRun:
    """Write ``clips`` sequences of ``split`` under ``out / split`` (the same seed gives the same bytes).

    Args:
        frames: frames per sequence; None = :class:`~vidpose.data.synthetic.SynthConfig`'s default.
        overwrite: replace an existing ``out / split``.
    """
    # Looked up at call time (``synthetic.generate_split``), so a test can replace the generator.
    cfg = synthetic.SynthConfig() if frames is None else synthetic.SynthConfig(frames_per_clip=frames)
    start = time.perf_counter()
    summary = synthetic.generate_split(out, split, clips, seed, cfg, overwrite=overwrite)
    return SynthRun(summary, time.perf_counter() - start)


def format_synth_run(run: SynthRun) -> str:
    """The three summary lines ``vidpose synth`` prints: frames and speed, persons and degradations,
    detections."""
    s = run.summary
    return "\n".join(
        (
            f"{s.root}: {s.num_clips} sequences, {s.num_frames} frames ({run.seconds:.1f} s, "
            f"{run.frames_per_second:.0f} frames/s)",
            f"  persons {s.num_persons}, hard {s.num_hard} "
            f"({100.0 * s.num_hard / max(s.num_persons, 1):.1f} %), "
            f"mean occlusion {s.mean_occlusion:.3f}, mean blur {s.mean_blur:.2f} px",
            f"  detections {s.num_detections} in {s.root / 'detections.json'}, "
            f"frames with an ignore region {s.num_ignore_regions}",
        )
    )
