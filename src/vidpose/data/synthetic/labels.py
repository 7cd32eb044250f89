"""The synthetic benchmark's extra per-person labels (``hard``, ``occlusion``) of a sequence.

The PoseTrack reader keeps them, read once with the annotations, in :attr:`Person.attributes
<vidpose.data.records.Person.attributes>`; evaluation (AP on the hard subset) and the demo (marking degraded
frames) read them from the records here.
"""

from __future__ import annotations

from ..records import Sequence

__all__ = ["PersonLabel", "person_labels", "hard_frames"]

#: (hard, occlusion fraction) of one annotated person
PersonLabel = tuple[bool, float]


def person_labels(sequence: Sequence) -> dict[int, list[PersonLabel]] | None:
    """Frame index -> the (hard, occlusion) labels of its persons; None for a sequence whose persons do not
    all carry a ``hard`` label (real PoseTrack data) or without persons."""
    persons = [p for f in sequence.frames for p in f.persons]
    if not persons or not all("hard" in p.attributes for p in persons):
        return None
    return {
        f.index: [(bool(p.attributes["hard"]), float(p.attributes.get("occlusion", 0.0))) for p in f.persons]
        for f in sequence.frames
        if f.persons
    }


def hard_frames(sequence: Sequence) -> set[int] | None:
    """Indices of the frames with at least one ``hard`` person; None without synthetic labels."""
    labels = person_labels(sequence)
    if labels is None:
        return None
    return {f for f, persons in labels.items() if any(hard for hard, _ in persons)}
