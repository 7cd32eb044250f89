"""The fields of a Hugging Face VitPose ``config.json`` that change the numbers, read and checked.

transformers' ``VitPoseForPoseEstimation`` computes its heatmaps from settings that the weights' shapes do
not show (``layer_norm_eps``, 1e-12 by default against ViTPose's 1e-6, ``hidden_act``, heads, the simple
decoder's ``scale_factor``) and from settings they do (``hidden_size``, depth, ``mlp_ratio``, ``qkv_bias``,
decoder, labels, the position grid of ``image_size``). :func:`parse_hf_vitpose_config` reads them
(transformers' defaults where the file leaves one out) into an :class:`HFVitPoseSpec`,
:func:`check_hf_weights` checks the converted weights against it, and :func:`hf_vitpose_base_config` carries
it into a vidpose :class:`ModelConfig` (``model.vit.norm_eps``, ``activation``, ``qkv_bias``, ``num_heads``,
``head.num_deconv``). Every value vidpose cannot compute the same way is a one-line
:class:`CheckpointError` naming ``config.json`` and the field. Training-only fields (dropouts,
``initializer_range``) are not read.

Shape legend: C width, K joints, (H, W) input size, (h, w) token grid, p patch size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NoReturn

from torch import Tensor

from ..config import ModelConfig
from ..errors import CheckpointError
from .vit import conv_grid_size

__all__ = [
    "HF_ACTIVATIONS",
    "HFVitPoseSpec",
    "parse_hf_vitpose_config",
    "check_hf_weights",
    "hf_vitpose_base_config",
]

# Hugging Face ``hidden_act`` (transformers' ACT2FN names) -> vidpose ``model.vit.activation``. gelu_new,
# gelu_fast and the two *_tanh names are one function (the tanh approximation) written four ways.
HF_ACTIVATIONS: dict[str, str] = {
    "gelu": "gelu",
    "gelu_python": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_python_tanh": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
    "quick_gelu": "quick_gelu",
}

# transformers' VitPoseBackboneConfig defaults, used for a field that config.json leaves out.
_HF_BACKBONE_DEFAULTS: dict[str, object] = {
    "image_size": [256, 192],
    "patch_size": [16, 16],
    "num_channels": 3,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "mlp_ratio": 4,
    "num_experts": 1,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "qkv_bias": True,
}


@dataclass(frozen=True)
class HFVitPoseSpec:
    """What a Hugging Face VitPose ``config.json`` says that changes the numbers (transformers' defaults
    where the file leaves a field out). Fields keep their transformers names.

    Args:
        hidden_size, num_hidden_layers, num_attention_heads: width C, depth and heads of the backbone.
        mlp_ratio: the MLP is ``int(hidden_size * mlp_ratio)`` wide.
        qkv_bias: the query, key and value projections have biases.
        layer_norm_eps: eps of every backbone LayerNorm (both per layer and the final one).
        activation: ``hidden_act`` as a vidpose ``model.vit.activation`` (:data:`HF_ACTIVATIONS`).
        image_size: (H, W) input; patch_size: p of the (square) patch embedding, padding 2.
        use_simple_decoder: simple decoder (ReLU, bilinear x ``scale_factor``, 3x3 conv), else the classic
            one (2 deconvolutions, BatchNorm, ReLU, 1x1 conv; it ignores ``scale_factor``).
        scale_factor: upsampling of the simple decoder.
        num_labels: K heatmaps (``len(id2label)``, else ``num_labels``); None when the file gives neither.
    """

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    mlp_ratio: float
    qkv_bias: bool
    layer_norm_eps: float
    activation: str
    image_size: tuple[int, int]
    patch_size: int
    use_simple_decoder: bool
    scale_factor: int
    num_labels: int | None

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) token grid of the patch embedding (kernel = stride = p, padding 2)."""
        return conv_grid_size(self.image_size, self.patch_size, 2)


def parse_hf_vitpose_config(
    hf_config: Mapping[str, object], where: str = "Hugging Face VitPose"
) -> HFVitPoseSpec:
    """Read and check the fields of a Hugging Face VitPose ``config.json`` (a dict) that change the numbers.

    Training-only fields (dropouts, ``initializer_range``) are not read. Raises :class:`CheckpointError`
    naming ``config.json`` and the field for a value vidpose cannot compute the same way: ``num_experts > 1``
    (ViTPose+), an unknown ``hidden_act``, a non-square patch, ``num_channels != 3``, features taken from
    another layer than the last (``out_indices`` / ``out_features``), a simple decoder whose ``scale_factor``
    is not a power of two, or a value of the wrong type or range.
    """

    def fail(field: str, value: object, expected: str) -> NoReturn:
        raise CheckpointError(f"{where}: config.json {field} = {value!r}: {expected}")

    if not isinstance(hf_config, Mapping):
        raise CheckpointError(f"{where}: config.json top level must be an object")
    if hf_config.get("model_type", "vitpose") != "vitpose":
        fail("model_type", hf_config["model_type"], "expected 'vitpose' (VitPoseForPoseEstimation)")
    bc = hf_config.get("backbone_config")
    if not isinstance(bc, Mapping):
        fail("backbone_config", bc, "expected the VitPose backbone's settings (an object)")
    if bc.get("model_type", "vitpose_backbone") != "vitpose_backbone":
        fail("backbone_config.model_type", bc["model_type"], "expected 'vitpose_backbone'")

    def field(name: str) -> object:
        return bc[name] if name in bc else _HF_BACKBONE_DEFAULTS[name]

    def integer(name: str, minimum: int = 1) -> int:
        value = field(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            fail(f"backbone_config.{name}", value, f"expected an integer >= {minimum}")
        return value

    def number(name: str, low: float, high: float) -> float:
        value = field(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
            fail(f"backbone_config.{name}", value, f"expected a number in ({low:g}, {high:g})")
        return float(value)

    def pair(name: str) -> tuple[int, int]:
        value = field(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, value
        if (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in value)
        ):
            return int(value[0]), int(value[1])
        fail(f"backbone_config.{name}", value, "expected [H, W] (positive integers)")

    num_experts = integer("num_experts")
    if num_experts > 1:
        raise CheckpointError(
            f"{where}: config.json has num_experts={num_experts} (ViTPose+ mixture-of-experts with part "
            "features); not supported: use a plain ViTPose checkpoint"
        )
    if field("num_channels") != 3:
        fail("backbone_config.num_channels", field("num_channels"), "only RGB input (3) is supported")
    hidden, depth, heads = (
        integer("hidden_size"),
        integer("num_hidden_layers"),
        integer("num_attention_heads"),
    )
    if hidden % heads:
        fail("backbone_config.num_attention_heads", heads, f"does not divide hidden_size {hidden}")
    mlp_ratio = number("mlp_ratio", 0.0, math.inf)
    eps = number("layer_norm_eps", 0.0, 1.0)
    qkv_bias = field("qkv_bias")
    if not isinstance(qkv_bias, bool):
        fail("backbone_config.qkv_bias", qkv_bias, "expected true or false")
    act = field("hidden_act")
    if act not in HF_ACTIVATIONS:
        fail("backbone_config.hidden_act", act, f"not supported, expected one of {sorted(HF_ACTIVATIONS)}")
    image_size, patch = pair("image_size"), pair("patch_size")
    if patch[0] != patch[1]:
        fail("backbone_config.patch_size", field("patch_size"), "only square patches are supported")
    if min(conv_grid_size(image_size, patch[0], 2)) < 1:
        fail(
            "backbone_config.image_size", field("image_size"), f"smaller than one {patch[0]}x{patch[0]} patch"
        )

    # The decoder reads the last stage that out_indices / out_features name (stage 0 is the embedding,
    # stage i the output of layer i; negative indices count from the end). It must be the last layer.
    stages = ["stem"] + [f"stage{i}" for i in range(1, depth + 1)]
    for name in ("out_indices", "out_features"):
        value = bc.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not value:
            fail(f"backbone_config.{name}", value, "expected a non-empty list")
        if name == "out_indices":
            if not all(isinstance(i, int) and -len(stages) <= i < len(stages) for i in value):
                fail(f"backbone_config.{name}", value, f"expected indices of stages 0..{depth}")
            last = max(i % len(stages) for i in value)
        else:
            if not all(f in stages for f in value):
                fail(f"backbone_config.{name}", value, f"expected names among stem, stage1..stage{depth}")
            last = max(stages.index(f) for f in value)
        if last != depth:
            fail(
                f"backbone_config.{name}",
                value,
                f"the heatmaps would be decoded from layer {last} of {depth}; only the last one is supported",
            )

    simple = hf_config.get("use_simple_decoder", True)
    if not isinstance(simple, bool):
        fail("use_simple_decoder", simple, "expected true or false")
    scale = hf_config.get("scale_factor", 4)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        fail("scale_factor", scale, "expected an integer >= 1")
    if simple and scale & (scale - 1):
        fail("scale_factor", scale, "the simple decoder needs a power of two (bilinear x 2**n)")

    num_labels: int | None = None
    id2label, labels = hf_config.get("id2label"), hf_config.get("num_labels")
    if id2label is not None:
        if not isinstance(id2label, Mapping) or not id2label:
            fail("id2label", id2label, "expected an object with one entry per keypoint")
        num_labels = len(id2label)
    if labels is not None:
        if isinstance(labels, bool) or not isinstance(labels, int) or labels < 1:
            fail("num_labels", labels, "expected an integer >= 1")
        if num_labels is not None and labels != num_labels:
            fail("num_labels", labels, f"disagrees with the {num_labels} entries of id2label")
        num_labels = labels

    return HFVitPoseSpec(
        hidden_size=hidden,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        mlp_ratio=mlp_ratio,
        qkv_bias=qkv_bias,
        layer_norm_eps=eps,
        activation=HF_ACTIVATIONS[act],
        image_size=image_size,
        patch_size=patch[0],
        use_simple_decoder=simple,
        scale_factor=scale,
        num_labels=num_labels,
    )


def hf_vitpose_base_config(spec: HFVitPoseSpec, base: ModelConfig | None = None) -> ModelConfig:
    """``base`` (default ``ModelConfig()``) with what ``spec`` fixes beyond the weights' shapes: the
    backbone's heads, qkv bias, LayerNorm eps, activation, MLP ratio and patch size, and the simple decoder's
    upsampling (``head.num_deconv = log2(scale_factor)``). :func:`infer_model_config` reads the rest off the
    weights.
    """
    base = base if base is not None else ModelConfig()
    vit = replace(
        base.vit,
        num_heads=spec.num_attention_heads,
        qkv_bias=spec.qkv_bias,
        norm_eps=spec.layer_norm_eps,
        activation=spec.activation,  # type: ignore[arg-type]  # a value of HF_ACTIVATIONS
        mlp_ratio=spec.mlp_ratio,
        patch_size=spec.patch_size,
        patch_padding=2,
    )
    head = base.head
    if spec.use_simple_decoder:
        head = replace(head, kind="simple", num_deconv=spec.scale_factor.bit_length() - 1)
    return replace(base, vit=vit, head=head)


def check_hf_weights(spec: HFVitPoseSpec, converted: Mapping[str, Tensor], where: str) -> None:
    """Raise :class:`CheckpointError` naming the config.json field that the converted weights contradict."""

    def fail(field: str, value: object, found: str) -> NoReturn:
        raise CheckpointError(f"{where}: config.json {field} = {value!r} but {found}")

    proj_key = "backbone.patch_embed.proj.weight"
    if proj_key not in converted:
        raise CheckpointError(f"{where}: no backbone.embeddings.patch_embeddings.projection.weight")
    if converted[proj_key].ndim != 4:
        raise CheckpointError(f"{where}: the patch embedding has shape {tuple(converted[proj_key].shape)}")
    width, channels, ph, pw = converted[proj_key].shape  # [C, 3, p, p]
    if width != spec.hidden_size:
        fail("backbone_config.hidden_size", spec.hidden_size, f"the patch embedding has {width} channels")
    if channels != 3:
        fail("backbone_config.num_channels", 3, f"the patch embedding reads {channels} input channels")
    if (ph, pw) != (spec.patch_size, spec.patch_size):
        fail("backbone_config.patch_size", spec.patch_size, f"the patch embedding kernel is {ph}x{pw}")
    layers = {int(m.group(1)) for k in converted if (m := re.match(r"backbone\.blocks\.(\d+)\.", k))}
    if len(layers) != spec.num_hidden_layers:  # their numbering is checked by infer_model_config
        fail("backbone_config.num_hidden_layers", spec.num_hidden_layers, f"the weights hold {len(layers)}")
    fc1 = converted.get("backbone.blocks.0.mlp.fc1.weight")
    if fc1 is not None and fc1.shape[0] != int(spec.hidden_size * spec.mlp_ratio):
        fail(
            "backbone_config.mlp_ratio",
            spec.mlp_ratio,
            f"the MLP is {fc1.shape[0]} wide, not {spec.hidden_size} x it",
        )
    with_bias = sorted(i for i in layers if f"backbone.blocks.{i}.attn.qkv.bias" in converted)
    if spec.qkv_bias and len(with_bias) != len(layers):
        first = min(layers - set(with_bias))
        fail(
            "backbone_config.qkv_bias",
            True,
            f"backbone.encoder.layer.{first}.attention.attention.query.bias is absent",
        )
    if not spec.qkv_bias and with_bias:
        fail(
            "backbone_config.qkv_bias",
            False,
            f"the weights hold backbone.encoder.layer.{with_bias[0]}.attention.attention.query.bias",
        )
    classic = "head.deconv_layers.0.weight" in converted
    if spec.use_simple_decoder == classic:
        found = (
            "the head has deconvolutions (classic decoder)" if classic else "the head has no deconvolutions"
        )
        fail("use_simple_decoder", spec.use_simple_decoder, found)
    final = converted.get("head.final_layer.weight")
    if final is None:
        raise CheckpointError(f"{where}: no head.conv.weight")
    if spec.num_labels is not None and final.shape[0] != spec.num_labels:
        fail("num_labels (id2label)", spec.num_labels, f"head.conv has {final.shape[0]} output channels")
    grid, n = spec.grid, converted["backbone.pos_embed"].shape[1]
    if grid[0] * grid[1] != n:
        raise CheckpointError(
            f"{where}: config.json backbone_config.image_size {list(spec.image_size)} gives a "
            f"{grid[0]}x{grid[1]} grid but position_embeddings hold {n} + 1 tokens"
        )
