"""Typed errors. Every error a user can cause names the culprit (file, field, what was expected).

The CLI catches :class:`VidposeError`, prints its message and exits with code 2; the library never prints
or exits.
"""

from __future__ import annotations

__all__ = [
    "VidposeError",
    "ConfigError",
    "DataFormatError",
    "CheckpointError",
    "MissingDependencyError",
    "TrainingInterrupted",
    "VidposeWarning",
]


class VidposeError(Exception):
    """Base class of every error vidpose raises on purpose."""


class ConfigError(VidposeError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class DataFormatError(VidposeError, ValueError):
    """An input file (annotations, predictions, boxes, frames, video) is missing or malformed."""


class CheckpointError(VidposeError, ValueError):
    """A checkpoint is unreadable, of the wrong kind, or does not match the model."""


class MissingDependencyError(VidposeError, ImportError):
    """An optional package is needed for this feature; the message gives the install command."""


class TrainingInterrupted(VidposeError):
    """SIGINT / SIGTERM stopped training after a step; ``last`` was written (``checkpoint``) at ``step``."""

    def __init__(self, step: int, total_steps: int, checkpoint: str | None, signal_name: str) -> None:
        self.step, self.total_steps, self.checkpoint, self.signal_name = (
            step,
            total_steps,
            checkpoint,
            signal_name,
        )
        saved = f"saved {checkpoint}" if checkpoint else "the main process saved the checkpoint"
        super().__init__(f"{signal_name}: training stopped at step {step} of {total_steps}; {saved}")


class VidposeWarning(UserWarning):
    """Something the user should know that does not stop the work (a video shorter than announced); the CLI
    prints it as one ``warning:`` line."""
