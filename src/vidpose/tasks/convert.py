"""Convert: foreign pose weights (an official ViTPose ``.pth`` or a Hugging Face VitPose folder) into a
vidpose model file, the format told from the file when not given (``vidpose convert``).

    >>> path, cfg, fmt = convert("vitpose-b.pth", "vitpose_b.safetensors", frames=5)
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..errors import ConfigError
from ..models.serialization import save_model
from ..models.weights import SOURCE_FORMATS, convert_checkpoint, detect_format

__all__ = ["convert", "SOURCE_FORMATS"]


def convert(
    source: str | Path,
    out: str | Path,
    fmt: str | None = None,
    *,
    frames: int = 1,
    num_heads: int | None = None,
    image_size: tuple[int, int] | None = None,
) -> tuple[Path, Config, str]:
    """Convert ``source`` and write the vidpose model file ``out``; returns (path, config, format used).

    ``fmt``: "vitpose" | "hf-vitpose", None = detected (:func:`~vidpose.models.weights.detect_format`).
    ``frames`` T: 1 = single-frame model, > 1 temporal (its new modules keep their initialisation).
    """
    if fmt is not None and fmt not in SOURCE_FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(SOURCE_FORMATS)}")
    used = detect_format(source) if fmt is None else fmt
    model, cfg = convert_checkpoint(
        source,
        used,  # type: ignore[arg-type]
        frames=frames,
        num_heads=num_heads,
        image_size=image_size,
    )
    return save_model(model, cfg, out), cfg, used
