"""Reading back the synthetic benchmark's extra per-person labels (``hard``, ``occlusion``) of a sequence.

The PoseTrack readers keep only PoseTrack fields; evaluation (AP on the hard subset) and the demo (marking
degraded frames) need these flags too. A file is parsed once per modification (cached), so periodic validation
does not re-read it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

__all__ = ["PersonLabel", "person_labels", "hard_frames"]

#: (hard, occlusion fraction) of one annotated person
PersonLabel = tuple[bool, float]


@functools.lru_cache(maxsize=512)
def _read_labels(path: str, mtime_ns: int) -> dict[int, list[PersonLabel]] | None:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        return None
    anns = data.get("annotations")
    if not anns or not all(isinstance(a, dict) and "hard" in a for a in anns):
        return None
    index = {img["id"]: i for i, img in enumerate(data.get("images", []))}
    labels: dict[int, list[PersonLabel]] = {}
    for a in anns:
        if a["image_id"] in index:
            labels.setdefault(index[a["image_id"]], []).append(
                (bool(a["hard"]), float(a.get("occlusion", 0.0)))
            )
    return labels


def person_labels(source: str | Path | None) -> dict[int, list[PersonLabel]] | None:
    """Frame index -> the (hard, occlusion) labels of its persons; None for a file without synthetic labels
    (real PoseTrack data) or without a file."""
    if source is None or not Path(source).is_file():
        return None
    path = Path(source)
    return _read_labels(str(path.resolve()), path.stat().st_mtime_ns)


def hard_frames(source: str | Path | None) -> set[int] | None:
    """Indices of the frames with at least one ``hard`` person; None without synthetic labels."""
    labels = person_labels(source)
    if labels is None:
        return None
    return {f for f, persons in labels.items() if any(hard for hard, _ in persons)}
