"""PoseTrack readers: PoseTrack17 ``annolist`` files, PoseTrack18/21 per-sequence JSON, and prediction files.

Every reader returns :class:`~vidpose.data.records.Sequence` records in the file's own frame order, with the
JSON's image ids (PoseTrack17 has none: its frames get their list position as id). Keypoints are kept
as written (PoseTrack18/21) or placed into the PoseTrack18 layout by joint id (PoseTrack17). Every malformed
field raises :class:`~vidpose.errors.DataFormatError` naming the file, the entry (``annotations[3]``), the
field and what was expected.

Legend: K = 17 joints in PoseTrack18 order (:data:`vidpose.skeleton.PT18`).

    >>> seq = read_sequence("val/012834_mpii_test.json")        # format detected from the content
    >>> seq.format, len(seq), seq.frames[0].persons[0].keypoints.shape
    ('pt18', 1, (17, 3))
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..skeleton import POSEVAL_NAMES, PT17_ID_TO_PT18, PT18
from .records import Frame, Person, Sequence

__all__ = [
    "FORMATS",
    "MISSING_SCORE",
    "detect_format",
    "load_json",
    "parse_sequence",
    "read_sequence",
    "read_sequences",
    "read_predictions",
    "read_prediction_folder",
]

#: Annotation layouts understood by the readers.
FORMATS: tuple[str, ...] = ("pt17", "pt18", "pt21")

#: Joint score poseval assumes for a predicted joint written without a score.
MISSING_SCORE = -9999.0

_K = PT18.num_joints


# ----------------------------------------------------------------------------------------------- field access
_NOTHING = object()  # "no value to show" in an error message


class _Where:
    """Names the culprit of an error: the file and a path into the JSON (``annotations[3].keypoints``)."""

    def __init__(self, path: Path, where: str = "") -> None:
        self.path = path
        self.where = where

    def __truediv__(self, key: str | int) -> _Where:
        if isinstance(key, int):
            return _Where(self.path, f"{self.where}[{key}]")
        return _Where(self.path, f"{self.where}.{key}" if self.where else key)

    def error(self, expected: str, value: Any = _NOTHING, hint: str = "") -> DataFormatError:
        got = "" if value is _NOTHING else f", got {_describe(value)}"
        where = self.where or "top level"
        msg = f"{self.path}: {where}: expected {expected}{got}"
        return DataFormatError(msg + (f"; {hint}" if hint else ""))


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:6])
        return f"an object with keys [{keys}]"
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    text = (
        json.dumps(value)
        if value is None or isinstance(value, (str, int, float, bool))
        else type(value).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _obj(value: Any, where: _Where) -> dict:
    if not isinstance(value, dict):
        raise where.error("an object", value)
    return value


def _field(obj: dict, key: str, where: _Where) -> Any:
    if key not in obj:
        raise (where / key).error("this field to be present (it is missing)")
    return obj[key]


def _list(value: Any, where: _Where, length: int | None = None, what: str = "values") -> list:
    if not isinstance(value, list):
        raise where.error(f"a list of {what}", value)
    if length is not None and len(value) != length:
        raise where.error(f"a list of {length} {what}", value)
    return value


def _number(value: Any, where: _Where) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error("a number", value)
    if not math.isfinite(value):
        raise where.error("a finite number", value)
    return float(value)


def _numbers(value: Any, where: _Where, length: int | None = None) -> np.ndarray:
    items = _list(value, where, length, "numbers")
    if all(type(v) is float or type(v) is int for v in items):  # fast path (bool is not int here)
        out = np.array(items, dtype=np.float64)
        if np.isfinite(out).all():
            return out
    out = np.empty(len(items), dtype=np.float64)
    for i, v in enumerate(items):
        out[i] = _number(v, where / i)
    return out


def _integer(value: Any, where: _Where) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error("an integer", value)
    if isinstance(value, float) and not value.is_integer():
        raise where.error("an integer", value)
    if not -(2**63) <= value < 2**63:
        raise where.error("a 64-bit integer", value)
    return int(value)


def _flag(value: Any, where: _Where) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise where.error("true/false (or 0/1)", value)


def _string(value: Any, where: _Where) -> str:
    if not isinstance(value, str):
        raise where.error("a string", value)
    return value


def _single(value: Any, where: _Where) -> Any:
    """PoseTrack17 wraps every value in a one-element list; a bare value is accepted too."""
    if isinstance(value, list):
        if len(value) != 1:
            raise where.error("a one-element list", value)
        return value[0]
    return value


# ------------------------------------------------------------------------------------------------ file level
def load_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing file or invalid JSON is a :class:`DataFormatError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: not valid JSON ({e})") from None


def detect_format(data: Any, path: str | Path = "<json>") -> str:
    """``pt17`` for an ``annolist`` file; ``pt21`` for an ``images``/``annotations`` file whose persons have a
    ``person_id`` or whose images have ``has_labeled_person``; ``pt18`` otherwise."""
    where = _Where(Path(path))
    data = _obj(data, where)
    if "annolist" in data:
        return "pt17"
    if "images" not in data:
        raise where.error(
            "a PoseTrack file: an object with 'annolist' (PoseTrack17) or 'images' (PoseTrack18/21)", data
        )
    images = data["images"] if isinstance(data["images"], list) else []
    annotations = data.get("annotations") if isinstance(data.get("annotations"), list) else []
    if any(isinstance(a, dict) and "person_id" in a for a in annotations) or any(
        isinstance(im, dict) and "has_labeled_person" in im for im in images
    ):
        return "pt21"
    return "pt18"


def read_sequence(path: str | Path, format: str | None = None) -> Sequence:
    """Read one ground-truth sequence file.

    Args:
        path: a PoseTrack17 ``annolist`` file or a PoseTrack18/21 per-sequence JSON.
        format: pt17 | pt18 | pt21, or None to detect it from the content.

    Returns:
        the sequence, named after the file stem, frames in the JSON's order.
    """
    return _read(Path(path), format, predictions=False)


def read_predictions(path: str | Path, format: str | None = None) -> Sequence:
    """Read one prediction file (the ground truth's layout plus per-joint ``scores``).

    PoseTrack18/21 layout: ``categories`` is required (poseval maps joints by its names); a person's
    ``scores`` (one per keypoint) become :attr:`Person.joint_scores`; without ``scores`` they are None and the
    evaluator uses :data:`MISSING_SCORE`, as poseval does. PoseTrack17 layout: per-point ``score`` values.
    """
    return _read(Path(path), format, predictions=True)


def read_sequences(folder_or_file: str | Path, format: str | None = None) -> list[Sequence]:
    """Read a ground-truth file, or every ``*.json`` of a folder in file-name order."""
    return [read_sequence(p, format) for p in _json_files(Path(folder_or_file))]


def read_prediction_folder(folder_or_file: str | Path, format: str | None = None) -> list[Sequence]:
    """Read a prediction file, or every ``*.json`` of a folder in file-name order."""
    return [read_predictions(p, format) for p in _json_files(Path(folder_or_file))]


def _json_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataFormatError(f"{path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
    if not files:
        raise DataFormatError(f"{path}: folder has no .json files (expected one PoseTrack JSON per sequence)")
    return files


def parse_sequence(
    data: Any, path: str | Path, format: str | None = None, predictions: bool = False
) -> Sequence:
    """A sequence from already-parsed JSON (``path`` names it in errors); see :func:`read_sequence`."""
    return _parse(data, Path(path), format, predictions)


def _read(path: Path, format: str | None, predictions: bool) -> Sequence:
    if format is not None and format not in FORMATS:  # before touching the file
        raise DataFormatError(f"{path}: unknown format {format!r}, expected one of {', '.join(FORMATS)}")
    return _parse(load_json(path), path, format, predictions)


def _parse(data: Any, path: Path, format: str | None, predictions: bool) -> Sequence:
    if format is not None and format not in FORMATS:
        raise DataFormatError(f"{path}: unknown format {format!r}, expected one of {', '.join(FORMATS)}")
    detected = detect_format(data, path)
    if format is None:
        format = detected
    elif (format == "pt17") != (detected == "pt17"):
        layout = "an 'annolist'" if format == "pt17" else "an 'images'/'annotations'"
        raise _Where(path).error(
            f"{layout} layout for format {format}",
            data,
            hint=f"the file looks like {detected}: pass --format {detected}",
        )
    if format == "pt17":
        return Sequence(name=path.stem, frames=_read_annolist(data, _Where(path)), source=path, format=format)
    frames = _read_coco_style(data, _Where(path), predictions)
    return Sequence(name=path.stem, frames=frames, source=path, format=format, images=list(data["images"]))


# ------------------------------------------------------------------------------------ PoseTrack18 / 21 layout
def _keypoint_channels(data: dict, where: _Where, predictions: bool) -> np.ndarray:
    """Channel of each of the file's keypoint names in the PT18 layout, from ``categories[0].keypoints``."""
    if "categories" not in data:
        if predictions:
            raise (where / "categories").error(
                "this field to be present (it is missing)",
                hint="poseval needs it to map joints by name: copy `categories` from the ground-truth file",
            )
        return np.arange(_K)
    cats = _list(data["categories"], where / "categories", what="categories")
    if not cats:
        raise (where / "categories").error("at least one category (the person category)", cats)
    cat = _obj(cats[0], where / "categories" / 0)
    names = _list(_field(cat, "keypoints", where / "categories" / 0), where / "categories" / 0 / "keypoints")
    channels = []
    for i, name in enumerate(names):
        w = where / "categories" / 0 / "keypoints" / i
        name = _string(name, w)
        if name not in PT18.names:
            raise w.error(f"a PoseTrack18 joint name ({', '.join(PT18.names)})", name)
        channels.append(PT18.index(name))
    missing = [n for n in POSEVAL_NAMES if PT18.index(n) not in channels]
    if missing or len(set(channels)) != len(channels):
        raise (where / "categories" / 0 / "keypoints").error(
            f"each of the 15 scored joints exactly once (missing: {', '.join(missing) or 'none'})", names
        )
    return np.asarray(channels, dtype=np.int64)


def _read_regions(image: dict, where: _Where) -> list[np.ndarray]:
    has_x, has_y = "ignore_regions_x" in image, "ignore_regions_y" in image
    if not has_x and not has_y:
        return []
    if has_x != has_y:
        missing = "ignore_regions_y" if has_x else "ignore_regions_x"
        raise (where / missing).error(
            "this field to be present together with its x/y partner (it is missing)"
        )
    xs = _list(image["ignore_regions_x"], where / "ignore_regions_x", what="polygons")
    ys = _list(image["ignore_regions_y"], where / "ignore_regions_y", len(xs), "polygons")
    regions = []
    for r, (px, py) in enumerate(zip(xs, ys, strict=True)):
        x = _numbers(px, where / "ignore_regions_x" / r)
        y = _numbers(py, where / "ignore_regions_y" / r, len(x))
        regions.append(np.stack([x, y], axis=1))
    return regions


def _read_coco_style(data: dict, where: _Where, predictions: bool) -> list[Frame]:
    channels = _keypoint_channels(data, where, predictions)
    num_names = len(channels)
    images = _list(_field(data, "images", where), where / "images", what="image entries")
    frames: list[Frame] = []
    index_of: dict[int, int] = {}
    for i, image in enumerate(images):
        w = where / "images" / i
        image = _obj(image, w)
        image_id = _integer(_field(image, "id", w), w / "id")
        if image_id in index_of:
            raise (w / "id").error(f"a unique image id ({image_id} is also images[{index_of[image_id]}].id)")
        index_of[image_id] = i
        file_name = _string(_field(image, "file_name", w), w / "file_name")
        labeled = _flag(image["is_labeled"], w / "is_labeled") if "is_labeled" in image else None
        if "has_labeled_person" in image:
            _flag(image["has_labeled_person"], w / "has_labeled_person")
        size = [_integer(image[k], w / k) if k in image else 0 for k in ("width", "height")]
        frames.append(
            Frame(
                image_id=image_id,
                index=i,
                file_name=file_name,
                is_labeled=True if labeled is None else labeled,
                ignore_regions=_read_regions(image, w),
                width=size[0],
                height=size[1],
            )
        )
    labeled_given = [("is_labeled" in im) for im in images]

    annotations = _list(_field(data, "annotations", where), where / "annotations", what="person entries")
    for a, ann in enumerate(annotations):
        w = where / "annotations" / a
        ann = _obj(ann, w)
        image_id = _integer(_field(ann, "image_id", w), w / "image_id")
        if image_id not in index_of:
            raise (w / "image_id").error("the id of an entry of `images`", image_id)
        frames[index_of[image_id]].persons.append(_read_person(ann, w, channels, num_names, predictions))
    for frame, given in zip(frames, labeled_given, strict=True):
        if not given:
            frame.is_labeled = len(frame.persons) > 0
    return frames


def _read_person(ann: dict, w: _Where, channels: np.ndarray, num_names: int, predictions: bool) -> Person:
    raw = _numbers(_field(ann, "keypoints", w), w / "keypoints", 3 * num_names).reshape(num_names, 3)
    keypoints = np.zeros((_K, 3), dtype=np.float64)
    keypoints[channels] = raw
    joint_scores = None
    if "scores" in ann:
        scores = _list(ann["scores"], w / "scores", what="numbers")
        if scores:  # PoseTrack18 ground truth writes `scores: []`
            values = _numbers(scores, w / "scores", num_names)
            joint_scores = np.zeros(_K, dtype=np.float64)
            joint_scores[channels] = values
    track_id = _integer(_field(ann, "track_id", w), w / "track_id")
    box = _numbers(ann["bbox"], w / "bbox", 4) if ann.get("bbox") is not None else None
    head = _numbers(ann["bbox_head"], w / "bbox_head", 4) if ann.get("bbox_head") is not None else None
    score = _number(ann["score"], w / "score") if ann.get("score") is not None else 1.0
    person_id = _integer(ann["person_id"], w / "person_id") if ann.get("person_id") is not None else None
    attributes = {
        k: v
        for k, v in ann.items()
        if k not in _POSETRACK_PERSON_FIELDS and isinstance(v, (bool, int, float, str))
    }
    return Person(
        keypoints=keypoints,
        box=box,
        head_box=head,
        track_id=track_id,
        score=score,
        joint_scores=joint_scores,
        person_id=person_id,
        attributes=attributes,
    )


#: fields of a PoseTrack / COCO annotation that are not dataset-specific attributes (``Person.attributes``)
_POSETRACK_PERSON_FIELDS = frozenset(
    (
        "keypoints",
        "scores",
        "track_id",
        "bbox",
        "bbox_head",
        "score",
        "person_id",
        "id",
        "image_id",
        "category_id",
        "num_keypoints",
        "area",
        "iscrowd",
    )
)


# --------------------------------------------------------------------------------------- PoseTrack17 layout
def _read_annolist(data: dict, where: _Where) -> list[Frame]:
    entries = _list(_field(data, "annolist", where), where / "annolist", what="frame entries")
    frames = []
    for i, entry in enumerate(entries):
        w = where / "annolist" / i
        entry = _obj(entry, w)
        image = _obj(_single(_field(entry, "image", w), w / "image"), w / "image" / 0)
        file_name = _string(_field(image, "name", w / "image" / 0), w / "image" / 0 / "name")
        rects = _list(_field(entry, "annorect", w), w / "annorect", what="person entries")
        persons = [_read_rect(_obj(r, w / "annorect" / k), w / "annorect" / k) for k, r in enumerate(rects)]
        labeled = (
            _flag(_single(entry["is_labeled"], w / "is_labeled"), w / "is_labeled")
            if "is_labeled" in entry
            else None
        )
        frames.append(
            Frame(
                image_id=i,
                index=i,
                file_name=file_name,
                is_labeled=len(persons) > 0 if labeled is None else labeled,
                ignore_regions=_read_annolist_regions(entry, w),
                persons=persons,
            )
        )
    return frames


def _visibility(point: dict, wp: _Where) -> float:
    if point.get("is_visible") is None:
        return 1.0
    vis = _single(point["is_visible"], wp / "is_visible")
    return float(vis) if isinstance(vis, bool) else _number(vis, wp / "is_visible")


def _read_annolist_regions(entry: dict, w: _Where) -> list[np.ndarray]:
    if "ignore_regions" not in entry:
        return []
    regions = []
    for r, region in enumerate(_list(entry["ignore_regions"], w / "ignore_regions", what="regions")):
        wr = w / "ignore_regions" / r
        points = _list(_field(_obj(region, wr), "point", wr), wr / "point", what="points")
        poly = np.zeros((len(points), 2), dtype=np.float64)
        for p, point in enumerate(points):
            wp = wr / "point" / p
            point = _obj(point, wp)
            poly[p, 0] = _number(_single(_field(point, "x", wp), wp / "x"), wp / "x")
            poly[p, 1] = _number(_single(_field(point, "y", wp), wp / "y"), wp / "y")
        regions.append(poly)
    return regions


def _read_rect(rect: dict, w: _Where) -> Person:
    keypoints = np.zeros((_K, 3), dtype=np.float64)
    scores = np.zeros(_K, dtype=np.float64)
    any_score = False
    seen: set[int] = set()
    annopoints = rect.get("annopoints")
    if annopoints:  # absent, None or [] = a person without joints
        first = _obj(_single(annopoints, w / "annopoints"), w / "annopoints" / 0)
        points = _list(first.get("point", []), w / "annopoints" / 0 / "point", what="points")
        for p, point in enumerate(points):
            wp = w / "annopoints" / 0 / "point" / p
            point = _obj(point, wp)
            joint = _integer(_single(_field(point, "id", wp), wp / "id"), wp / "id")
            if joint not in PT17_ID_TO_PT18:
                raise (wp / "id").error("a PoseTrack17 joint id 0..14", joint)
            if joint in seen:  # poseval reads the first point with an id
                continue
            seen.add(joint)
            c = PT17_ID_TO_PT18[joint]
            keypoints[c, 0] = _number(_single(_field(point, "x", wp), wp / "x"), wp / "x")
            keypoints[c, 1] = _number(_single(_field(point, "y", wp), wp / "y"), wp / "y")
            keypoints[c, 2] = _visibility(point, wp)
            if "score" in point:
                scores[c] = _number(_single(point["score"], wp / "score"), wp / "score")
                any_score = True
            else:
                scores[c] = MISSING_SCORE
    corners = [k for k in ("x1", "y1", "x2", "y2") if k in rect]
    head = None
    if corners:
        if len(corners) != 4:
            missing = sorted({"x1", "y1", "x2", "y2"} - set(corners))
            raise (w / missing[0]).error("all four head-box corners x1, y1, x2, y2 (this one is missing)")
        x1, y1, x2, y2 = (_number(_single(rect[k], w / k), w / k) for k in ("x1", "y1", "x2", "y2"))
        head = np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)
    track_id = (
        _integer(_single(rect["track_id"], w / "track_id"), w / "track_id") if "track_id" in rect else -1
    )
    score = _number(_single(rect["score"], w / "score"), w / "score") if "score" in rect else 1.0
    return Person(
        keypoints=keypoints,
        head_box=head,
        track_id=track_id,
        score=score,
        joint_scores=scores if any_score else None,
    )
