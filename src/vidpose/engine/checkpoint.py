"""Checkpoint files: atomic writes on rank 0, strict loading with every bad key named, RNG state capture.

A checkpoint is one ``torch.save`` file ``<dir>/<name>.pt`` holding a dict of plain data and tensors (loadable
with ``weights_only=True``). It is written to a temporary file in the same folder, flushed to disk and renamed
over the final name with :func:`os.replace`, so a crash never leaves a half-written ``last.pt`` and the
previous one stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import CheckpointError
from ..fileio import atomic_write_with
from ..state_dicts import StateDiff, diff_state_dict, strip_prefix
from .distributed import is_main_process

__all__ = [
    "Checkpointer",
    "StateDiff",
    "load_model_state",
    "capture_rng_state",
    "restore_rng_state",
    "preserved_rng_state",
]


def load_model_state(
    model: nn.Module, state: Mapping[str, Tensor], *, strict: bool = True, source: str = "checkpoint"
) -> StateDiff:
    """Load ``state`` into ``model`` (a ``module.`` prefix from a DDP wrapper is stripped).

    Args:
        strict: any missing, unexpected or mis-shaped key raises; False loads the matching keys and
            returns the differences (mis-shaped keys are never loaded).
        source: names the checkpoint in error messages (a path, "ema", ...).

    Raises:
        CheckpointError: (strict) the message lists every bad key with both shapes.
    """
    state = strip_prefix(state)
    diff = diff_state_dict(model.state_dict(), state)
    if diff and strict:
        raise CheckpointError(f"{source}: state does not match {type(model).__name__}: {diff.describe()}")
    bad = {k for k, _, _ in diff.mismatched}
    model.load_state_dict({k: v for k, v in state.items() if k not in bad}, strict=False)
    return diff


# --------------------------------------------------------------------------------------------------- RNG
def capture_rng_state() -> dict[str, Any]:
    """States of Python's, NumPy's, torch's CPU and every CUDA generator (if any), as safe-to-load data."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states are restored when present and CUDA is available)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


@contextlib.contextmanager
def preserved_rng_state() -> Iterator[None]:
    """Run a block (evaluation, say) without disturbing the training RNG stream."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


# --------------------------------------------------------------------------------------------------- files
class Checkpointer:
    """Reads and writes ``<directory>/<name>.pt``; only the main process writes.

    Args:
        directory: checkpoint folder (created on the first save).
        is_main: whether this process writes; None = rank 0 of the process group.
    """

    LAST = "last"
    BEST = "best"

    def __init__(self, directory: str | Path, is_main: bool | None = None) -> None:
        self.directory = Path(directory)
        self.is_main = is_main_process() if is_main is None else is_main

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.pt"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    @property
    def last(self) -> Path | None:
        """Path of ``last.pt`` if it exists."""
        return self.path(self.LAST) if self.exists(self.LAST) else None

    @property
    def best(self) -> Path | None:
        """Path of ``best.pt`` if it exists."""
        return self.path(self.BEST) if self.exists(self.BEST) else None

    def save(self, name: str, state: Mapping[str, Any]) -> Path | None:
        """Write ``state`` atomically to ``<name>.pt`` (main process only; others return None).

        On any failure the temporary file is removed, the exception propagates and an older ``<name>.pt`` is
        kept.
        """
        if not self.is_main:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        return atomic_write_with(self.path(name), lambda f: torch.save(dict(state), f), fsync=True)

    def load(self, name_or_path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Read a checkpoint by name (``"last"``: a str without "/" or ".pt") or by path (a file, or a folder
        holding ``last.pt``).

        Raises:
            CheckpointError: the file is missing, unreadable, or not a dict.
        """
        if isinstance(name_or_path, str) and "/" not in name_or_path and not name_or_path.endswith(".pt"):
            path = self.path(name_or_path)
        else:
            path = Path(name_or_path)
            if path.is_dir():
                path = path / f"{self.LAST}.pt"
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint not found")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # a truncated or foreign file: unpickling errors of many kinds
            raise CheckpointError(f"{path}: cannot read checkpoint: {e}") from e
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: expected a dict, got {type(state).__name__}")
        return state
