"""Dress rehearsal of the PoseTrack recipes (``configs/posetrack{17,18,21}_vitb.yaml``), end to end on dataset
roots built in the recipes' layouts from the real samples (see ``posetrack_roots.py``).

Each recipe runs as written from a working folder that holds ``data/posetrack{17,18,21}`` and
``checkpoints/``, changed only by dotted overrides for the run length and batch size (``train.max_steps``,
``train.epochs=1``, ``train.batch_size=1``: one window per step, the least that runs a step) and
``train.amp=false`` (bf16 autocast on a CPU without bf16 instructions is emulated: several times slower than
fp32). The commands: ``vidpose convert`` (once, shared), ``check-data``, ``train`` from ``model.init_from``
(1 step), ``train`` again (resumes from ``last``, 1 more step), ``evaluate`` with a detection file: the
recipe's for PT17 (DCPose format) and PT21 (COCO), for PT18 the COCO file given with ``--boxes`` (its
recipe's DCPose file is checked to give the same boxes, which is what the evaluation reads of it).

Marked ``rehearsal``: ``make test`` / ``.ci/run`` run it; deselect locally with ``-m "not slow and not
rehearsal"``. ``VIDPOSE_REHEARSAL_SIZE=nano`` runs the same commands on a small backbone.

Cost: at ViT-B a training step and an evaluated window (flip test: 10 backbone passes) are each several
seconds of CPU, so the rehearsal keeps both few: 2 steps of batch 1 and 6 evaluated windows per recipe (the
best ``BOXES_PER_FRAME`` = 2 detections in each of the 3 labelled val frames).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from posetrack_roots import BOXES_PER_FRAME, REHEARSAL_SIZE, VAL_SEQUENCES, run_cli

import official_vitpose
from vidpose.config import load_config
from vidpose.data.boxes import load_detections
from vidpose.data.dataset import build_dataset
from vidpose.data.posetrack import read_sequences
from vidpose.models import build_model
from vidpose.tasks.train import init_from_checkpoint

pytestmark = pytest.mark.rehearsal

REPO = Path(__file__).resolve().parents[2]
FORMATS = ("pt17", "pt18", "pt21")
#: Run length and batch size (2 steps of one window, set per command below), and fp32 on CPU (see above).
RUN = ["train.epochs=1", "train.batch_size=1", "train.amp=false"]
SIZE = [] if REHEARSAL_SIZE == "base" else [f"model.vit.size={REHEARSAL_SIZE}"]


def recipe(fmt: str) -> Path:
    return REPO / "configs" / f"posetrack{fmt[2:]}_vitb.yaml"


@pytest.mark.parametrize("fmt", FORMATS)
def test_recipe_check_train_resume_evaluate(fmt, rehearsal_folder, monkeypatch, capsys):
    """check-data finds no problem; train writes last.pt, config.yaml and model_last; the second train
    resumes from step 1 and ends at step 2; evaluate with the detection boxes writes report.json, the AP
    chart and one prediction file per val sequence."""
    work = rehearsal_folder(fmt)
    monkeypatch.chdir(work)
    root = f"data/posetrack{fmt[2:]}"
    cfg = load_config(recipe(fmt), [*RUN, *SIZE])
    out = work / cfg.train.out_dir

    text = run_cli(["check-data", root, "--format", fmt, "--boxes", f"{root}/{cfg.data.val_boxes}"], capsys)
    assert "problems" in text and "│ 0 " in text.split("problems")[1][:20], text

    # PT17 and PT21: the recipe's own box file; PT18: the COCO file through --boxes, and its recipe's DCPose
    # file names the same boxes (so both formats reach the evaluation the same way).
    boxes = f"{root}/boxes/val_boxes_coco.json" if fmt == "pt18" else None
    if fmt == "pt18":
        sequences = read_sequences(Path(root) / cfg.data.val_ann, format=fmt)
        dcpose = load_detections(Path(root) / cfg.data.val_boxes, sequences, cfg.data.box_score_thr)
        coco = load_detections(boxes, sequences, cfg.data.box_score_thr)
        assert dcpose.keys() == coco.keys() and len(dcpose) == len(VAL_SEQUENCES)
        for frame, dets in dcpose.items():
            assert [(b.tolist(), s) for b, s in dets] == [(b.tolist(), s) for b, s in coco[frame]]
    args = ["train", str(recipe(fmt)), *RUN, *SIZE, "--no-progress", "--no-eval"]
    text = run_cli([*args, "train.max_steps=1"], capsys)
    assert "now at step 1 of 1" in text, text
    for name in ("last.pt", "config.yaml", "log.jsonl", "model_last.safetensors"):
        assert (out / name).is_file(), name
    text = run_cli([*args, "train.max_steps=2"], capsys)
    assert "from step 1 of 2" in text and "now at step 2 of 2" in text, text
    assert torch.load(out / "last.pt", weights_only=False, map_location="cpu")["step"] == 2

    ev = ["evaluate", str(recipe(fmt)), "-c", str(out / "model_last.safetensors"), "--out", str(out / "eval")]
    text = run_cli([*ev, *(["--boxes", boxes] if boxes else []), *RUN, *SIZE], capsys)
    report = json.loads((out / "eval" / "report.json").read_text())
    # the best BOXES_PER_FRAME detections in each of the 3 labelled val frames
    assert report["windows"] == BOXES_PER_FRAME * len(VAL_SEQUENCES), report
    assert report["boxes"].endswith("boxes/val_boxes_coco.json" if boxes else cfg.data.val_boxes), report
    assert (out / "eval" / "per_joint_ap.png").is_file()
    predictions = sorted(p.stem for p in (out / "eval" / "predictions").glob("*.json"))
    assert predictions == sorted(VAL_SEQUENCES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_step0_temporal_model_equals_converted_vitpose(
    fmt, rehearsal_folder, official_vitpose_b, monkeypatch
):
    """The recipe's temporal model, initialised from the converted file as ``train`` does at step 0, gives
    on a real validation window the heatmaps of ViTPose's own forward (official keys) for the key frame."""
    work = rehearsal_folder(fmt)
    monkeypatch.chdir(work)
    cfg = load_config(recipe(fmt), [*RUN, *SIZE])
    model = build_model(cfg.model)
    init_from_checkpoint(model, cfg.model.init_from)
    model.eval()
    sequences = read_sequences(Path(cfg.data.root) / cfg.data.val_ann, format=cfg.data.format)
    clip = build_dataset(cfg, sequences, train=False)[0]["clip"][None]  # [1, T, 3, H, W]
    heads = model.backbone.blocks[0].attn.num_heads
    with torch.no_grad():
        ours = model(clip)
        key = clip[:, cfg.model.num_frames // 2]
        theirs = official_vitpose.reference_vitpose(official_vitpose_b, key, "classic", num_heads=heads)
    assert ours.shape == theirs.shape == (1, 17, 64, 48)
    assert theirs.abs().max() > 1e-2
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-3)
