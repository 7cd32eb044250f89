"""PoseTrack17/18/21 dataset roots in the recipes' documented layouts, built from the real samples in
``../shared/data`` (frames are linked, never copied into the repository).

- validation: the three real PoseTrack18 val sequences of ``mmpose_posetrack18`` (frames, ignore regions,
  mask files), one labelled frame each;
- training: the Bonn sequence (41 frames, every one labelled, 4 tracks) as a densely labelled sequence;
- boxes: the real detections of ``mmpose_posetrack18`` (the best ``BOXES_PER_FRAME`` per frame, so that an
  evaluation costs a handful of windows: each is 10 ViT-B passes with the flip test), written as a
  DCPose/PoseWarper file (``image_name``) and as a COCO results file (``image_id``).

The samples list only their labelled frames, so each built sequence file says ``nframes`` = the frames it
lists (a released file lists every frame of the video).

Layouts (relative to the dataset root; the recipes' first comment lines say the same):

- pt18: ``annotations/{train,val}/<seq>.json``, ``images/{train,val}/<seq>/*.jpg``, ``mask/val/<seq>/*.jpg``;
- pt17: ``annotations/{train,val}/<seq>.json`` in the ``annolist`` layout (PoseTrack17 joint ids, head
  rectangles ``x1 y1 x2 y2``, ``ignore_regions`` polygons), frames as for pt18;
- pt21: ``posetrack_data/{train,val}/<seq>.json`` (``person_id``, ``is_labeled``, ``has_labeled_person``),
  frames as for pt18.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from vidpose.skeleton import POSEVAL_TO_PT18

#: The backbone the rehearsals convert and train: the recipes' ViT-B. ``VIDPOSE_REHEARSAL_SIZE=nano`` runs the
#: same commands on a small backbone (adds the ``model.vit.size`` override) when a machine is too slow for B.
REHEARSAL_SIZE = os.environ.get("VIDPOSE_REHEARSAL_SIZE", "base")
GRID = (16, 12)  # 256x192 input, patch 16, padding 2


def run_cli(args: list[str], capsys) -> str:
    """``vidpose ARGS`` in this process; its stdout (it must exit with 0)."""
    from vidpose.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert info.value.code in (0, None), f"vidpose {' '.join(args)} exited {info.value.code}:\n{err}"
    return out


BONN = "060470979_bonn_test"
VAL_SEQUENCES = ("003418_mpii_test", "009473_mpii_test", "012834_mpii_test")
BOXES_PER_FRAME = 2


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target.resolve(), link, target_is_directory=target.is_dir())


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def pt18_sequences(shared: Path) -> dict[str, dict[str, dict]]:
    """``{"train": {seq: json}, "val": {seq: json}}`` in the PoseTrack18 layout, frame paths under
    ``images/<split>/<seq>/``."""
    bonn = json.loads((shared / "bonn_multiperson_posetrack/posetrack18/test" / f"{BONN}.json").read_text())
    for image in bonn["images"]:
        image["file_name"] = image["file_name"].replace("images/", "images/train/", 1)
    val = {}
    for name in VAL_SEQUENCES:
        data = json.loads((shared / "mmpose_posetrack18/annotations/val" / f"{name}.json").read_text())
        for image in data["images"]:
            image["nframes"] = len(data["images"])
        val[name] = data
    return {"train": {BONN: bonn}, "val": val}


def _link_frames(shared: Path, root: Path) -> None:
    _link(shared / "bonn_multiperson_posetrack/images" / BONN, root / "images/train" / BONN)
    for name in VAL_SEQUENCES:
        _link(shared / "mmpose_posetrack18/images/val" / name, root / "images/val" / name)
        _link(shared / "mmpose_posetrack18/mask/val" / name, root / "mask/val" / name)


def to_annolist(data: dict) -> dict:
    """A PoseTrack18 sequence as a PoseTrack17 ``annolist`` file (joint ids, head rectangles, regions)."""
    persons: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        persons.setdefault(ann["image_id"], []).append(ann)
    entries = []
    for image in data["images"]:
        rects = []
        for ann in persons.get(image["id"], []):
            kp = ann["keypoints"]
            points = [
                {"id": [pt17_id], "x": [kp[3 * c]], "y": [kp[3 * c + 1]], "is_visible": [1]}
                for pt17_id, c in enumerate(POSEVAL_TO_PT18)
                if kp[3 * c + 2] > 0
            ]
            x, y, w, h = ann["bbox_head"]
            rects.append(
                {
                    "track_id": [ann["track_id"]],
                    "annopoints": [{"point": points}],
                    "x1": [x],
                    "y1": [y],
                    "x2": [x + w],
                    "y2": [y + h],
                }  # fmt: skip
            )
        regions = [
            {"point": [{"x": [px], "y": [py]} for px, py in zip(xs, ys, strict=True)]}
            for xs, ys in zip(
                image.get("ignore_regions_x", []), image.get("ignore_regions_y", []), strict=True
            )
        ]
        entries.append(
            {
                "image": [{"name": image["file_name"]}],
                "imgnum": [len(entries) + 1],
                "is_labeled": [int(image["is_labeled"])],
                "annorect": rects,
                "ignore_regions": regions,
            }  # fmt: skip
        )
    return {"annolist": entries}


def to_pt21(data: dict) -> dict:
    """A PoseTrack18 sequence with the PoseTrack21 fields: ``person_id`` per person, ``has_labeled_person``
    per image (``is_labeled`` is kept)."""
    data = copy.deepcopy(data)
    labelled = {a["image_id"] for a in data["annotations"]}
    for image in data["images"]:
        image["has_labeled_person"] = image["id"] in labelled
    for ann in data["annotations"]:
        ann["person_id"] = 1000 + ann["track_id"]
    return data


def detections(shared: Path, val: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """The real detections of the val frames, best ``BOXES_PER_FRAME`` per frame, as (DCPose/PoseWarper
    entries with ``image_name``, COCO results with ``image_id``)."""
    raw = json.loads(
        (shared / "mmpose_posetrack18/annotations/test_posetrack18_human_detections.json").read_text()
    )
    name_of = {im["id"]: im["file_name"] for seq in val.values() for im in seq["images"]}
    by_image: dict[int, list[dict]] = {}
    for det in raw:
        by_image.setdefault(det["image_id"], []).append(det)
    coco, dcpose = [], []
    for image_id in sorted(by_image):
        best = sorted(by_image[image_id], key=lambda d: -d["score"])[:BOXES_PER_FRAME]
        for det in best:
            coco.append({"image_id": image_id, "bbox": det["bbox"], "score": det["score"], "category_id": 1})
            dcpose.append(
                {
                    "image_name": name_of[image_id],
                    "bbox": det["bbox"],
                    "score": det["score"],
                    "category_id": 1,
                }
            )
    return dcpose, coco


def build_root(shared: Path, root: Path, fmt: str) -> Path:
    """Write the ``fmt`` (pt17 | pt18 | pt21) root under ``root`` with both box files in ``root/boxes``:
    ``posetrack{17,18,21}_val_boxes.json`` (the recipe's name; COCO for pt21, DCPose otherwise) and
    ``val_boxes_{dcpose,coco}.json``."""
    sequences = pt18_sequences(shared)
    ann_dir = "posetrack_data" if fmt == "pt21" else "annotations"
    convert = {"pt17": to_annolist, "pt18": lambda d: d, "pt21": to_pt21}[fmt]
    for split, seqs in sequences.items():
        for name, data in seqs.items():
            _write(root / ann_dir / split / f"{name}.json", convert(data))
    _link_frames(shared, root)
    dcpose, coco = detections(shared, sequences["val"])
    _write(root / "boxes/val_boxes_dcpose.json", dcpose)
    _write(root / "boxes/val_boxes_coco.json", coco)
    recipe_boxes = coco if fmt == "pt21" else dcpose
    _write(root / "boxes" / f"posetrack{fmt[2:]}_val_boxes.json", recipe_boxes)
    return root
