"""Typed configuration: frozen dataclasses per component, filled from YAML with strict checking.

Every key in a YAML file must exist in the dataclass it fills (an unknown key is a :class:`ConfigError` with a
suggestion), every value is type-checked, and dotted overrides (``train.lr=1e-4``) go through the same path.

    >>> cfg = load_config("configs/synthetic_nano.yaml", ["train.lr=1e-3"])
    >>> cfg.model.vit.size
    'nano'
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError

__all__ = [
    "ViTConfig",
    "MLSMEConfig",
    "SMMLConfig",
    "HeadConfig",
    "LossConfig",
    "ModelConfig",
    "CodecConfig",
    "AugmentConfig",
    "DataConfig",
    "TrainConfig",
    "EvalConfig",
    "TrackerConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "derive_values",
    "DERIVED_FIELDS",
    "config_to_dict",
    "apply_overrides",
]


# --------------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class ViTConfig:
    """Backbone. ``size`` names a row of ``vidpose.models.vit.VIT_SIZES``; explicit dims override it.

    Args:
        size: nano | tiny | small | base | large | huge.
        embed_dim, depth, num_heads: None = take from the size table.
        mlp_ratio: hidden width of the MLP relative to ``embed_dim``.
        qkv_bias: the attention's qkv projection has a bias (ViTPose: true).
        norm_eps: eps of the backbone's LayerNorms (ViTPose 1e-6; Hugging Face VitPose configs store their
            ``layer_norm_eps``, 1e-12, which ``vidpose convert`` copies here).
        activation: MLP activation: gelu (exact, ViTPose) | gelu_tanh | relu | silu | quick_gelu.
        patch_size, patch_padding: the patch embedding conv (ViTPose uses 16 and 2).
        drop_path_rate: stochastic depth at the last block (linear ramp from 0).
        grad_checkpointing: recompute block activations in backward to save memory.
    """

    size: str = "nano"
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    activation: Literal["gelu", "gelu_tanh", "relu", "silu", "quick_gelu"] = "gelu"
    patch_size: int = 16
    patch_padding: int = 2
    drop_path_rate: float = 0.1
    grad_checkpointing: bool = False


@dataclass(frozen=True)
class MLSMEConfig:
    """Multi-Level Semantic Motion Encoder (METHOD.md section 2.2).

    Args:
        dim: token width D of the encoder (``Linear(C -> D)`` projection).
        num_heads: attention heads of the encoder blocks.
        mlp_ratio: MLP width relative to ``dim``.
        patch_layers: L_p, blocks of the patch-level encoder (alternating joint and divided space-time
            attention).
        frame_layers: L_f, blocks of the frame-level encoder (joint space-time attention).
        use_cube_mask: cube (tube) masking of the input tokens in training.
        cube_mask_ratio: rho_p, fraction of spatial positions masked.
        cube_size: (t, h, w) tokens per masked cube; t = 0 masks the position in all T frames (a tube).
        use_frame_mask: frame masking of the patch-level encoder's output in training.
        frame_mask_count: k, frames whose tokens are all replaced by the frame mask token.
        key_frame_mask_prob: probability that the key frame is one of the k masked frames.
        motion_pool: "key" = the key frame's slot; "key_plus_pool" = key slot + learned attention pooling
            over T.
    """

    dim: int = 192
    num_heads: int = 4
    mlp_ratio: float = 4.0
    patch_layers: int = 2
    frame_layers: int = 1
    use_cube_mask: bool = True
    cube_mask_ratio: float = 0.5
    cube_size: tuple[int, int, int] = (0, 2, 2)
    use_frame_mask: bool = True
    frame_mask_count: int = 1
    key_frame_mask_prob: float = 0.3
    motion_pool: Literal["key", "key_plus_pool"] = "key_plus_pool"


@dataclass(frozen=True)
class SMMLConfig:
    """Spatial-Motion Mutual Learning and the fusion ablations (METHOD.md sections 2.3 and 4).

    Args:
        fusion: smml (cross-attention + pixel-wise weights) | concat | sum | cross_attention (no gate).
        num_layers: bidirectional cross-attention layers.
        num_heads: heads of the cross-attention.
        mlp_ratio: FFN width relative to the backbone width C.
        per_channel_weights: the fusion weight W has C channels instead of 1.
        gate_kernel: kernel of the conv that predicts W from [Fs'; Fm'].
        gate_init_bias: initial bias of that conv; sigmoid(bias) is W at step 0 (0 = even; the zero-init
            scale gamma, not this bias, makes the fused output equal the spatial branch at step 0).
        fusion_scale_init: initial value of the learnable per-channel scale gamma in
            ``Ffuse = Fs' + gamma * (1 - W) * (Fm' - Fs')`` (smml) and ``Fs + gamma * Fm`` (sum). 0 makes
            the fused output equal Fs exactly at step 0 (a converted ViTPose reproduces its heatmaps);
            1 is the paper's formula.
    """

    fusion: Literal["smml", "concat", "sum", "cross_attention"] = "smml"
    num_layers: int = 1
    num_heads: int = 4
    mlp_ratio: float = 2.0
    per_channel_weights: bool = False
    gate_kernel: int = 3
    gate_init_bias: float = 0.0
    fusion_scale_init: float = 0.0


@dataclass(frozen=True)
class HeadConfig:
    """Heatmap head: ViTPose's classic (2 deconvs) or simple (bilinear x4 + conv) decoder.

    Args:
        kind: classic | simple.
        deconv_channels: channels of the classic head's deconvolutions.
        num_deconv: classic: number of stride-2 deconvolutions; simple: upsamples by 2 ** num_deconv in one
            bilinear step. Either way the heatmaps are 2 ** num_deconv times the token grid.
        final_kernel: kernel of the last conv; None = ViTPose's choice for the kind (classic 1, simple 3).
    """

    kind: Literal["classic", "simple"] = "classic"
    deconv_channels: int = 256
    num_deconv: int = 2
    final_kernel: int | None = None


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (METHOD.md section 3).

    ``L = MSE_w(final) + lambda_pose * MSE_w(motion) + lambda_ctx * MSE(context on masked positions)``.
    """

    use_pose_recon: bool = True
    use_context_recon: bool = True
    lambda_pose: float = 1.0
    lambda_ctx: float = 1e-3
    norm_pix_target: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """The whole estimator. ``temporal = False`` is the single-frame ViTPose baseline (backbone + head).

    ``aux_frame_grad = False`` is a training-speed switch: the backbone runs on the auxiliary frames without
    autograd (no activations kept, no backward through them), so only the key frame trains the backbone while
    the MLSME and SMML still train on every frame's features. Inference is unaffected.

    ``num_frames`` follows ``len(data.frame_offsets)`` when a recipe leaves it out (:data:`DERIVED_FIELDS`).
    """

    temporal: bool = True
    num_frames: int = 5
    aux_frame_grad: bool = True
    num_joints: int = 17
    image_size: tuple[int, int] = (256, 192)
    vit: ViTConfig = field(default_factory=ViTConfig)
    mlsme: MLSMEConfig = field(default_factory=MLSMEConfig)
    smml: SMMLConfig = field(default_factory=SMMLConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    init_from: str | None = None


# --------------------------------------------------------------------------------------------------- codec
@dataclass(frozen=True)
class CodecConfig:
    """Heatmap codec. Sizes are (H, W); ``input_size / heatmap_size`` is the stride.

    ``input_size`` follows ``model.image_size`` when a recipe leaves it out (:data:`DERIVED_FIELDS`);
    ``heatmap_size`` must be the head's output size (checked by :func:`validate`).
    """

    input_size: tuple[int, int] = (256, 192)
    heatmap_size: tuple[int, int] = (64, 48)
    sigma: float = 2.0
    decode: Literal["shift", "dark"] = "shift"
    dark_kernel: int = 11


# --------------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation, identical for every frame of a window (METHOD.md section 3).

    Args:
        flip_prob: probability of a horizontal flip (left/right joints swapped).
        scale_sigma: crop scale factor ``clip(1 + N(0, sigma), 1 - sigma, 1 + sigma)``.
        rot_sigma, rot_prob, rot_clip: rotation ``clip(N(0, rot_sigma), -rot_clip, rot_clip)`` degrees,
            applied with probability ``rot_prob``.
        half_body_prob: probability of cropping the upper or lower body only.
        half_body_min_joints: visible joints needed for the half-body crop.
        half_body_padding: enlargement of the half-body extent (MMPose uses 1.5).
        color_jitter: brightness, contrast and saturation factors drawn in [1 - x, 1 + x]; 0 disables.
        key_frame_drop_prob: probability that a training window's key frame is replaced by a black image
            (the labels stay): a design choice beyond METHOD.md that shows the fusion what a lost key frame
            looks like, so that it learns to fall back on the motion feature. 0 (the default) disables.
        key_frame_occlude_prob: probability that an occluder (a textured rectangle covering 10-35 % of the
            crop, :func:`vidpose.data.corruptions.occlude`) is pasted on the key frame's crop only: a design
            choice beyond METHOD.md, the partial version of ``key_frame_drop_prob``.
        key_frame_blur_prob: probability of a linear motion blur of the key frame's crop only
            (:func:`vidpose.data.corruptions.motion_blur`).
    """

    flip_prob: float = 0.5
    scale_sigma: float = 0.35
    rot_sigma: float = 45.0
    rot_prob: float = 0.6
    rot_clip: float = 90.0
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    half_body_padding: float = 1.5
    color_jitter: float = 0.2
    key_frame_drop_prob: float = 0.0
    key_frame_occlude_prob: float = 0.0
    key_frame_blur_prob: float = 0.0


@dataclass(frozen=True)
class DataConfig:
    """Dataset, windows and boxes.

    Args:
        format: pt17 | pt18 | pt21 (the synthetic benchmark is written in the pt18 layout).
        root: dataset root; images are looked up as ``root / file_name``.
        train_ann, val_ann: folder of per-sequence JSON files (or one JSON), relative to ``root``.
        val_boxes: "gt" or a detection file (PoseWarper/DCPose or COCO format), relative to ``root``.
        box_score_thr: detections below this score are dropped.
        frame_offsets: offsets of the window's frames from the key frame; 0 must be the middle one.
        resample_offsets: in training, draw each auxiliary offset uniformly in [1, |offset|] per item.
        min_joints: persons with fewer labelled joints are skipped in training.
        bbox_scale: box enlargement before cropping.
        gt_box_margin: persons without a box (PoseTrack17) get the extent of their keypoints and head box,
            enlarged by this fraction of its width / height on every side.
        mean, std: image normalisation (RGB, 0..1 scale).
        num_workers: data loader workers.
        frame_cache: decoded frames kept per data loader worker (0 disables; a 1920x1080 frame is ~6 MB).
        key_frame: the key-frame corruption probe of evaluation: "clean" (as recorded), "black" (the key
            frame of every window replaced by a black image) or "neighbour" (replaced by the next frame of the
            sequence, the previous one at its end). The auxiliary frames and the labels stay as they are, so
            a single-frame model cannot recover what a temporal model may infer from the neighbours.
            Evaluation only: training windows always use the recorded key frame.
        crop_hold: cut every window (training and evaluation) with the crop that ``predict --share`` holds
            for its person (a :class:`~vidpose.inference.crops.CropStabilizer` run over the sequence's boxes
            with ``eval.crop_hold_margin`` / ``eval.crop_hold_scale_tol``) instead of the key frame's own
            crop. A model trained so is shown the crops whose backbone features inference shares: with it
            ``predict`` shares by default and gives exactly what ``evaluate`` gives.
    """

    format: Literal["pt17", "pt18", "pt21"] = "pt18"
    root: str = "data/synthetic"
    train_ann: str = "train/annotations"
    val_ann: str = "val/annotations"
    val_boxes: str = "gt"
    box_score_thr: float = 0.2
    frame_offsets: tuple[int, ...] = (-2, -1, 0, 1, 2)
    resample_offsets: bool = False
    min_joints: int = 3
    bbox_scale: float = 1.25
    gt_box_margin: float = 0.15
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    num_workers: int = 0
    frame_cache: int = 16
    key_frame: Literal["clean", "black", "neighbour"] = "clean"
    crop_hold: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)


# -------------------------------------------------------------------------------------------- train / eval
@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping.

    Args:
        epochs: passes over the training windows; ``max_steps`` > 0 stops earlier.
        batch_size: windows per step per process.
        lr: base learning rate of new modules; the backbone gets ``lr * layer_decay ** (depth - layer_id)``.
        schedule: "step" (x ``gamma`` at each epoch of ``milestones``) or "cosine", after ``warmup_steps``.
        amp: autocast; ``amp_dtype`` bfloat16 (CPU and CUDA) or float16 (CUDA, with a grad scaler).
        ema_decay: 0 disables the exponential moving average of the weights.
        out_dir: checkpoints (``last.pt``, ``best.pt``), ``log.jsonl`` and TensorBoard events (``tb/``).
        max_steps: > 0 stops after this many optimiser steps (and sets the cosine schedule's length).
        backbone_lr_scale: extra lr factor of every backbone parameter (on top of the layer decay).
        fusion_lr_scale: extra lr factor of the SMML fusion's scale ``gamma`` and gate (and of the "sum"
            fusion's ``gamma``). Both start at values that make the fusion an identity; AdamW moves a
            parameter by at most about ``lr`` per step, so at ``lr`` 5e-4 a zero-initialised ``gamma``
            cannot reach the order of 1 in a few hundred steps. 1 (the default): the plain ``lr``.
        temporal_lr_scale: extra lr factor of the temporal modules that start from scratch when a
            single-frame checkpoint initialises a temporal model: the MLSME, the motion head and SMML's
            cross-attention layers (the fusion's scale and gate take ``fusion_lr_scale``). 1 (the default):
            the plain ``lr``.
        lr_mult: (fnmatch pattern over parameter names, factor) pairs, e.g. ``[["mlsme.*", 10]]``: an extra
            lr factor for the parameters a pattern matches (the first matching pair wins, and these pairs
            come before ``fusion_lr_scale`` and ``temporal_lr_scale``). A pattern that matches no trainable
            parameter is an error.
        lr_hold: (fnmatch pattern over parameter names, steps) pairs, e.g. ``[["smml.gate.*", 150]]``: the
            parameters a pattern matches keep their initial values (lr 0) for the first ``steps`` optimiser
            steps, then follow the schedule (the first matching pair wins). Used to hold SMML's gate at its
            initial W = 0.5 while the fusion's scale and the motion branch learn. A pattern that matches no
            trainable parameter is an error.
        betas: AdamW betas.
        warmup_ratio: lr factor at step 0 of the linear warm-up (reaches 1 at ``warmup_steps``).
        min_lr_ratio: cosine schedule's final lr factor.
        accum_steps: micro-batches per optimiser step (gradient accumulation; DDP syncs only on the last).
        grad_clip: max global gradient norm; 0 disables clipping.
        seed: seeds the data order, the per-batch augmentation seeds and the global generators.
        device: "auto" (cuda if available) | "cpu" | "cuda" | "cuda:<index>".
        log_every: steps between logged (rank-averaged) loss records; 0 = only at epoch ends.
        val_every_epochs: epochs between evaluations during training (and at the end); 0 = only at the end.
        ckpt_every_steps: steps between ``last`` checkpoints (epoch ends always write one); 0 = none more.
    """

    out_dir: str = "runs/default"
    epochs: int = 20
    max_steps: int = 0
    batch_size: int = 32
    lr: float = 5e-4
    backbone_lr_scale: float = 1.0
    fusion_lr_scale: float = 1.0
    temporal_lr_scale: float = 1.0
    lr_mult: tuple[tuple[str, float], ...] = ()
    lr_hold: tuple[tuple[str, int], ...] = ()
    layer_decay: float = 0.75
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 500
    warmup_ratio: float = 0.001
    schedule: Literal["step", "cosine"] = "step"
    milestones: tuple[int, ...] = (16,)
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    accum_steps: int = 1
    grad_clip: float = 1.0
    amp: bool = False
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    ema_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    log_every: int = 20
    val_every_epochs: int = 1
    ckpt_every_steps: int = 0


@dataclass(frozen=True)
class EvalConfig:
    """Inference settings shared by ``evaluate``, validation during training and ``predict``.

    Args:
        flip_test: average the heatmaps of the window and of its mirror image (left/right joints swapped).
        batch_size: windows per model call.
        joint_score_thr: joints scoring at or below this are written as undetected in prediction files.
        crop_hold_margin: ``predict`` with shared per-frame features: a person's crop box is held from frame
            to frame while the person's box stays inside it with this margin (a fraction of the crop's width
            and height on every side); otherwise the crop is re-centred on the new box.
        crop_hold_scale_tol: the held crop is also re-centred when the crop the new box would get differs in
            size from it by more than this fraction.
        precision: autocast of the model in evaluation and prediction: float32 | bfloat16 | float16
            (float16 on CUDA); independent of ``train.amp``.
    """

    flip_test: bool = True
    batch_size: int = 32
    joint_score_thr: float = 0.0
    crop_hold_margin: float = 0.05
    crop_hold_scale_tol: float = 0.15
    precision: Literal["float32", "bfloat16", "float16"] = "float32"


@dataclass(frozen=True)
class TrackerConfig:
    """Online pose tracker of ``predict`` (``vidpose.inference.tracker.PoseTracker``).

    Args:
        iou_weight: weight of box IoU in the match similarity.
        oks_weight: weight of keypoint OKS in the match similarity; the similarity is the weighted mean of the
            two, or IoU alone for a pair without confident joints in common.
        min_similarity: gate: a track and a detection with a lower similarity are never matched.
        min_hits: consecutive matched frames before a tentative track gets a confirmed id (1 = at once).
        max_age: missed frames after which a confirmed track is deleted (a tentative one dies at its first
            miss).
        box_smoothing: exponential smoothing of the track box: weight of the motion prediction against the new
            detection (0 = take the detection as is).
        velocity_smoothing: momentum of the per-frame box velocity (0 = the last displacement only).
        keypoint_thr: joints scoring at or below this are ignored by OKS and by keypoint boxes.
        keypoint_box_scale: enlargement of the box around the confident joints that ``predict_box`` returns.
        min_keypoints: confident joints needed for a keypoint box; with fewer, ``predict_box`` moves the
            smoothed box at constant velocity.
    """

    iou_weight: float = 0.5
    oks_weight: float = 0.5
    min_similarity: float = 0.2
    min_hits: int = 3
    max_age: int = 30
    box_smoothing: float = 0.3
    velocity_smoothing: float = 0.5
    keypoint_thr: float = 0.3
    keypoint_box_scale: float = 1.2
    min_keypoints: int = 4


@dataclass(frozen=True)
class Config:
    """The whole recipe: one YAML file fills this."""

    name: str = "default"
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


# --------------------------------------------------------------------------------------------------- loading
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples, ints to floats."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {_type_name(tp)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)} ({value!r})")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")  # pragma: no cover - internal


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" ({'.'.join(filter(None, [where, close[0]]))}?)" if close else ""
            raise ConfigError(f"unknown key {path}{hint}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


#: Facts a recipe states once: (derived field, its home, the derived value from the home's value). A recipe
#: gives the home; the derived field follows it. A config that gives both (a run's saved ``config.yaml``, the
#: config embedded in a model file) must give them equal.
DERIVED_FIELDS: tuple[tuple[str, str, typing.Callable[[Any], Any]], ...] = (
    ("codec.input_size", "model.image_size", lambda size: list(size)),
    ("model.num_frames", "data.frame_offsets", len),
)


def _get(data: dict[str, Any], dotted: str) -> Any:
    """``data[a][b]`` for ``"a.b"``, or the dataclass default when a level is absent (a non-mapping level
    gives :data:`dataclasses.MISSING`; building the config reports it)."""
    section, key = dotted.split(".")
    node = data.get(section, {})
    if not isinstance(node, dict):
        return dataclasses.MISSING
    if key in node:
        return node[key]
    cls = typing.get_type_hints(Config)[section]
    return getattr(cls(), key)


def derive_values(data: dict[str, Any]) -> dict[str, Any]:
    """Plain config data with every field of :data:`DERIVED_FIELDS` filled from its home (a new dict).

    A derived field given beside its home must equal what the home gives, else :class:`ConfigError`:
    ``codec.input_size [128, 96] disagrees with model.image_size [256, 192] (it follows model.image_size: drop
    it)``."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for derived, home, rule in DERIVED_FIELDS:
        home_value = _get(out, home)
        if not isinstance(home_value, (list, tuple)):
            continue  # malformed or absent: building the config names the problem
        value = rule(home_value)
        section, key = derived.split(".")
        node = out.setdefault(section, {})
        if not isinstance(node, dict):
            continue
        if key in node:
            given = node[key]
            if (list(given) if isinstance(given, (list, tuple)) else given) != value:
                raise ConfigError(
                    f"{derived} {given!r} disagrees with {home} {list(home_value)!r} (it follows {home}: "
                    "drop it)"
                )
        else:
            node[key] = value
    return out


def config_from_dict(data: dict[str, Any], cls: type = Config) -> Any:
    """Build a (nested) config dataclass from plain data, strictly; for :class:`Config`, the fields of
    :data:`DERIVED_FIELDS` are derived from their homes first (:func:`derive_values`)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping, got {type(data).__name__}")
    if cls is Config:
        data = derive_values(data)
    return _build(cls, data, "")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain, YAML/JSON-safe data (tuples become lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to nested plain data; returns a new dict."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"command-line override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"command-line override {item!r}: cannot parse value: {problem}") from None
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"command-line override {item!r}: {p} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _yaml_error_line(path: Path, e: yaml.YAMLError) -> str:
    """One line ``file:line:column: problem`` for a PyYAML error (PyYAML's own message spans lines)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(e, "problem", None) or getattr(e, "context", None) or str(e).splitlines()[0]
    return f"{where}: invalid YAML: {problem}"


def _read_yaml(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """Read one YAML recipe with its bases merged in.

    A top-level ``_base_`` names one file or a list of files, relative to this file. The bases are read
    (each with its own ``_base_``) and merged left to right, a later base winning over an earlier one, then
    this file's own keys are merged over the result; merging is section by section (nested mappings merge,
    any other value, a list included, replaces)."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: _base_ cycle through {[str(p) for p in seen]}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_error_line(path, e)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{path}: cannot read the config file: {getattr(e, 'strerror', None) or e}"
        ) from None
    if data is None:
        raise ConfigError(f"{path}: the recipe is empty; write at least a name and the sections it changes")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    base = data.pop("_base_", None)
    if base is None:
        return data
    bases = [base] if isinstance(base, str) else base
    if not isinstance(bases, list) or not bases or not all(isinstance(b, str) for b in bases):
        raise ConfigError(
            f"{path}: _base_ must be a file name or a non-empty list of file names, got {base!r}"
        )
    merged: dict[str, Any] = {}
    for name in bases:
        merged = _merge(merged, _read_yaml(path.parent / name, seen + (path.resolve(),)))
    return _merge(merged, data)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML recipe (None = all defaults; ``_base_`` inheritance), apply dotted overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder, expected a YAML recipe file")
        data = _read_yaml(path, seen=())
        try:  # the file alone first, so that a bad key is blamed on the file ...
            config_from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    for item in overrides:  # ... and a bad override on the command line, naming it
        try:
            _build(Config, apply_overrides(data, [item]), "")
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(
                msg if msg.startswith("command-line") else f"command-line override {item!r}: {msg}"
            ) from None
    try:  # each override alone is well typed; together they may still contradict a derived field
        cfg = config_from_dict(apply_overrides(data, overrides))
    except ConfigError as e:
        raise ConfigError(f"command-line overrides {list(overrides)}: {e}") from None
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks that a single type cannot express."""
    m, c, d, t = cfg.model, cfg.codec, cfg.data, cfg.train
    for key, value, low in (
        ("train.epochs", t.epochs, 1),
        ("train.batch_size", t.batch_size, 1),
        ("train.accum_steps", t.accum_steps, 1),
        ("train.max_steps", t.max_steps, 0),
        ("train.warmup_steps", t.warmup_steps, 0),
        ("train.log_every", t.log_every, 0),
        ("train.val_every_epochs", t.val_every_epochs, 0),
        ("train.ckpt_every_steps", t.ckpt_every_steps, 0),
        ("eval.batch_size", cfg.eval.batch_size, 1),
        ("model.num_frames", m.num_frames, 1),
        ("model.num_joints", m.num_joints, 1),
        ("data.num_workers", d.num_workers, 0),
        ("data.frame_cache", d.frame_cache, 0),
    ):
        if value < low:
            raise ConfigError(f"{key} must be >= {low}, got {value}")
    if m.num_frames % 2 != 1:
        raise ConfigError(
            f"model.num_frames must be odd (the key frame sits in the middle), got {m.num_frames}"
        )
    if not t.lr > 0.0:
        raise ConfigError(f"train.lr must be > 0, got {t.lr}")
    if not c.sigma > 0.0:
        raise ConfigError(f"codec.sigma must be > 0, got {c.sigma}")
    for key, value in (("train.grad_clip", t.grad_clip), ("train.weight_decay", t.weight_decay)):
        if value < 0.0:
            raise ConfigError(f"{key} must be >= 0, got {value}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    for key, value in (("fusion_lr_scale", t.fusion_lr_scale), ("temporal_lr_scale", t.temporal_lr_scale)):
        if not value > 0.0:
            raise ConfigError(f"train.{key} must be > 0, got {value}")
    for i, (pattern, factor) in enumerate(t.lr_mult):
        if not factor > 0.0:
            raise ConfigError(f"train.lr_mult[{i}]: the factor of {pattern!r} must be > 0, got {factor}")
    for i, (pattern, steps) in enumerate(t.lr_hold):
        if steps < 0:
            raise ConfigError(f"train.lr_hold[{i}]: the steps of {pattern!r} must be >= 0, got {steps}")
    for f in dataclasses.fields(d.augment):
        value = getattr(d.augment, f.name)
        if f.name.endswith("_prob") and not 0.0 <= value <= 1.0:
            raise ConfigError(f"data.augment.{f.name} must be in [0, 1], got {value}")
    if not 0.0 < m.vit.norm_eps < 1.0:
        raise ConfigError(f"model.vit.norm_eps must be in (0, 1), got {m.vit.norm_eps}")
    if not m.vit.mlp_ratio > 0.0:
        raise ConfigError(f"model.vit.mlp_ratio must be > 0, got {m.vit.mlp_ratio}")
    if tuple(m.image_size) != tuple(c.input_size):
        raise ConfigError(f"model.image_size {m.image_size} must equal codec.input_size {c.input_size}")
    from .models.heads import head_output_size  # the model's rule, once (models import this module)

    out = head_output_size(m)
    scale = 2**m.head.num_deconv
    h, w = out[0] // scale, out[1] // scale
    if tuple(c.heatmap_size) != out:
        raise ConfigError(
            f"codec.heatmap_size {list(c.heatmap_size)} does not match the head's output "
            f"{list(out)}: model.image_size {list(m.image_size)} in patches of "
            f"model.vit.patch_size {m.vit.patch_size} (padding {m.vit.patch_padding}) is a {h}x{w} grid, "
            f"upsampled x{scale} by model.head.num_deconv {m.head.num_deconv}"
        )
    if len(d.frame_offsets) != m.num_frames:
        raise ConfigError(
            f"data.frame_offsets has {len(d.frame_offsets)} entries, model.num_frames is {m.num_frames}"
        )
    if d.frame_offsets[m.num_frames // 2] != 0:
        raise ConfigError(f"data.frame_offsets {d.frame_offsets}: the middle entry (the key frame) must be 0")
    if not 0.0 <= m.mlsme.cube_mask_ratio < 1.0:
        raise ConfigError(f"model.mlsme.cube_mask_ratio must be in [0, 1), got {m.mlsme.cube_mask_ratio}")
    if not 0 <= m.mlsme.frame_mask_count < m.num_frames:
        raise ConfigError(
            f"model.mlsme.frame_mask_count must be in [0, num_frames), got {m.mlsme.frame_mask_count}"
        )
