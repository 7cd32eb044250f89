"""Model files: one safetensors file holding the weights and, in its metadata, the whole config.

A model file is self-describing: ``load_model(path)`` rebuilds the architecture from the embedded config and
loads the weights strictly. Metadata keys (all strings, as safetensors requires):

- ``format``: ``"vidpose-model"`` (other vidpose files, e.g. training state, carry another value);
- ``format_version``: integer, bumped when the layout changes;
- ``vidpose_version``: the version that wrote the file;
- ``config``: the :class:`~vidpose.config.Config` as JSON (``config_to_dict``).

Files are written to a temporary name in the same folder and renamed, so a crash never leaves half a file.

    >>> save_model(model, cfg, "runs/pt18_vitb/model.safetensors")
    >>> model, cfg = load_model("runs/pt18_vitb/model.safetensors", device="cpu")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from ..config import Config, apply_overrides, config_from_dict, config_to_dict, validate
from ..errors import CheckpointError, ConfigError
from ..fileio import atomic_write_bytes
from ..state_dicts import diff_state_dict, unwrap

if TYPE_CHECKING:
    from .pose_model import PoseModel

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "LoadedModel",
    "save_model",
    "read_model_config",
    "load_model",
]

MODEL_FORMAT = "vidpose-model"
MODEL_FORMAT_VERSION = 1

_HINT = "expected a vidpose model file (.safetensors written by save_model or `vidpose convert`)"


class LoadedModel(NamedTuple):
    """What :func:`load_model` returns; unpacks as ``model, cfg = load_model(path)``."""

    model: PoseModel
    config: Config


def save_model(
    model: nn.Module, cfg: Config, path: str | Path, storage_dtype: torch.dtype | None = None
) -> Path:
    """Write ``model``'s weights and ``cfg`` to one safetensors file, atomically (temp file + rename).

    Returns the path written. Tensors are stored on CPU in their current dtype, or floating-point tensors in
    ``storage_dtype`` (e.g. ``torch.float16`` halves the file; :func:`load_model` casts them back to the
    model's dtype).
    """
    from safetensors.torch import save as safetensors_bytes

    from .. import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in unwrap(model).state_dict().items():
        value = value.detach().to("cpu")
        if storage_dtype is not None and value.is_floating_point():
            value = value.to(storage_dtype)
        state[key] = value.contiguous()
    metadata = {
        "format": MODEL_FORMAT,
        "format_version": str(MODEL_FORMAT_VERSION),
        "vidpose_version": __version__,
        "config": json.dumps(config_to_dict(cfg)),
    }
    atomic_write_bytes(path, safetensors_bytes(state, metadata=metadata))
    return path


def _sniff(path: Path) -> str:
    """``torch-zip`` | ``pickle`` | ``other`` from the first bytes of a file.

    A safetensors file starts with its header's length (8 bytes, little-endian) and then the JSON header
    (``{``); that is checked first, because a header length whose low byte is 0x80 looks like a pickle's
    protocol marker."""
    with path.open("rb") as f:
        head = f.read(9)
    header_end = 8 + int.from_bytes(head[:8], "little")
    if len(head) == 9 and head[8:9] == b"{" and header_end <= path.stat().st_size:
        return "other"
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head[:1] == b"\x80":
        return "pickle"
    return "other"


def _read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a vidpose model file ({_HINT})")
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found ({_HINT})")
    kind = _sniff(path)
    if kind in ("torch-zip", "pickle"):
        raise CheckpointError(
            f"{path}: this is a PyTorch pickle checkpoint (torch.save: a training checkpoint or an official "
            f"ViTPose .pth), {_HINT}; convert ViTPose weights with `vidpose convert IN OUT --format vitpose`"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
    except Exception as e:  # noqa: BLE001 - any parse failure means a bad file for the user
        raise CheckpointError(
            f"{path}: not a readable safetensors file (truncated or corrupt?): {e}; {_HINT}"
        ) from e
    if not metadata or "format" not in metadata:
        raise CheckpointError(
            f"{path}: a safetensors file without vidpose metadata (e.g. a Hugging Face model.safetensors); "
            f"{_HINT}; convert a Hugging Face VitPose folder with "
            "`vidpose convert IN OUT --format hf-vitpose`"
        )
    if metadata["format"] != MODEL_FORMAT:
        raise CheckpointError(f"{path}: a {metadata['format']!r} file, {_HINT} (format {MODEL_FORMAT!r})")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise CheckpointError(
            f"{path}: metadata format_version {metadata.get('format_version')!r} is not an integer"
        ) from None
    if version > MODEL_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by vidpose {metadata.get('vidpose_version', '?')} in model format {version}; "
            "this "
            f"vidpose reads format {MODEL_FORMAT_VERSION} at most: upgrade vidpose"
        )
    if "config" not in metadata:
        raise CheckpointError(f"{path}: metadata has no 'config' entry; {_HINT}")
    return metadata


def read_model_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """The config embedded in a model file (weights are not read), with dotted ``overrides`` applied."""
    path = Path(path)
    metadata = _read_metadata(path)
    try:
        data = json.loads(metadata["config"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: embedded config is not valid JSON: {e}") from e
    try:
        cfg = config_from_dict(apply_overrides(data, list(overrides)))
        validate(cfg)
    except ConfigError as e:
        raise CheckpointError(f"{path}: embedded config: {e}") from e
    return cfg


def load_model(
    path: str | Path, device: str | torch.device = "cpu", overrides: Sequence[str] | None = None
) -> LoadedModel:
    """Rebuild the model a model file describes, load its weights strictly, move it to ``device``, eval mode.

    ``overrides`` are dotted config edits (``["eval.flip_test=false"]``) applied before building. A file whose
    tensors do not fit the architecture raises :class:`CheckpointError` listing the missing, unexpected and
    mis-shaped keys with their shapes.
    """
    from safetensors.torch import load_file

    from .pose_model import build_model

    path = Path(path)
    cfg = read_model_config(path, overrides or ())
    model = build_model(cfg.model, init_weights=False)  # every weight comes from the file
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read the weights (truncated or corrupt?): {e}") from e
    diff = diff_state_dict(model.state_dict(), tensors)
    if diff:
        raise CheckpointError(f"{path}: weights do not fit the model its config describes: {diff.describe()}")
    model.load_state_dict(tensors, strict=True)  # copies cast fp16-stored weights to the model's dtype
    return LoadedModel(model.to(device).eval(), cfg)
