"""The synthetic degradation benchmark: articulated people in cluttered, moving scenes with labelled
occlusion, motion blur, defocus, noise, compression and low light, written in the PoseTrack18 layout
(SYNTHETIC.md).

    >>> from vidpose.data.synthetic import SynthConfig, generate_split
    >>> summary = generate_split("data/synthetic", "train", num_clips=48, seed=0)  # doctest: +SKIP
"""

from .clip import SPLITS, ClipSpec, FrameRender, PersonLabel, render_frame, sample_clip
from .config import SynthConfig
from .generate import SplitSummary, generate_split, image_id

__all__ = [
    "SPLITS",
    "ClipSpec",
    "FrameRender",
    "PersonLabel",
    "SplitSummary",
    "SynthConfig",
    "generate_split",
    "image_id",
    "render_frame",
    "sample_clip",
]
