"""How much a temporal window can see of what the hard key frames hide, from the synthetic annotations alone.

    python benchmarks/hard_neighbours.py [--splits data/synth_v2/test data/synth_v2/train]

A person-frame is *hard* when the person is more than 40 % occluded or strongly blurred (the generator's
``hard`` flag, docs in ``vidpose.data.synthetic.generate``). For every hard person-frame and every window
spread (the auxiliary frame offsets of a five-frame window), it counts how many of the four auxiliary frames
show the same track *not* hard, and which of the key frame's occluded labelled joints (``joint_occluded``) are
visible in at least one auxiliary frame: an upper bound on what motion from the neighbours can recover. A
neighbour outside the clip counts as unusable. No model is run.

Writes ``benchmarks/results/hard-neighbours-synthetic.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vidpose.fileio import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SPREADS = {
    "-2, -1, 1, 2 (the default)": (-2, -1, 1, 2),
    "-4, -2, 2, 4": (-4, -2, 2, 4),
    "-6, -3, 3, 6": (-6, -3, 3, 6),
    "-8, -4, 4, 8": (-8, -4, 4, 8),
}


def person_frames(annotations: Path) -> dict[tuple[str, int, int], dict]:
    """(sequence, frame index, track id) -> the generator's annotation of every labelled person."""
    out = {}
    for file in sorted(annotations.glob("*.json")):
        data = json.loads(file.read_text())
        index = {image["id"]: i for i, image in enumerate(data["images"])}
        for ann in data["annotations"]:
            out[(file.stem, index[ann["image_id"]], ann["track_id"])] = ann
    return out


def neighbour_stats(people: dict[tuple[str, int, int], dict], offsets: tuple[int, ...]) -> dict[str, float]:
    hard = [(key, ann) for key, ann in people.items() if ann["hard"]]
    usable_counts = np.zeros(len(offsets) + 1, dtype=int)
    occluded = visible = 0
    for (seq, t, track), ann in hard:
        neighbours = [people.get((seq, t + o, track)) for o in offsets]
        usable = [n is not None and not n["hard"] for n in neighbours]
        usable_counts[sum(usable)] += 1
        labelled = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)[:, 2] > 0
        for j in np.flatnonzero(np.asarray(ann["joint_occluded"], dtype=bool) & labelled):
            occluded += 1
            visible += any(n is not None and not n["joint_occluded"][j] for n in neighbours)
    n = max(len(hard), 1)
    return {
        "hard": len(hard),
        "none_usable": usable_counts[0] / n,
        "any_usable": 1 - usable_counts[0] / n,
        "all_usable": usable_counts[-1] / n,
        "mean_usable": float((usable_counts * np.arange(len(offsets) + 1)).sum() / n),
        "occluded_joints": occluded,
        "occluded_visible": visible / max(occluded, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", nargs="+", default=["data/synth_v2/test", "data/synth_v2/train"])
    args = parser.parse_args()
    lines = [
        "# Hard key frames: what the auxiliary frames of a window show",
        "",
        "- made by `python benchmarks/hard_neighbours.py` from the synthetic annotations (no model run)",
        "- hard person-frame: the person > 40 % occluded or strongly blurred; *usable* neighbour: the same "
        "track in an auxiliary frame, not hard (outside the clip: not usable); occluded joints: the key "
        "frame's labelled joints that the generator marks occluded, *visible* when at least one auxiliary "
        "frame shows the joint unoccluded",
        "",
        "| split | auxiliary offsets | hard person-frames | no usable neighbour | >= 1 usable | all 4 usable "
        "| usable per window | occluded joints | visible in >= 1 neighbour |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split in args.splits:
        annotations = REPO / split / "annotations"
        if not annotations.is_dir():
            raise SystemExit(f"{annotations}: missing; benchmarks/synthetic_protocol.py makes data/synth_v2")
        people = person_frames(annotations)
        for name, offsets in SPREADS.items():
            s = neighbour_stats(people, offsets)
            lines.append(
                f"| `{split}` | {name} | {s['hard']} | {s['none_usable']:.1%} | {s['any_usable']:.1%} "
                f"| {s['all_usable']:.1%} | {s['mean_usable']:.2f} | {s['occluded_joints']} "
                f"| {s['occluded_visible']:.1%} |"
            )
    out = REPO / "benchmarks" / "results" / "hard-neighbours-synthetic.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
