"""Inference on a user's video: detection, windows, the model, tracking, rendering and output files.

>>> from vidpose.inference import VideoPoseEstimator, predict_to_files
>>> for result in VideoPoseEstimator("model.safetensors", detector="hog")("clip.mp4"):
...     print(result.frame_index, [p.track_id for p in result.persons])
"""

from __future__ import annotations

from .box_sources import BoxFile, BoxSource, CallableBoxes, DetectorBoxes, GTBoxes
from .estimator import WindowEstimator
from .outputs import PredictionWriter, PredictSummary, predict_to_files
from .pipeline import FrameResult, PersonResult, VideoInput, VideoPoseEstimator, open_input

__all__ = [
    "VideoPoseEstimator",
    "WindowEstimator",
    "BoxSource",
    "DetectorBoxes",
    "BoxFile",
    "GTBoxes",
    "CallableBoxes",
    "FrameResult",
    "PersonResult",
    "VideoInput",
    "open_input",
    "PredictionWriter",
    "PredictSummary",
    "predict_to_files",
]
