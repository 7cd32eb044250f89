"""The whole estimator: shared ViT backbone per frame -> MLSME -> SMML -> heatmap head (METHOD.md section 2).

Legend: B windows, T frames per window (key frame T // 2), M = B * T frames, N = h * w tokens, C backbone
width, K joints, (H, W) input size, (h, w) token grid, (Hh, Wh) heatmap size (4h, 4w by default),
p patch size.

``temporal = False`` is the single-frame ViTPose baseline (same backbone and head, only the key frame).

    >>> model = build_model(ModelConfig()).eval()
    >>> model(torch.randn(2, 5, 3, 256, 192)).shape
    torch.Size([2, 17, 64, 48])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..errors import ConfigError
from .heads import SimpleHead, build_head
from .masking import patchify
from .mlsme import MLSME
from .smml import build_fusion
from .vit import VisionTransformer, create_vit

__all__ = ["PoseModel", "build_model", "joints_mse_loss"]


def joints_mse_loss(pred: Tensor, target: Tensor, target_weight: Tensor) -> Tensor:
    """ViTPose's JointsMSELoss with target weights: ``0.5 * mean_k mean((w_k pred_k - w_k gt_k)^2)``.

    pred, target: [B, K, Hh, Wh]; target_weight: [B, K] (or [B, K, 1]) -> scalar.
    """
    weight = target_weight.reshape(target_weight.shape[0], target_weight.shape[1], 1, 1).to(pred.dtype)
    return 0.5 * ((pred * weight - target * weight) ** 2).mean()


class PoseModel(nn.Module):
    """Top-down multi-frame pose estimator.

    Attributes: ``backbone`` (:class:`VisionTransformer`), ``head``; when ``cfg.temporal``: ``mlsme``,
    ``smml`` and, with the pose reconstruction loss on, ``motion_head`` (a :class:`SimpleHead` on Fm).

    Args:
        cfg: :class:`vidpose.config.ModelConfig`. ``cfg.init_from`` is not read here: loading weights is the
            job of ``models/weights.py`` and the engine.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.temporal = cfg.temporal
        self.num_frames = cfg.num_frames
        self.key_index = cfg.num_frames // 2
        self._readout = "fused"
        v = cfg.vit
        self.backbone: VisionTransformer = create_vit(
            v.size,
            image_size=tuple(cfg.image_size),
            patch_size=v.patch_size,
            patch_padding=v.patch_padding,
            embed_dim=v.embed_dim,
            depth=v.depth,
            num_heads=v.num_heads,
            mlp_ratio=v.mlp_ratio,
            qkv_bias=v.qkv_bias,
            norm_eps=v.norm_eps,
            activation=v.activation,
            drop_path_rate=v.drop_path_rate,
            grad_checkpointing=v.grad_checkpointing,
        )
        self.grid = self.backbone.grid_size
        C = self.backbone.embed_dim
        self.head = build_head(cfg.head, C, cfg.num_joints)
        if not cfg.temporal:
            return
        if cfg.num_frames < 1:
            raise ConfigError(f"model.num_frames must be >= 1, got {cfg.num_frames}")
        p = v.patch_size
        H, W = cfg.image_size
        if cfg.loss.use_context_recon and (H % p or W % p or (H // p, W // p) != self.grid):
            raise ConfigError(
                f"model.loss.use_context_recon needs model.image_size {tuple(cfg.image_size)} to split into "
                f"{p}x{p} patches on the backbone's {self.grid[0]}x{self.grid[1]} grid"
            )
        self.mlsme = MLSME(
            C, cfg.mlsme, cfg.num_frames, self.grid, p, use_context_head=cfg.loss.use_context_recon
        )
        self.smml = build_fusion(C, cfg.smml, self.grid)
        if cfg.loss.use_pose_recon:
            self.motion_head = SimpleHead(C, cfg.head, cfg.num_joints)

    # ------------------------------------------------------------------------------------------- inference
    def encode_frames(self, frames: Tensor) -> Tensor:
        """frames [M, 3, H, W] -> feats [M, N, C] (the shared per-frame backbone)."""
        return self.backbone.forward_features(frames)

    def decode_window(self, feats: Tensor) -> Tensor:
        """feats [B, T, N, C] (from :meth:`encode_frames`) -> heatmaps [B, K, Hh, Wh]. The inference path:
        call it in eval mode (in training mode the MLSME would mask)."""
        B, T, N, C = feats.shape
        spatial = feats[:, T // 2]
        if not self.temporal:
            return self.head(spatial, self.grid)
        motion = self.mlsme(feats)["motion"]
        if self.readout == "motion":
            return self.motion_head(motion, self.grid)
        return self.head(self.smml(spatial, motion), self.grid)

    @property
    def readout(self) -> str:
        """Which heatmaps inference returns: "fused" (the model's output) or "motion" (the pose
        reconstruction head on Fm alone, a diagnostic of what the motion branch knows by itself)."""
        return self._readout

    @readout.setter
    def readout(self, value: str) -> None:
        if value not in ("fused", "motion"):
            raise ConfigError(f"readout: expected fused or motion, got {value!r}")
        if value == "motion" and not hasattr(self, "motion_head"):
            raise ConfigError("readout motion needs a temporal model trained with model.loss.use_pose_recon")
        self._readout = value

    def _encode_clip(self, clip: Tensor) -> Tensor:
        """clip [B, T, 3, H, W] -> feats [B, T, N, C] (single-frame mode: only the key frame, T' = 1)."""
        B, T = clip.shape[:2]
        if not self.temporal:
            return self.encode_frames(clip[:, T // 2])[:, None]
        if self.num_frames != T:
            raise ConfigError(f"the clip has {T} frames, model.num_frames is {self.num_frames}")
        if self.training and not self.cfg.aux_frame_grad and torch.is_grad_enabled():
            key = self.key_index
            aux = torch.cat([clip[:, :key], clip[:, key + 1 :]], dim=1)
            with torch.no_grad():
                aux_feats = self.encode_frames(aux.flatten(0, 1)).reshape(
                    B, T - 1, -1, self.backbone.embed_dim
                )
            key_feats = self.encode_frames(clip[:, key])[:, None]
            return torch.cat([aux_feats[:, :key], key_feats, aux_feats[:, key:]], dim=1)
        feats = self.encode_frames(clip.flatten(0, 1))
        return feats.reshape(B, T, *feats.shape[1:])

    def forward(self, clip: Tensor, generator: torch.Generator | None = None) -> Tensor | dict[str, Tensor]:
        """clip [B, T, 3, H, W] -> eval: heatmaps [B, K, Hh, Wh]; training: dict with

        - ``heatmaps`` [B, K, Hh, Wh];
        - temporal only: ``motion_heatmaps`` [B, K, Hh, Wh] (pose reconstruction from Fm alone, if enabled),
          ``context_pred`` and ``context_target`` [B, N, p * p * 3] (if enabled; the target is the patchified
          key frame, per-patch normalised if ``loss.norm_pix_target``), ``context_mask`` [B, N] bool.

        ``generator`` drives the MLSME's masking (None = torch's global generator). Single-frame mode accepts
        any T and uses frame T // 2.
        """
        B, T, _, H, W = clip.shape
        feats = self._encode_clip(clip)
        if not self.training:
            return self.decode_window(feats)
        spatial = feats[:, feats.shape[1] // 2]
        if not self.temporal:
            return {"heatmaps": self.head(spatial, self.grid)}

        enc = self.mlsme(feats, generator=generator)
        out = {"heatmaps": self.head(self.smml(spatial, enc["motion"]), self.grid)}
        if self.cfg.loss.use_pose_recon:
            out["motion_heatmaps"] = self.motion_head(enc["motion"], self.grid)
        if self.cfg.loss.use_context_recon:
            out["context_pred"] = enc["context_pred"]
            out["context_target"] = self.context_target(clip[:, self.key_index])
        out["context_mask"] = enc["context_mask"]
        return out

    def context_target(self, images: Tensor) -> Tensor:
        """key frames [B, 3, H, W] -> pixel targets [B, N, p * p * 3], per-patch normalised (zero mean, unit
        variance per patch, as in MAE) if ``cfg.loss.norm_pix_target``."""
        with torch.no_grad():
            target = patchify(images, self.backbone.patch_size)
            if self.cfg.loss.norm_pix_target:
                mean = target.mean(dim=-1, keepdim=True)
                var = target.var(dim=-1, keepdim=True, unbiased=False)
                target = (target - mean) / (var + 1e-6).sqrt()
        return target

    # ------------------------------------------------------------------------------------------- training
    def loss(self, outputs: dict[str, Tensor], target: Tensor, target_weight: Tensor) -> dict[str, Tensor]:
        """Named, already-weighted losses of a training forward; their sum is the objective.

        outputs: :meth:`forward`'s training dict; target: heatmaps [B, K, Hh, Wh]; target_weight: [B, K].
        Returns ``loss_heatmap`` (ViTPose's target-weighted MSE), and when enabled ``loss_pose_recon``
        (``lambda_pose`` x the same on ``motion_heatmaps``) and ``loss_context`` (``lambda_ctx`` x the pixel
        MSE averaged over the key frame's hidden positions; 0 when none is hidden). Uses no parameters.
        """
        lc = self.cfg.loss
        losses = {"loss_heatmap": joints_mse_loss(outputs["heatmaps"], target, target_weight)}
        if self.temporal and lc.use_pose_recon:
            losses["loss_pose_recon"] = lc.lambda_pose * joints_mse_loss(
                outputs["motion_heatmaps"], target, target_weight
            )
        if self.temporal and lc.use_context_recon:
            pred, pix = outputs["context_pred"], outputs["context_target"]
            mask = outputs["context_mask"].to(pred.dtype)  # [B, N]
            per_patch = ((pred - pix.to(pred.dtype)) ** 2).mean(dim=-1)  # [B, N]
            losses["loss_context"] = lc.lambda_ctx * (per_patch * mask).sum() / mask.sum().clamp(min=1.0)
        return losses

    def layer_ids(self) -> dict[str, int]:
        """Layer index of every parameter for layer-wise lr decay: backbone parameters by
        :meth:`VisionTransformer.layer_id` (0 .. depth + 1), every other module depth + 1."""
        top = self.backbone.depth + 1
        ids = {}
        for name, _ in self.named_parameters():
            if name.startswith("backbone."):
                ids[name] = self.backbone.layer_id(name[len("backbone.") :])
            else:
                ids[name] = top
        return ids


def build_model(cfg: ModelConfig, *, init_weights: bool = True) -> PoseModel:
    """The estimator described by ``cfg``, randomly initialised (``models/weights.py`` loads weights).

    ``init_weights=False`` is for a caller that loads every parameter and persistent buffer next (as
    :func:`~vidpose.models.serialization.load_model` does): the model is built on the meta device, given
    uninitialised CPU storage and its fixed, non-persistent buffers (sin-cos position tables) recomputed,
    which skips the random initialisation (most of the time of building a ViT-B or larger on CPU).
    """
    if init_weights:
        return PoseModel(cfg)
    with torch.device("meta"):
        model = PoseModel(cfg)
    model.to_empty(device="cpu")
    for module in model.modules():
        reset = getattr(module, "reset_fixed_buffers", None)
        if callable(reset):
            reset()
    return model
