"""Transformer building blocks shared by the backbone, the MLSME and the SMML.

Legend: B batch, T frames, N tokens per frame (h * w), M context tokens, C channels.
Every block is pre-norm (LayerNorm eps 1e-6 unless told otherwise) with residual connections; attention uses
:func:`torch.nn.functional.scaled_dot_product_attention` (the fused kernel where the device has one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = [
    "LN_EPS",
    "ACTIVATIONS",
    "build_activation",
    "QuickGELU",
    "Mlp",
    "split_heads",
    "Attention",
    "CrossAttention",
    "DropPath",
    "Block",
    "CrossBlock",
    "DividedSpaceTimeBlock",
    "init_transformer_weights",
]

LN_EPS = 1e-6

#: MLP activations by name: ``gelu`` (exact, erf), ``gelu_tanh`` (tanh approximation), ``relu``, ``silu``,
#: ``quick_gelu`` (``x * sigmoid(1.702 x)``).
ACTIVATIONS: tuple[str, ...] = ("gelu", "gelu_tanh", "relu", "silu", "quick_gelu")


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)`` (CLIP's GELU approximation): [...] -> [...]."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


def build_activation(name: str) -> nn.Module:
    """The parameter-free activation module named by one of :data:`ACTIVATIONS`."""
    if name == "gelu":
        return nn.GELU()
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    if name == "silu":
        return nn.SiLU()
    if name == "quick_gelu":
        return QuickGELU()
    raise ConfigError(f"unknown activation {name!r}, expected one of {list(ACTIVATIONS)}")


def init_transformer_weights(module: nn.Module) -> None:
    """timm/ViTPose init (for ``module.apply``): trunc-normal std 0.02 linears, zero biases, LayerNorm 1/0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Mlp(nn.Module):
    """Two linears with an activation (GELU unless told otherwise) between: [..., C] -> [..., C_out]."""

    def __init__(
        self, in_dim: int, hidden_dim: int, out_dim: int | None = None, activation: str = "gelu"
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.act = build_activation(activation)
        self.fc2 = nn.Linear(hidden_dim, out_dim or in_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def split_heads(x: Tensor, parts: int, num_heads: int) -> Tensor:
    """Projected tokens [B, N, parts * C] -> [parts, B, heads, N, C / heads] (``parts`` = 3 for a fused qkv,
    2 for kv, 1 for q)."""
    B, N, _ = x.shape
    return x.reshape(B, N, parts, num_heads, -1).permute(2, 0, 3, 1, 4)


class _MultiHeadAttention(nn.Module):
    """The core :class:`Attention` and :class:`CrossAttention` share: the head count, the width check and
    :meth:`attend` (SDPA over the heads, heads merged, output ``proj``). Subclasses build their input
    projections and then ``proj``, in that order (the order fixes the seeded initialisation)."""

    def __init__(self, dim: int, num_heads: int, what: str) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{what} width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """q [B, heads, N, C / heads], k, v [B, heads, M, C / heads] -> [B, N, C] (after ``proj``)."""
        B, heads, N, D = q.shape
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, heads * D))


class Attention(_MultiHeadAttention):
    """Multi-head self-attention: x [B, N, C] -> [B, N, C]. ``qkv`` is one Linear with bias, as in ViTPose."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__(dim, num_heads, "attention")
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = split_heads(self.qkv(x), 3, self.num_heads).unbind(0)  # each [B, heads, N, C / heads]
        return self.attend(q, k, v)


class CrossAttention(_MultiHeadAttention):
    """Multi-head cross-attention: queries x [B, N, C], keys/values context [B, M, C] -> [B, N, C]."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__(dim, num_heads, "cross-attention")
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        q = split_heads(self.q(x), 1, self.num_heads)[0]  # [B, heads, N, C / heads]
        k, v = split_heads(self.kv(context), 2, self.num_heads).unbind(0)  # each [B, heads, M, C / heads]
        return self.attend(q, k, v)


class DropPath(nn.Module):
    """Stochastic depth: in training, zero the whole residual branch of a sample with probability ``prob``
    (survivors are scaled by 1 / (1 - prob)); identity in eval. x: [B, ...] -> [B, ...]."""

    def __init__(self, prob: float = 0.0) -> None:
        super().__init__()
        self.prob = prob

    def forward(self, x: Tensor) -> Tensor:
        if self.prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"prob={self.prob}"


class Block(nn.Module):
    """Pre-norm transformer block (ViT / ViTPose): x [B, N, C] -> [B, N, C].

    ``x = x + drop_path(attn(norm1(x)))``; ``x = x + drop_path(mlp(norm2(x)))``.
    ``qkv_bias``, ``norm_eps`` (both LayerNorms) and ``activation`` (the MLP's, one of :data:`ACTIVATIONS`)
    default to ViTPose's choices.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        *,
        qkv_bias: bool = True,
        norm_eps: float = LN_EPS,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), activation=activation)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class CrossBlock(nn.Module):
    """Pre-norm cross-attention block: x [B, N, C], context [B, M, C] -> [B, N, C].

    ``x = x + attn(q=norm_q(x), kv=norm_kv(context))``; ``x = x + mlp(norm2(x))``.
    ``zero_init_residual()`` zeroes ``attn.proj`` and ``mlp.fc2`` so that the block is exactly the identity.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim, eps=LN_EPS)
        self.norm_kv = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = CrossAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def zero_init_residual(self) -> None:
        for linear in (self.attn.proj, self.mlp.fc2):
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        B, N, C = x.shape
        x = x + self.attn(self.norm_q(x), self.norm_kv(context))
        return x + self.mlp(self.norm2(x))


class DividedSpaceTimeBlock(nn.Module):
    """Divided space-time attention (TimeSformer style): x [B, T, N, C] -> [B, T, N, C].

    Temporal attention over the T frames of each position, then spatial attention over the N positions of
    each frame, then the MLP; each step is pre-norm and residual.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm_time = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn_time = Attention(dim, num_heads)
        self.norm_space = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn_space = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        B, T, N, C = x.shape
        xt = x.transpose(1, 2).reshape(B * N, T, C)
        xt = xt + self.attn_time(self.norm_time(xt))
        xs = xt.reshape(B, N, T, C).transpose(1, 2).reshape(B * T, N, C)
        xs = xs + self.attn_space(self.norm_space(xs))
        xs = xs + self.mlp(self.norm2(xs))
        return xs.reshape(B, T, N, C)
