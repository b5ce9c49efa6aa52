"""Building blocks of the DreamLite U-Net.

Attribute names follow diffusers' modules (`to_q`, `to_out.0`, `ff.net.0.proj`, `conv1.depthwise`, ...) so that
released checkpoints load with `load_state_dict(strict=True)`; the code itself is this project's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

_ACTIVATIONS = {"silu": nn.SiLU, "swish": nn.SiLU, "mish": nn.Mish, "gelu": nn.GELU, "relu": nn.ReLU}


def activation(name: str | None) -> nn.Module | None:
    return None if name is None else _ACTIVATIONS[name.lower()]()


def maybe_checkpoint(enabled: bool, fn, *args):
    """Run `fn(*args)`; when training with `enabled`, keep no activations and recompute them in backward."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def timestep_embedding(t: torch.Tensor, dim: int, flip_sin_to_cos: bool, freq_shift: float,
                       max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (fractional) scalars, as in DDPM / "Attention is all you need"; float32 (N, dim)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(exponent / (half - freq_shift))
    args = t[:, None].float() * freqs[None, :]
    parts = (torch.cos(args), torch.sin(args)) if flip_sin_to_cos else (torch.sin(args), torch.cos(args))
    emb = torch.cat(parts, dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def in_context_position_code(height: int, width: int, dim: int, device=None, dtype=None) -> torch.Tensor:
    """(height * width, dim) fixed sinusoidal code of each token's place within its half of the in-context
    (target | condition) layout: row and column-within-half, half the channels each. A target token and the
    condition token at the same place in the other half get the same code, so self-attention can look up
    "the same place in the source" without having to learn where it is from the convolutions' zero padding.
    Not part of the published DreamLite U-Net (config `in_context_positions`, off by default). Periods run from 2*pi
    to 100 tokens (not 10,000): a grid holds tens of places, not thousands of words, and this keeps most channels
    telling neighbours apart."""
    half_width = max(width // 2, 1)
    rows = torch.arange(height, device=device).repeat_interleave(width)
    cols = torch.arange(width, device=device).repeat(height) % half_width
    code = torch.cat([timestep_embedding(rows, dim // 2, True, 0, max_period=100.0),
                      timestep_embedding(cols, dim - dim // 2, True, 0, max_period=100.0)], dim=1)
    return code.to(dtype)


class MLPEmbedding(nn.Module):
    """Linear -> activation -> Linear (-> activation): lifts a sinusoidal embedding to the conditioning width."""

    def __init__(self, dim_in: int, dim: int, act: str = "silu", post_act: str | None = None):
        super().__init__()
        self.linear_1 = nn.Linear(dim_in, dim)
        self.act = activation(act)
        self.linear_2 = nn.Linear(dim, dim)
        self.post_act = activation(post_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear_2(self.act(self.linear_1(x)))
        return x if self.post_act is None else self.post_act(x)


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (Zhang & Sennrich, 2019); statistics in float32 for bf16/fp16 inputs."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return x32.to(self.weight.dtype) * self.weight


class SepConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1 convolution without bias (MobileNet, Howard et al. 2017)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResBlock(nn.Module):
    """Time-conditioned residual block (DDPM). With `sep_conv` the two convs are depthwise-separable and the
    block widens to 2x channels in between, an inverted residual as in MobileNetV2."""

    def __init__(self, c_in: int, c_out: int, temb_dim: int, groups: int, eps: float, act: str, dropout: float,
                 sep_conv: bool, output_scale: float = 1.0):
        super().__init__()
        width = 2 * c_out if sep_conv else c_out
        self.output_scale = output_scale
        self.act = activation(act)
        self.norm1 = nn.GroupNorm(groups, c_in, eps=eps)
        self.conv1 = SepConv(c_in, width) if sep_conv else nn.Conv2d(c_in, width, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_dim, width)
        self.norm2 = nn.GroupNorm(groups, width, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = SepConv(width, c_out) if sep_conv else nn.Conv2d(width, c_out, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = self.norm2(h + self.time_emb_proj(self.act(temb))[:, :, None, None])
        h = self.conv2(self.dropout(self.act(h)))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return (skip + h) / self.output_scale


class Attention(nn.Module):
    """Scaled dot-product attention with fewer K/V heads than query heads (grouped-query attention, Ainslie et
    al. 2023; one K/V head = multi-query attention, Shazeer 2019) and optional per-head q/k normalisation."""

    def __init__(self, dim: int, heads: int, kv_heads: int | None, context_dim: int | None = None,
                 qk_norm: str | None = None, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.kv_heads = kv_heads or heads
        self.cross = context_dim is not None  # K/V from the text, not from x
        head_dim = dim // heads
        kv_dim = self.kv_heads * head_dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, kv_dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, kv_dim, bias=False)
        norm = {"rms_norm": RMSNorm, "layer_norm": nn.LayerNorm}.get(qk_norm)
        self.norm_q = norm(head_dim, eps=1e-5) if norm else None
        self.norm_k = norm(head_dim, eps=1e-5) if norm else None
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(dropout)])

    def _queries_keys(self, x: torch.Tensor, context: torch.Tensor | None, position: torch.Tensor | None):
        """(B, N, heads, d) queries and (B, L, kv_heads, d) keys, q/k-normalised; `position` applies to
        self-attention (context None) and is added once, to both."""
        positioned = x if position is None else x + position
        q = self.to_q(positioned).unflatten(-1, (self.heads, -1))
        k = self.to_k(positioned if context is None else context).unflatten(-1, (self.kv_heads, -1))
        if self.norm_q is not None:
            q, k = self.norm_q(q), self.norm_k(k)
        return q, k

    def attention_weights(self, x: torch.Tensor, context: torch.Tensor | None = None,
                          position: torch.Tensor | None = None) -> torch.Tensor:
        """(B, heads, N, L) softmax weights that forward() applies (no bias): for inspection, not the fast path."""
        q, k = self._queries_keys(x, context, position)
        k = k.repeat_interleave(self.heads // self.kv_heads, dim=2)
        return (torch.einsum("bnhd,bmhd->bhnm", q, k) / q.shape[-1] ** 0.5).softmax(-1)

    def fuse_projections(self) -> None:
        """Inference only: compute q/k/v (self-attention) or k/v (cross-attention) with one matmul, and run
        multi-query attention as a single head of N*heads queries (no K/V copies, no transposes). The separate
        weights become views of the fused one, so state_dict() keys and values are unchanged."""
        q, k, v = self.to_q.weight, self.to_k.weight, self.to_v.weight
        self_attention = not self.cross
        fused = torch.cat([q, k, v] if self_attention else [k, v]).detach()
        self.register_buffer("fused_weight", fused, persistent=False)
        parts = fused.split([q.shape[0], k.shape[0], v.shape[0]] if self_attention else [k.shape[0], v.shape[0]])
        for linear, part in zip([self.to_q, self.to_k, self.to_v][-len(parts):], parts):
            linear.weight = nn.Parameter(part, requires_grad=False)
        self.fused = "qkv" if self_attention else "kv"

    def _fused_forward(self, x: torch.Tensor, context: torch.Tensor | None, bias: torch.Tensor | None):
        b, n, dim = x.shape
        kv = self.to_k.out_features
        if self.fused == "qkv" and context is None:
            q, k, v = F.linear(x, self.fused_weight).split([dim, kv, kv], dim=-1)
        else:
            q = self.to_q(x)
            k, v = F.linear(x if context is None else context, self.fused_weight).split([kv, kv], dim=-1)
        q = q.unflatten(-1, (self.heads, -1))
        k, v = k.unflatten(-1, (self.kv_heads, -1)), v.unflatten(-1, (self.kv_heads, -1))
        if self.norm_q is not None:
            q, k = self.norm_q(q), self.norm_k(k)
        g, d = self.kv_heads, q.shape[-1]
        # Every query head of a group reads the same K/V head, so a group is one head of (N * heads/g) queries.
        q = q.reshape(b, n, g, self.heads // g, d).permute(0, 2, 1, 3, 4).reshape(b, g, -1, d)
        out = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2), attn_mask=bias)
        out = out.reshape(b, g, n, self.heads // g, d).permute(0, 2, 1, 3, 4).reshape(b, n, dim)
        return self.to_out[1](self.to_out[0](out))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                bias: torch.Tensor | None = None, position: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, N, dim); context: (B, L, context_dim) or None for self-attention; bias: added to the logits;
        position: (N, dim) added to what queries and keys are computed from (self-attention only), not to values."""
        if getattr(self, "fused", None) and position is None and (context is not None or self.fused == "qkv"):
            return self._fused_forward(x, context, bias)
        q, k = self._queries_keys(x, context, position)
        v = self.to_v(x if context is None else context).unflatten(-1, (self.kv_heads, -1))
        # enable_gqa shares each K/V head across its group of query heads without materialising copies.
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=bias,
                                             enable_gqa=self.kv_heads != self.heads)
        return self.to_out[1](self.to_out[0](out.transpose(1, 2).flatten(2)))


class GEGLU(nn.Module):
    """GELU-gated linear unit (Shazeer, "GLU Variants Improve Transformer", 2020)."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: float, dropout: float = 0.0):
        super().__init__()
        inner = int(dim * mult)
        self.net = nn.ModuleList([GEGLU(dim, inner), nn.Dropout(dropout), nn.Linear(inner, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TransformerBlock(nn.Module):
    """Pre-norm transformer layer: self-attention (unless `self_attention` is False), cross-attention to the text,
    GEGLU feed-forward. `only_cross` makes the first attention read the text too (diffusers' only_cross_attention)."""

    def __init__(self, dim: int, heads: int, kv_heads: int | None, context_dim: int, self_attention: bool,
                 only_cross: bool, qk_norm: str | None, ff_mult: float, dropout: float):
        super().__init__()
        attn = dict(heads=heads, kv_heads=kv_heads, qk_norm=qk_norm, dropout=dropout)
        self.only_cross = only_cross
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn1 = Attention(dim, context_dim=context_dim if only_cross else None, **attn) if self_attention else None
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.attn2 = Attention(dim, context_dim=context_dim, **attn)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.ff = FeedForward(dim, ff_mult, dropout)

    def forward(self, x: torch.Tensor, text: torch.Tensor, text_bias: torch.Tensor | None,
                position: torch.Tensor | None = None) -> torch.Tensor:
        if self.attn1 is None:
            # DreamLite's cross-only layers let norm1's output replace the stream (no residual); the released
            # weights were trained this way.
            x = self.norm1(x)
        else:
            # diffusers gives this attention no text mask even when it reads the text (only_cross); kept for parity.
            x = x + self.attn1(self.norm1(x), text if self.only_cross else None,
                               position=None if self.only_cross else position)
        x = x + self.attn2(self.norm2(x), text, text_bias)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """GroupNorm, project in, transformer layers over the H*W tokens, project out, residual (Stable Diffusion's
    Transformer2DModel, continuous input)."""

    def __init__(self, channels: int, heads: int, depth: int, groups: int, linear_proj: bool,
                 in_context_positions: bool = False, **block):
        super().__init__()
        self.linear_proj = linear_proj
        self.in_context_positions = in_context_positions
        self.gradient_checkpointing = False
        proj = (lambda: nn.Linear(channels, channels)) if linear_proj else (lambda: nn.Conv2d(channels, channels, 1))
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = proj()
        self.transformer_blocks = nn.ModuleList(TransformerBlock(channels, heads, **block) for _ in range(depth))
        self.proj_out = proj()

    def forward(self, x: torch.Tensor, text: torch.Tensor, text_bias: torch.Tensor | None) -> torch.Tensor:
        b, c, height, width = x.shape
        h = self.norm(x)
        to_tokens = lambda t: t.permute(0, 2, 3, 1).reshape(b, height * width, c)  # noqa: E731
        h = self.proj_in(to_tokens(h)) if self.linear_proj else to_tokens(self.proj_in(h))
        position = in_context_position_code(height, width, c, h.device, h.dtype) if self.in_context_positions else None
        for block in self.transformer_blocks:
            h = maybe_checkpoint(self.gradient_checkpointing, block, h, text, text_bias, position)
        # Keep the input's memory format (channels-last in the fast CPU path) rather than copying to NCHW.
        fmt = torch.channels_last if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last) \
            else torch.contiguous_format
        to_map = lambda t: t.reshape(b, height, width, c).permute(0, 3, 1, 2).contiguous(memory_format=fmt)  # noqa: E731
        h = to_map(self.proj_out(h)) if self.linear_proj else self.proj_out(to_map(h))
        return h + x


class Downsample(nn.Module):
    """Stride-2 3x3 convolution; padding 0 pads right/bottom only, as diffusers does."""

    def __init__(self, channels: int, padding: int = 1):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)) if self.padding == 0 else x)


class Upsample(nn.Module):
    """Nearest-neighbour resize to the skip connection's size, then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=tuple(size), mode="nearest"))
