"""Conversion of foreign pose checkpoints into vidpose weights (pure functions on state dicts).

Two sources are understood, told apart by their keys (:func:`detect_source`):

- ``vitpose``: an official ViTPose ``.pth`` (mmpose 0.x): ``backbone.*`` and ``keypoint_head.*``, maybe
  wrapped in ``{"state_dict": ...}``. Its position embedding keeps a class-token slot, ``[1, 1 + N, C]``, and
  ViTPose adds ``pos_embed[:, 1:] + pos_embed[:, :1]``; that sum is folded once here into our ``[1, N, C]``.
- ``hf-vitpose``: a Hugging Face transformers ``VitPoseForPoseEstimation`` folder (``config.json`` +
  ``model.safetensors``): ``backbone.embeddings.*``, ``backbone.encoder.layer.{i}.*`` with separate query, key
  and value projections (fused here into ``qkv``), ``backbone.layernorm`` and ``head.*``. Its
  ``position_embeddings`` also keep the class-token slot and are folded the same way. Its ``config.json``
  is read, checked against the weights and carried into the vidpose config (``model.vit.norm_eps`` etc.)
  by ``models/hf_config.py``.

ViTPose+ checkpoints (mixture-of-experts MLPs with "part features", ``mlp.experts.*``) are refused with a
clear error. Every key is renamed through a table; a key no table knows is an error that names it.

:func:`convert_checkpoint` does it for a file or folder and fits the result to a vidpose model with
:mod:`vidpose.models.fitting` (architecture read off the weights, position grid resampled, strict load of
backbone + head). :func:`detect_format` tells a file's or folder's format when it is not given.

Shape legend: N tokens (h x w patch grid), C width, K joints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from ..config import Config, ModelConfig
from ..errors import CheckpointError, ConfigError
from ..state_dicts import strip_prefix
from .fitting import config_for_model, fit_pos_embed, infer_model_config, load_backbone_and_head
from .hf_config import check_hf_weights, hf_vitpose_base_config, parse_hf_vitpose_config

if TYPE_CHECKING:
    from .pose_model import PoseModel

__all__ = [
    "SOURCE_FORMATS",
    "detect_source",
    "detect_format",
    "unwrap_state_dict",
    "convert_vitpose",
    "convert_hf_vitpose",
    "read_vitpose_file",
    "read_hf_vitpose_folder",
    "convert_checkpoint",
]

SourceFormat = Literal["vitpose", "hf-vitpose"]
SOURCE_FORMATS: tuple[str, ...] = ("vitpose", "hf-vitpose")

# Keys written by training code that carry no weights the model uses.
_VITPOSE_IGNORED = re.compile(r"backbone\.cls_token")

# official ViTPose key (regex) -> vidpose key (template). pos_embed is handled apart (class slot folded).
_VITPOSE_TABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"backbone\.patch_embed\.proj\.(weight|bias)", r"backbone.patch_embed.proj.\1"),
        (
            r"backbone\.blocks\.(\d+)\.(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)",
            r"backbone.blocks.\1.\2.\3",
        ),
        (r"backbone\.last_norm\.(weight|bias)", r"backbone.last_norm.\1"),
        (
            r"keypoint_head\.deconv_layers\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)",
            r"head.deconv_layers.\1.\2",
        ),
        (r"keypoint_head\.final_layer\.(weight|bias)", r"head.final_layer.\1"),
    )
)

# Hugging Face VitPose key (regex) -> vidpose key. query/key/value and position_embeddings are handled apart.
_HF_TABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (
            r"backbone\.embeddings\.patch_embeddings\.projection\.(weight|bias)",
            r"backbone.patch_embed.proj.\1",
        ),
        (r"backbone\.encoder\.layer\.(\d+)\.layernorm_before\.(weight|bias)", r"backbone.blocks.\1.norm1.\2"),
        (
            r"backbone\.encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)",
            r"backbone.blocks.\1.attn.proj.\2",
        ),
        (r"backbone\.encoder\.layer\.(\d+)\.layernorm_after\.(weight|bias)", r"backbone.blocks.\1.norm2.\2"),
        (r"backbone\.encoder\.layer\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)", r"backbone.blocks.\1.mlp.\2.\3"),
        (r"backbone\.layernorm\.(weight|bias)", r"backbone.last_norm.\1"),
        (r"head\.conv\.(weight|bias)", r"head.final_layer.\1"),
        (r"head\.deconv1\.weight", r"head.deconv_layers.0.weight"),
        (
            r"head\.batchnorm1\.(weight|bias|running_mean|running_var|num_batches_tracked)",
            r"head.deconv_layers.1.\1",
        ),
        (r"head\.deconv2\.weight", r"head.deconv_layers.3.weight"),
        (
            r"head\.batchnorm2\.(weight|bias|running_mean|running_var|num_batches_tracked)",
            r"head.deconv_layers.4.\1",
        ),
    )
)
_HF_QKV = re.compile(
    r"backbone\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)"
)
_MOE = re.compile(r"\.mlp\.experts\.|associate_keypoint_head")


# -------------------------------------------------------------------------------------- detection
def unwrap_state_dict(obj: object, where: str = "checkpoint") -> dict[str, Tensor]:
    """The tensor dict inside a loaded checkpoint: unwraps ``state_dict`` / ``model``, strips ``module.``."""
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and not isinstance(inner, Tensor):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(
            f"{where}: expected a dict of tensors (optionally under 'state_dict'), got {type(obj).__name__}"
        )
    out: dict[str, Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, Tensor):
            raise CheckpointError(f"{where}: entry {key!r} is a {type(value).__name__}, expected a tensor")
        out[key] = value
    return strip_prefix(out)


def detect_source(state_dict: Mapping[str, Tensor]) -> SourceFormat | Literal["vidpose"]:
    """Tell the checkpoint family by its keys: ``vitpose`` | ``hf-vitpose`` | ``vidpose`` (already ours)."""
    keys = list(state_dict)
    if any(k.startswith(("backbone.embeddings.", "backbone.encoder.layer.")) for k in keys):
        return "hf-vitpose"
    if any(k.startswith("keypoint_head.") for k in keys):
        return "vitpose"
    if "backbone.patch_embed.proj.weight" in state_dict and any(k.startswith("head.") for k in keys):
        return "vidpose"
    sample = ", ".join(keys[:5])
    raise CheckpointError(
        f"unrecognised checkpoint: keys look like neither ViTPose, Hugging Face VitPose nor vidpose "
        f"(first keys: {sample})"
    )


def detect_format(source: str | Path) -> SourceFormat:
    """The format of a checkpoint file or folder, for ``vidpose convert`` without ``--format``.

    A folder with a ``config.json`` is a Hugging Face VitPose folder (``hf-vitpose``); a file is read (with
    ``weights_only=True``) and told by its keys (:func:`detect_source`). A vidpose model file, a file whose
    keys fit no family and a folder without ``config.json`` are a :class:`CheckpointError` that says so and
    asks for ``--format``.
    """
    path = Path(source)
    if path.is_dir():
        if (path / "config.json").is_file():
            return "hf-vitpose"
        raise CheckpointError(
            f"{path}: cannot tell the format: a folder without config.json is no Hugging Face VitPose "
            f"folder; pass --format ({' | '.join(SOURCE_FORMATS)})"
        )
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found (expected an official ViTPose .pth or an HF folder)")
    with path.open("rb") as f:
        head = f.read(16)
    if path.suffix == ".safetensors" or head[8:9] == b"{":
        raise CheckpointError(
            f"{path}: cannot tell the format: a safetensors file (a vidpose model file needs no "
            "conversion; a Hugging Face model is converted from its folder, with its config.json); pass "
            f"--format ({' | '.join(SOURCE_FORMATS)})"
        )
    tensors = read_vitpose_file(path)
    try:
        found = detect_source(tensors)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: cannot tell the format: {e}; pass --format") from None
    if found == "vidpose":
        raise CheckpointError(
            f"{path}: the keys are vidpose's own layout (backbone.* + head.*): nothing to convert; a "
            "ViTPose .pth has keypoint_head.* keys"
        )
    return found


def _refuse_moe(keys: list[str], where: str) -> None:
    moe = [k for k in keys if _MOE.search(k)]
    if moe:
        raise CheckpointError(
            f"{where}: this is a ViTPose+ mixture-of-experts checkpoint ({len(moe)} keys such as "
            f"{moe[0]!r}); "
            "the per-dataset expert MLPs ('part features') are not supported: use a plain ViTPose checkpoint"
        )


def _fold_cls_slot(pos_embed: Tensor, where: str) -> Tensor:
    """``[1, 1 + N, C]`` with the class slot -> ``[1, N, C]`` = ``pos[:, 1:] + pos[:, :1]`` (as ViTPose)."""
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1 or pos_embed.shape[1] < 2:
        raise CheckpointError(
            f"{where}: position embedding has shape {tuple(pos_embed.shape)}, expected [1, 1+N, C]"
        )
    return pos_embed[:, 1:] + pos_embed[:, :1]


def _rename(key: str, table: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, template in table:
        if pattern.fullmatch(key):
            return pattern.sub(template, key)
    return None


def _raise_unknown(unknown: list[str], state_dict: Mapping[str, Tensor], where: str) -> None:
    if unknown:
        listed = ", ".join(f"{k} {tuple(state_dict[k].shape)}" for k in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        raise CheckpointError(f"{where}: {len(unknown)} unexpected keys: {listed}{more}")


# ------------------------------------------------------------------------------------- converters
def convert_vitpose(state_dict: Mapping[str, Tensor], where: str = "ViTPose checkpoint") -> dict[str, Tensor]:
    """Official ViTPose (mmpose 0.x) weights -> vidpose backbone + head keys.

    The patch-embedding conv, blocks (fused ``attn.qkv``), ``last_norm``, ``keypoint_head.deconv_layers.*``
    and ``keypoint_head.final_layer`` keep their names under ``backbone.`` / ``head.``;
    ``pos_embed [1, 1 + N, C]`` is folded to ``[1, N, C]``; ``backbone.cls_token`` (unused by ViTPose's
    forward) is dropped.
    Raises :class:`CheckpointError` naming every key it does not know, and on ViTPose+ (MoE) weights.
    """
    state_dict = unwrap_state_dict(state_dict, where)
    keys = list(state_dict)
    _refuse_moe(keys, where)
    out: dict[str, Tensor] = {}
    unknown: list[str] = []
    for key in keys:
        if key == "backbone.pos_embed":
            out[key] = _fold_cls_slot(state_dict[key], f"{where}: {key}")
        elif _VITPOSE_IGNORED.fullmatch(key):
            continue
        elif (new := _rename(key, _VITPOSE_TABLE)) is not None:
            out[new] = state_dict[key]
        else:
            unknown.append(key)
    _raise_unknown(unknown, state_dict, where)
    if "backbone.pos_embed" not in out:
        raise CheckpointError(f"{where}: no backbone.pos_embed; expected an official ViTPose checkpoint")
    return out


def convert_hf_vitpose(
    state_dict: Mapping[str, Tensor], hf_config: Mapping[str, object], where: str = "Hugging Face VitPose"
) -> dict[str, Tensor]:
    """Hugging Face ``VitPoseForPoseEstimation`` weights (+ its ``config.json`` as a dict) -> vidpose keys.

    ``attention.attention.{query,key,value}`` are concatenated (in that order) into ``attn.qkv``
    (no ``attn.qkv.bias`` when ``qkv_bias`` is false: the model is then built without one).
    ``position_embeddings`` keep the class slot in this format too and are folded like ViTPose's.
    The config is read by :func:`parse_hf_vitpose_config` and must describe these weights: ``hidden_size``,
    ``num_channels``, ``patch_size``, ``num_hidden_layers``, ``mlp_ratio``, ``qkv_bias``, the decoder kind
    (``use_simple_decoder``), the number of labels and the position grid of ``image_size``; a disagreement is
    a :class:`CheckpointError` naming the config.json field.
    """
    spec = parse_hf_vitpose_config(hf_config, where)
    state_dict = unwrap_state_dict(state_dict, where)
    keys = list(state_dict)
    _refuse_moe(keys, where)
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, Tensor]] = {}
    unknown: list[str] = []
    for key in keys:
        if key == "backbone.embeddings.position_embeddings":
            out["backbone.pos_embed"] = _fold_cls_slot(state_dict[key], f"{where}: {key}")
        elif (m := _HF_QKV.fullmatch(key)) is not None:
            qkv.setdefault((int(m.group(1)), m.group(3)), {})[m.group(2)] = state_dict[key]
        elif (new := _rename(key, _HF_TABLE)) is not None:
            out[new] = state_dict[key]
        else:
            unknown.append(key)
    _raise_unknown(unknown, state_dict, where)
    if "backbone.pos_embed" not in out:
        raise CheckpointError(
            f"{where}: no backbone.embeddings.position_embeddings; expected a VitPose model"
        )
    for (layer, kind), parts in sorted(qkv.items()):
        missing = [p for p in ("query", "key", "value") if p not in parts]
        if missing:
            names = ", ".join(
                f"backbone.encoder.layer.{layer}.attention.attention.{p}.{kind}" for p in missing
            )
            raise CheckpointError(f"{where}: missing {names}")
        out[f"backbone.blocks.{layer}.attn.qkv.{kind}"] = torch.cat(
            [parts["query"], parts["key"], parts["value"]], dim=0
        )
    check_hf_weights(spec, out, where)
    return out


# ------------------------------------------------------------------------------------------ files
def read_vitpose_file(path: str | Path) -> dict[str, Tensor]:
    """Tensors of an official ViTPose ``.pth`` (loaded with ``weights_only=True``: no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found (expected an official ViTPose .pth)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise CheckpointError(
            f"{path}: cannot read as a PyTorch checkpoint with weights_only=True ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); expected an official ViTPose .pth"
        ) from e
    return unwrap_state_dict(obj, str(path))


def read_hf_vitpose_folder(path: str | Path) -> tuple[dict[str, Tensor], dict[str, object]]:
    """(tensors, config.json) of a Hugging Face VitPose folder (``model.safetensors`` or ``.bin``)."""
    from safetensors.torch import load_file

    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: expected a Hugging Face VitPose folder (config.json + model.safetensors)"
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{folder}: no config.json (expected a Hugging Face VitPose folder)")
    try:
        hf_config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_path}: invalid JSON: {e}") from e
    if not isinstance(hf_config, dict):
        raise CheckpointError(f"{config_path}: top level must be an object")
    weights = folder / "model.safetensors"
    if weights.is_file():
        try:
            tensors = load_file(str(weights))
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"{weights}: not a readable safetensors file ({e})") from e
    elif (folder / "pytorch_model.bin").is_file():
        tensors = read_vitpose_file(folder / "pytorch_model.bin")
    else:
        raise CheckpointError(f"{folder}: no model.safetensors (or pytorch_model.bin)")
    return tensors, hf_config


def convert_checkpoint(
    source: str | Path,
    fmt: SourceFormat,
    *,
    frames: int = 1,
    num_heads: int | None = None,
    image_size: tuple[int, int] | None = None,
    build: Callable[[ModelConfig], PoseModel] | None = None,
) -> tuple[PoseModel, Config]:
    """Read a ViTPose ``.pth`` or a Hugging Face VitPose folder and return ``(model in eval mode, config)``.

    A Hugging Face folder's ``config.json`` fixes what the weights' shapes do not (heads, LayerNorm eps,
    activation, qkv bias, input size, the simple decoder's upsampling; see :func:`parse_hf_vitpose_config`).
    The position grid is resampled (bicubic, explicit (h, w)) when ``image_size`` differs from the
    checkpoint's;
    backbone and head are loaded strictly; with ``frames`` > 1 the temporal modules keep their initialisation,
    so the model computes the single-frame model's heatmaps until fine-tuned.
    """
    source = Path(source)
    src_grid: tuple[int, int] | None = None
    base = ModelConfig()
    if fmt == "vitpose":
        converted = convert_vitpose(read_vitpose_file(source), str(source))
    elif fmt == "hf-vitpose":
        tensors, hf_config = read_hf_vitpose_folder(source)
        spec = parse_hf_vitpose_config(hf_config, str(source))
        converted = convert_hf_vitpose(tensors, hf_config, str(source))
        if num_heads is not None and num_heads != spec.num_attention_heads:
            raise ConfigError(
                f"num_heads {num_heads} disagrees with {source}: config.json "
                f"backbone_config.num_attention_heads = {spec.num_attention_heads} (leave it out)"
            )
        num_heads, src_grid = spec.num_attention_heads, spec.grid
        image_size = image_size if image_size is not None else spec.image_size
        base = hf_vitpose_base_config(spec, base)
    else:
        raise ConfigError(f"unknown source format {fmt!r}, expected one of {list(SOURCE_FORMATS)}")
    model_cfg = infer_model_config(
        converted, num_heads=num_heads, frames=frames, image_size=image_size, source_grid=src_grid, base=base
    )
    converted = fit_pos_embed(converted, model_cfg, src_grid)
    if build is None:
        from .pose_model import build_model as build
    model = build(model_cfg)
    load_backbone_and_head(model, converted, str(source))
    model.eval()
    return model, config_for_model(model_cfg, name=f"converted-{fmt}")
