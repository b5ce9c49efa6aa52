"""The DreamLite U-Net: a 0.39B mobile text-conditioned diffusion U-Net (DreamLite, ByteDance 2026).

A Stable-Diffusion-style U-Net slimmed for phones: depthwise-separable resnets, grouped-query attention with
RMSNorm on q/k, cross-attention-only transformer layers at the high-resolution levels, text features projected
by Linear + RMSNorm, and the target size (width, height) added to the timestep embedding. It predicts the flow
velocity for the in-context input `cat([noisy_target, condition], dim=-1)`; it knows nothing about schedules.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import DOWN_BLOCKS, UP_BLOCKS, UNetConfig
from .layers import (
    Downsample,
    MLPEmbedding,
    ResBlock,
    RMSNorm,
    SpatialTransformer,
    Upsample,
    activation,
    maybe_checkpoint,
    timestep_embedding,
)


class DownBlock(nn.Module):
    """One encoder level: (resnet, optional transformer) per layer, then a stride-2 conv except at the bottom.
    Returns every intermediate map for the skip connections."""

    def __init__(self, resnets: list[ResBlock], attentions: list[SpatialTransformer] | None,
                 downsample: Downsample | None):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(attentions) if attentions else None
        self.downsamplers = nn.ModuleList([downsample]) if downsample else None
        self.gradient_checkpointing = False

    def forward(self, x, temb, text, text_bias):
        skips = []
        for i, resnet in enumerate(self.resnets):
            x = maybe_checkpoint(self.gradient_checkpointing, resnet, x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x, text, text_bias)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class MidBlock(nn.Module):
    """Bottleneck: resnet, then (transformer, resnet) per mid layer."""

    def __init__(self, resnets: list[ResBlock], attentions: list[SpatialTransformer]):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(attentions)
        self.gradient_checkpointing = False

    def forward(self, x, temb, text, text_bias):
        x = maybe_checkpoint(self.gradient_checkpointing, self.resnets[0], x, temb)
        for attn, resnet in zip(self.attentions, self.resnets[1:]):
            x = maybe_checkpoint(self.gradient_checkpointing, resnet, attn(x, text, text_bias), temb)
        return x


class UpBlock(nn.Module):
    """One decoder level: per layer, concatenate a skip, resnet, optional transformer; then upsample."""

    def __init__(self, resnets: list[ResBlock], attentions: list[SpatialTransformer] | None,
                 upsample: Upsample | None):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(attentions) if attentions else None
        self.upsamplers = nn.ModuleList([upsample]) if upsample else None
        self.gradient_checkpointing = False

    def forward(self, x, skips, temb, text, text_bias, size):
        for i, resnet in enumerate(self.resnets):
            x = torch.cat([x, skips[i]], dim=1)
            x = maybe_checkpoint(self.gradient_checkpointing, resnet, x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x, text, text_bias)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, size)
        return x


class DreamLiteUNet(nn.Module):
    """DreamLite U-Net; `state_dict()` keys equal diffusers' `DreamLiteUNetModel` for the same config."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        c = self.config = config
        ch, n = c.block_out_channels, c.num_levels
        self._checkpointing = False

        self.conv_in = nn.Conv2d(c.in_channels, ch[0], c.conv_in_kernel, padding=c.conv_in_kernel // 2)
        self.time_embedding = MLPEmbedding(ch[0], c.time_embed_dim, c.act_fn, c.timestep_post_act)
        if c.addition_embed_type == "time":
            self.add_embedding = MLPEmbedding(c.projection_class_embeddings_input_dim, c.time_embed_dim)
        if c.encoder_hid_dim_type == "text_proj":
            self.encoder_hid_proj = nn.Linear(c.encoder_hid_dim, c.cross_attention_dim)
        elif c.encoder_hid_dim_type == "text_proj_rms":
            self.encoder_hid_proj = nn.Sequential(
                nn.Linear(c.encoder_hid_dim, c.cross_attention_dim), RMSNorm(c.cross_attention_dim, eps=1e-5)
            )
        else:
            self.encoder_hid_proj = None
        self.time_embed_act = activation(c.time_embedding_act_fn)

        heads, cross_dims = c.per_level("attention_head_dim"), c.per_level("cross_attention_dim")
        layers, only_cross = c.per_level("layers_per_block"), c.per_level("only_cross_attention")
        depths = c.per_level("transformer_layers_per_block")
        up_depths = list(c.reverse_transformer_layers_per_block or reversed(depths))

        self.down_blocks = nn.ModuleList()
        for i, kind in enumerate(c.down_block_types):
            c_in, c_out = ch[max(i - 1, 0)], ch[i]
            attention = DOWN_BLOCKS[kind]
            resnets = [self._resnet(c_in if j == 0 else c_out, c_out) for j in range(layers[i])]
            attns = [self._transformer(c_out, heads[i], _nth(depths[i], j), attention, only_cross[i], cross_dims[i])
                     for j in range(layers[i])] if attention else None
            down = Downsample(c_out, c.downsample_padding) if i < n - 1 else None
            self.down_blocks.append(DownBlock(resnets, attns, down))

        self.mid_block = None
        if c.mid_block_type is not None:
            resnets = [self._resnet(ch[-1], ch[-1], c.mid_block_scale_factor) for _ in range(c.num_mid_layers + 1)]
            attns = [self._transformer(ch[-1], heads[-1], _nth(depths[-1], j), "full", False, cross_dims[-1])
                     for j in range(c.num_mid_layers)]
            self.mid_block = MidBlock(resnets, attns)

        self.up_blocks = nn.ModuleList()
        for i, kind in enumerate(c.up_block_types):
            level = n - 1 - i  # the encoder level whose skips this block consumes
            c_prev, c_out, c_skip = ch[min(level + 1, n - 1)], ch[level], ch[max(level - 1, 0)]
            attention, num = UP_BLOCKS[kind], layers[level] + 1
            # Layer 0 reads the deeper level's output; the last layer's skip is the shallower level's output.
            resnets = [self._resnet((c_prev if j == 0 else c_out) + (c_skip if j == num - 1 else c_out), c_out)
                       for j in range(num)]
            attns = [self._transformer(c_out, heads[level], _nth(up_depths[i], j), attention, only_cross[level],
                                       cross_dims[level]) for j in range(num)] if attention else None
            self.up_blocks.append(UpBlock(resnets, attns, Upsample(c_out) if level > 0 else None))

        self.conv_norm_out = nn.GroupNorm(c.norm_num_groups, ch[0], eps=c.norm_eps)
        self.conv_act = activation(c.act_fn)
        self.conv_out = nn.Conv2d(ch[0], c.out_channels, c.conv_out_kernel, padding=c.conv_out_kernel // 2)

    def _resnet(self, c_in: int, c_out: int, output_scale: float = 1.0) -> ResBlock:
        c = self.config
        return ResBlock(c_in, c_out, c.time_embed_dim, c.norm_num_groups, c.norm_eps, c.act_fn, c.dropout,
                        c.use_sep_conv, output_scale)

    def _transformer(self, channels: int, heads: int, depth: int, attention: str, only_cross: bool,
                     context_dim: int) -> SpatialTransformer:
        c = self.config
        return SpatialTransformer(
            channels, heads, depth, c.norm_num_groups, c.use_linear_projection, kv_heads=c.num_kv_heads,
            context_dim=context_dim, self_attention=attention == "full", only_cross=only_cross, qk_norm=c.qk_norm,
            ff_mult=c.ff_mult, dropout=c.dropout, in_context_positions=c.in_context_positions,
        )

    # ---- forward --------------------------------------------------------------------------------------------
    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float, encoder_hidden_states: torch.Tensor,
                encoder_attention_mask: torch.Tensor | None = None,
                time_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Predict the model output for `sample`.

        sample: (B, C, H, W) latents; timestep: scalar or (B,), sigma * 1000; encoder_hidden_states: (B, L, D)
        text features; encoder_attention_mask: (B, L), 1 = attend, 0 = padding; time_ids: (B, 2) target
        (width, height) in pixels when the config has `addition_embed_type="time"`.
        """
        c = self.config
        emb = self._embed_time(sample, timestep, time_ids)
        text = encoder_hidden_states if self.encoder_hid_proj is None else self.encoder_hid_proj(encoder_hidden_states)
        text_bias = None
        if encoder_attention_mask is not None:
            # Additive -10000 rather than -inf (as diffusers): an all-padding row then averages instead of NaN.
            text_bias = ((1 - encoder_attention_mask.to(sample.dtype)) * -10000.0)[:, None, None, :]

        x = self.conv_in(2 * sample - 1.0 if c.center_input_sample else sample)
        skips = [x]
        for block in self.down_blocks:
            x, states = block(x, emb, text, text_bias)
            skips.extend(states)
        if self.mid_block is not None:
            x = self.mid_block(x, emb, text, text_bias)
        for block in self.up_blocks:
            mine = [skips.pop() for _ in block.resnets]
            # Upsample to the next skip's size, so odd sizes round-trip through the stride-2 convs.
            x = block(x, mine, emb, text, text_bias, skips[-1].shape[-2:] if skips else None)
        return self.conv_out(self.conv_act(self.conv_norm_out(x)))

    def _embed_time(self, sample, timestep, time_ids):
        c = self.config
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])
        emb = self.time_embedding(timestep_embedding(t, c.block_out_channels[0], c.flip_sin_to_cos,
                                                     c.freq_shift).to(sample.dtype))
        if c.addition_embed_type == "time":
            if time_ids is None:
                raise ValueError("time_ids (B, 2) = target (width, height) is required by this U-Net config")
            sizes = timestep_embedding(time_ids.flatten(), c.addition_time_embed_dim, c.flip_sin_to_cos,
                                       c.freq_shift)
            emb = emb + self.add_embedding(sizes.reshape(-1, c.projection_class_embeddings_input_dim).to(emb.dtype))
        return emb if self.time_embed_act is None else self.time_embed_act(emb)

    # ---- conveniences ---------------------------------------------------------------------------------------
    @property
    def gradient_checkpointing(self) -> bool:
        return self._checkpointing

    @gradient_checkpointing.setter
    def gradient_checkpointing(self, enabled: bool):
        """Recompute resnet and transformer-layer activations in backward (torch.utils.checkpoint)."""
        self._checkpointing = bool(enabled)
        for module in self.modules():
            if module is not self and hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = self._checkpointing

    def enable_gradient_checkpointing(self, enabled: bool = True) -> DreamLiteUNet:
        self.gradient_checkpointing = enabled
        return self

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def dtype(self) -> torch.dtype:
        return self.conv_in.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.conv_in.weight.device


def _nth(depth: int | tuple[int, ...], j: int) -> int:
    """Transformer depth of layer j: one count for the whole block, or one per layer."""
    return depth[j] if isinstance(depth, tuple) else depth
