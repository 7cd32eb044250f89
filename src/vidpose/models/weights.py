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

:func:`infer_model_config` reads the architecture off the converted weights, :func:`resample_pos_embed` moves
the position grid to another ``(h, w)``, :func:`load_backbone_and_head` loads strictly (backbone + head must
match exactly; the temporal modules keep their initialisation), and :func:`convert_checkpoint` does all of it
for a file or folder.

Shape legend: N tokens (h x w patch grid), C width, K joints.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import CodecConfig, Config, DataConfig, ModelConfig, validate
from ..errors import CheckpointError, ConfigError
from ..state_dicts import diff_state_dict, strip_prefix
from .hf_config import check_hf_weights, hf_vitpose_base_config, parse_hf_vitpose_config
from .vit import VIT_SIZES, conv_grid_size

if TYPE_CHECKING:
    from .pose_model import PoseModel

__all__ = [
    "SOURCE_FORMATS",
    "detect_source",
    "unwrap_state_dict",
    "convert_vitpose",
    "convert_hf_vitpose",
    "infer_source_grid",
    "infer_model_config",
    "resample_pos_embed",
    "fit_pos_embed",
    "config_for_model",
    "load_backbone_and_head",
    "read_vitpose_file",
    "read_hf_vitpose_folder",
    "convert_checkpoint",
]

SourceFormat = Literal["vitpose", "hf-vitpose"]
SOURCE_FORMATS: tuple[str, ...] = ("vitpose", "hf-vitpose")

# Position grids of the input sizes ViTPose and MAE checkpoints are published at, by token count:
# 256x192 -> 16x12, 384x288 -> 24x18, 256x256 -> 16x16, 224x224 (MAE) -> 14x14, 512x384 -> 32x24.
KNOWN_GRIDS: dict[int, tuple[int, int]] = {
    192: (16, 12),
    432: (24, 18),
    256: (16, 16),
    196: (14, 14),
    768: (32, 24),
}

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


# --------------------------------------------------------------------------------------- geometry
def infer_source_grid(
    num_tokens: int, hint: tuple[int, int] | None = None, fallback: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(h, w) of a position grid holding ``num_tokens`` tokens.

    In order, the first that holds that many tokens: ``hint`` (the checkpoint's own grid, when known), the
    grids of the published ViTPose / MAE input sizes (``KNOWN_GRIDS``), ``fallback`` (e.g. the target model's
    grid), a square; otherwise :class:`CheckpointError`.
    """
    if hint is not None and hint[0] * hint[1] == num_tokens:
        return hint
    if num_tokens in KNOWN_GRIDS:
        return KNOWN_GRIDS[num_tokens]
    if fallback is not None and fallback[0] * fallback[1] == num_tokens:
        return fallback
    side = math.isqrt(num_tokens)
    if side * side == num_tokens:
        return side, side
    raise CheckpointError(
        f"cannot tell the (h, w) position grid of {num_tokens} tokens; pass the checkpoint's input size "
        "(image_size) so that its grid is known"
    )


def resample_pos_embed(pos_embed: Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int]) -> Tensor:
    """Bicubic resampling of a position grid with explicit (h, w): ``[1, h*w, C] -> [1, h'*w', C]``."""
    _, n, c = pos_embed.shape
    if n != src_grid[0] * src_grid[1]:
        raise CheckpointError(f"position embedding has {n} tokens, not a {src_grid[0]}x{src_grid[1]} grid")
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    grid = pos_embed.reshape(1, src_grid[0], src_grid[1], c).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=tuple(dst_grid), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, dst_grid[0] * dst_grid[1], c).to(pos_embed.dtype)


def fit_pos_embed(
    converted: Mapping[str, Tensor], cfg: ModelConfig, src_grid: tuple[int, int] | None = None
) -> dict[str, Tensor]:
    """Return ``converted`` with ``backbone.pos_embed`` resampled to the token grid of ``cfg.image_size``."""
    out = dict(converted)
    pos = out["backbone.pos_embed"]
    dst = conv_grid_size(cfg.image_size, cfg.vit.patch_size, cfg.vit.patch_padding)
    src = infer_source_grid(pos.shape[1], src_grid, fallback=dst)
    out["backbone.pos_embed"] = resample_pos_embed(pos, src, dst)
    return out


# ----------------------------------------------------------------------------------------- config
def infer_model_config(
    converted: Mapping[str, Tensor],
    *,
    num_heads: int | None = None,
    frames: int = 1,
    image_size: tuple[int, int] | None = None,
    source_grid: tuple[int, int] | None = None,
    base: ModelConfig | None = None,
) -> ModelConfig:
    """The :class:`ModelConfig` that the converted backbone + head weights describe.

    Read off the weights: width C and patch size (patch-embedding conv), depth (blocks), MLP ratio, qkv bias
    (``attn.qkv.bias`` present), head kind (deconv layers present -> classic, else simple), deconv channels
    and count, final kernel, K joints.
    Heads: ``num_heads``, else the ``VIT_SIZES`` row with the same (width, depth), else ``C // 64``.
    Image size: ``image_size``, else the position grid times the patch size (ViTPose: 16x12 -> 256x192).
    The checkpoint's grid: :func:`infer_source_grid` with ``source_grid`` as hint and ``image_size``'s grid as
    fallback.
    ``frames`` = T: 1 builds the single-frame model, T > 1 the temporal one (its new modules keep their init).
    Other fields (LayerNorm eps, activation, ...) come from ``base`` (default: ``ModelConfig()``).
    """
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    for key in ("backbone.patch_embed.proj.weight", "backbone.pos_embed", "head.final_layer.weight"):
        if key not in converted:
            raise CheckpointError(f"converted weights have no {key}")
    proj = converted["backbone.patch_embed.proj.weight"]  # [C, 3, p, p]
    embed_dim, patch = int(proj.shape[0]), int(proj.shape[-1])
    if proj.shape[-2] != patch:
        raise CheckpointError(f"non-square patch embedding {tuple(proj.shape)} is not supported")
    block_ids = {int(m.group(1)) for k in converted if (m := re.match(r"backbone\.blocks\.(\d+)\.", k))}
    depth = len(block_ids)
    if depth == 0:
        raise CheckpointError("converted weights have no backbone.blocks.*")
    if block_ids != set(range(depth)):
        raise CheckpointError(f"backbone blocks are not numbered 0..{depth - 1}: {sorted(block_ids)}")
    mlp_ratio = converted["backbone.blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    base = base if base is not None else ModelConfig()
    qkv_bias = base.vit.qkv_bias
    if "backbone.blocks.0.attn.qkv.weight" in converted:
        qkv_bias = "backbone.blocks.0.attn.qkv.bias" in converted

    sizes = VIT_SIZES
    size_name = next(
        (n for n, r in sizes.items() if (r["embed_dim"], r["depth"]) == (embed_dim, depth)), None
    )
    if num_heads is None:
        num_heads = sizes[size_name]["num_heads"] if size_name is not None else max(1, embed_dim // 64)
    if embed_dim % num_heads:
        raise ConfigError(f"num_heads {num_heads} does not divide the width {embed_dim}")
    if size_name is None:
        size_name = next((n for n, r in sizes.items() if r["embed_dim"] == embed_dim), next(iter(sizes)))

    vit = replace(
        base.vit,
        size=size_name,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        qkv_bias=qkv_bias,
        patch_size=patch,
    )

    final = converted["head.final_layer.weight"]  # [K, C', k, k]
    deconv_ids = sorted(
        int(m.group(1))
        for k, v in converted.items()
        if (m := re.fullmatch(r"head\.deconv_layers\.(\d+)\.weight", k)) and v.ndim == 4
    )
    kernel = int(final.shape[-1])
    if deconv_ids:
        channels = int(converted[f"head.deconv_layers.{deconv_ids[-1]}.weight"].shape[1])
        head = replace(
            base.head,
            kind="classic",
            deconv_channels=channels,
            num_deconv=len(deconv_ids),
            final_kernel=None if kernel == 1 else kernel,  # None = the kind's default (classic 1, simple 3)
        )
    else:
        head = replace(base.head, kind="simple", final_kernel=None if kernel == 3 else kernel)

    n = int(converted["backbone.pos_embed"].shape[1])
    target_grid = conv_grid_size(image_size, patch, vit.patch_padding) if image_size is not None else None
    grid = infer_source_grid(n, source_grid, fallback=target_grid)
    if image_size is None:
        image_size = (grid[0] * patch, grid[1] * patch)
        if conv_grid_size(image_size, patch, vit.patch_padding) != grid:
            raise CheckpointError(
                f"the {grid[0]}x{grid[1]} position grid matches no image size; pass image_size"
            )
    # Frame masking needs more frames than masked ones; a short window masks fewer (none for T = 1).
    mlsme = replace(base.mlsme, frame_mask_count=min(base.mlsme.frame_mask_count, frames - 1))
    return replace(
        base,
        temporal=frames > 1,
        num_frames=frames,
        num_joints=int(final.shape[0]),
        image_size=(int(image_size[0]), int(image_size[1])),
        vit=vit,
        head=head,
        mlsme=mlsme,
    )


def config_for_model(model_cfg: ModelConfig, name: str = "converted") -> Config:
    """A whole, valid :class:`Config` around ``model_cfg``: codec sizes and frame offsets made consistent."""
    t = model_cfg.num_frames
    h, w = model_cfg.image_size
    offsets = tuple(range(-(t // 2), t - t // 2))
    cfg = Config(
        name=name,
        model=model_cfg,
        codec=replace(CodecConfig(), input_size=(h, w), heatmap_size=(h // 4, w // 4)),
        data=replace(DataConfig(), frame_offsets=offsets),
    )
    validate(cfg)
    return cfg


# ------------------------------------------------------------------------------------ strict load
_BN_COUNTER = ".num_batches_tracked"


def load_backbone_and_head(
    model: nn.Module, converted: Mapping[str, Tensor], where: str = "converted"
) -> None:
    """Load converted weights strictly into ``model.backbone`` and ``model.head``; the rest keeps its init.

    The converted keys must be exactly the model's ``backbone.*`` + ``head.*`` keys with the same shapes
    (a missing BatchNorm ``num_batches_tracked`` counter is filled with 0); otherwise :class:`CheckpointError`
    lists every missing, unexpected and mis-shaped key.
    """
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(("backbone.", "head."))}
    got = dict(converted)
    for key, value in expected.items():
        if key.endswith(_BN_COUNTER) and key not in got:
            got[key] = torch.zeros_like(value)
    diff = diff_state_dict(expected, got)
    if diff:
        raise CheckpointError(f"{where}: weights do not fit the model's backbone + head: {diff.describe()}")
    result = model.load_state_dict(got, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert not any(k.startswith(("backbone.", "head.")) for k in result.missing_keys), result.missing_keys


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
