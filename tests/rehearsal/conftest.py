"""Fixtures of the PoseTrack rehearsals: the dataset roots (one per format, built once per session) and one
converted official-layout ViTPose checkpoint shared by all three."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from posetrack_roots import GRID, REHEARSAL_SIZE, build_root

import official_vitpose
from vidpose.models.vit import VIT_SIZES


@pytest.fixture(scope="session")
def official_vitpose_b() -> dict[str, torch.Tensor]:
    """Random weights under the official ViTPose key names and shapes (classic head, 17 joints)."""
    size = VIT_SIZES[REHEARSAL_SIZE]
    return official_vitpose.official_state_dict(
        "classic", seed=0, grid=GRID, width=size["embed_dim"], depth=size["depth"], joints=17, scale=0.02
    )


@pytest.fixture(scope="session")
def converted_vitpose(official_vitpose_b, tmp_path_factory) -> Path:
    """``vidpose convert vitpose_b.pth checkpoints/vitpose-b-coco.safetensors --format vitpose --frames 5``
    (the recipes' comment), run once; the path of the written file."""
    from vidpose.cli import main

    folder = tmp_path_factory.mktemp("vitpose")
    pth = folder / "vitpose_b.pth"
    torch.save({"state_dict": official_vitpose_b, "meta": {"epoch": 210}}, pth)
    out = folder / "vitpose-b-coco.safetensors"
    with pytest.raises(SystemExit) as info:
        main(["convert", str(pth), str(out), "--format", "vitpose", "--frames", "5"])
    assert info.value.code in (0, None)
    pth.unlink()
    return out


@pytest.fixture(scope="session")
def rehearsal_folder(shared_data, converted_vitpose, tmp_path_factory):
    """``folder(fmt)``: a working folder holding ``data/posetrack{17,18,21}`` (the recipe's ``data.root``) and
    ``checkpoints/vitpose-b-coco.safetensors`` (its ``model.init_from``), built once per format."""
    built: dict[str, Path] = {}

    def folder(fmt: str) -> Path:
        if fmt not in built:
            work = tmp_path_factory.mktemp(f"rehearsal_{fmt}")
            build_root(shared_data, work / "data" / f"posetrack{fmt[2:]}", fmt)
            (work / "checkpoints").mkdir()
            os.symlink(converted_vitpose, work / "checkpoints" / "vitpose-b-coco.safetensors")
            built[fmt] = work
        return built[fmt]

    return folder
