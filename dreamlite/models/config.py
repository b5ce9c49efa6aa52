"""Typed configuration of the DreamLite U-Net and a registry of named sizes.

Field names and defaults are those of diffusers' `DreamLiteUNetModel`, so a published `unet/config.json` reads
with `UNetConfig.from_dict` and `to_dict()` writes one that diffusers' `from_config` accepts. A few fields exist
only because diffusers' config carries them: its DreamLite blocks never read them, so they have no effect here
either (listed in `INERT_FIELDS`). Values the model does not implement raise `UNetConfigError` at construction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

# Canonical block names (diffusers' DreamLite classes) -> which attention each layer of the block has:
# "full" = self- then cross-attention, "cross" = cross-attention only (DreamLite removes self-attention at
# high resolution, where it is most expensive), None = resnets only.
DOWN_BLOCKS = {
    "DreamLiteCrossAttnDownBlock2D": "full",
    "DreamLiteCrossAttnNoSelfAttnDownBlock2D": "cross",
    "DreamLiteDownBlock2D": None,
}
UP_BLOCKS = {
    "DreamLiteCrossAttnUpBlock2D": "full",
    "DreamLiteCrossAttnNoSelfAttnUpBlock2D": "cross",
    "DreamLiteUpBlock2D": None,
}
MID_BLOCKS = {"DreamLiteUNetMidBlock2DCrossAttn": "full"}

# Legacy names that published configs carry; diffusers maps them onto the classes above.
BLOCK_ALIASES = {
    "CrossAttnDownRemoveSelfAttnBlock2D": "DreamLiteCrossAttnNoSelfAttnDownBlock2D",
    "CrossAttnDownBlock2D": "DreamLiteCrossAttnDownBlock2D",
    "DownBlock2D": "DreamLiteDownBlock2D",
    "UNetMidBlock2DCrossAttn": "DreamLiteUNetMidBlock2DCrossAttn",
    "CrossAttnUpRemoveSelfAttnBlock2D": "DreamLiteCrossAttnNoSelfAttnUpBlock2D",
    "CrossAttnUpRemoveSelfAttnBlock2DV1": "DreamLiteCrossAttnNoSelfAttnUpBlock2D",
    "CrossAttnUpBlock2D": "DreamLiteCrossAttnUpBlock2D",
    "UpBlock2D": "DreamLiteUpBlock2D",
}

ACTIVATIONS = ("silu", "swish", "mish", "gelu", "relu")
QK_NORMS = (None, "rms_norm", "layer_norm")
TEXT_PROJECTIONS = (None, "text_proj", "text_proj_rms")

# Carried for compatibility; diffusers' DreamLite blocks never pass them on, so they change nothing.
INERT_FIELDS = (
    "sample_size",
    "upcast_attention",
    "resnet_skip_time_act",
    "resnet_out_scale_factor",
    "mid_block_only_cross_attention",
    "cross_attention_norm",
    "addition_embed_type_num_heads",
)


class UNetConfigError(ValueError):
    """A U-Net config field holds a value this implementation cannot build; `.field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class UNetConfig:
    """DreamLite U-Net hyper-parameters, diffusers' `DreamLiteUNetModel` field for field."""

    sample_size: int | tuple[int, int] | None = None
    in_channels: int = 4
    out_channels: int = 4
    center_input_sample: bool = False  # maps x -> 2x - 1 before conv_in
    flip_sin_to_cos: bool = True  # sinusoidal embeddings as (cos, sin)
    freq_shift: float = 0
    down_block_types: tuple[str, ...] = (
        "DreamLiteCrossAttnNoSelfAttnDownBlock2D",
        "DreamLiteCrossAttnNoSelfAttnDownBlock2D",
        "DreamLiteCrossAttnDownBlock2D",
    )
    mid_block_type: str | None = "DreamLiteUNetMidBlock2DCrossAttn"
    up_block_types: tuple[str, ...] = (
        "DreamLiteCrossAttnUpBlock2D",
        "DreamLiteCrossAttnNoSelfAttnUpBlock2D",
        "DreamLiteUpBlock2D",
    )
    only_cross_attention: bool | tuple[bool, ...] = False  # "full" layers attend to text twice
    block_out_channels: tuple[int, ...] = (320, 640, 1280)
    layers_per_block: int | tuple[int, ...] = 2  # resnets per down level; up levels get one more
    downsample_padding: int = 1
    mid_block_scale_factor: float = 1
    dropout: float = 0.0
    act_fn: str = "silu"
    norm_num_groups: int | None = 32
    norm_eps: float = 1e-5
    cross_attention_dim: int | tuple[int, ...] = 2048
    transformer_layers_per_block: int | tuple[int | tuple[int, ...], ...] = 1
    reverse_transformer_layers_per_block: tuple[int | tuple[int, ...], ...] | None = None
    encoder_hid_dim: int | None = None  # text feature width before the projection
    encoder_hid_dim_type: str | None = None  # "text_proj" (Linear) or "text_proj_rms" (Linear, RMSNorm)
    attention_head_dim: int | tuple[int, ...] = 64  # legacy name: these are head COUNTS per level
    num_attention_heads: int | tuple[int, ...] | None = None  # must stay None, as in diffusers
    dual_cross_attention: bool = False
    use_linear_projection: bool = False  # proj_in/proj_out as Linear instead of 1x1 conv
    class_embed_type: str | None = None
    addition_embed_type: str | None = None  # "time": time_ids (width, height) join the timestep embedding
    addition_time_embed_dim: int | None = None
    num_class_embeds: int | None = None
    upcast_attention: bool = False
    resnet_time_scale_shift: str = "default"
    resnet_skip_time_act: bool = False
    resnet_out_scale_factor: float = 1.0
    time_embedding_type: str = "positional"
    time_embedding_dim: int | None = None  # default 4 * block_out_channels[0]
    time_embedding_act_fn: str | None = None
    timestep_post_act: str | None = None
    time_cond_proj_dim: int | None = None
    conv_in_kernel: int = 3
    conv_out_kernel: int = 3
    projection_class_embeddings_input_dim: int | None = None  # len(time_ids) * addition_time_embed_dim
    attention_type: str = "default"
    class_embeddings_concat: bool = False
    mid_block_only_cross_attention: bool | None = None
    cross_attention_norm: str | None = None
    addition_embed_type_num_heads: int = 64
    qk_norm: str | None = "rms_norm"
    use_sep_conv: bool = True  # depthwise-separable resnet convs (MobileNet-style)
    ff_mult: float = 6
    num_kv_heads: int | None = 1  # grouped-query attention; None = one K/V head per query head
    num_mid_layers: int = 1
    # Not in the published model (nor in diffusers): a fixed code of each token's place within its in-context half
    # added to self-attention's queries and keys (layers.in_context_position_code). Written to config.json only
    # when on, so published configs round-trip unchanged.
    in_context_positions: bool = False

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _freeze(getattr(self, f.name)))
        canon = lambda names: tuple(BLOCK_ALIASES.get(n, n) for n in names)  # noqa: E731
        object.__setattr__(self, "down_block_types", canon(self.down_block_types))
        object.__setattr__(self, "up_block_types", canon(self.up_block_types))
        if self.mid_block_type is not None:
            object.__setattr__(self, "mid_block_type", BLOCK_ALIASES.get(self.mid_block_type, self.mid_block_type))
        if self.encoder_hid_dim is not None and self.encoder_hid_dim_type is None:
            object.__setattr__(self, "encoder_hid_dim_type", "text_proj")  # what diffusers infers
        _validate(self)

    # ---- derived quantities -----------------------------------------------------------------------------
    @property
    def num_levels(self) -> int:
        return len(self.block_out_channels)

    def per_level(self, name: str) -> list:
        """A field that may be one value for all levels, as a list with one entry per down level."""
        value = getattr(self, name)
        return list(value) if isinstance(value, tuple) else [value] * self.num_levels

    @property
    def time_embed_dim(self) -> int:
        return self.time_embedding_dim or 4 * self.block_out_channels[0]

    # ---- diffusers config.json -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UNetConfig:
        """Read a diffusers `unet/config.json` dict; keys starting with `_` are metadata and skipped."""
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in d.items():
            if key.startswith("_"):
                continue
            if key not in known:
                raise UNetConfigError(key, "unknown field for DreamLiteUNetModel")
            kwargs[key] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A diffusers `unet/config.json` dict (lists, canonical block names)."""
        out: dict[str, Any] = {"_class_name": "DreamLiteUNetModel"}
        out.update({f.name: _thaw(getattr(self, f.name)) for f in fields(self)})
        if not self.in_context_positions:
            del out["in_context_positions"]
        return out

    def replace(self, **changes) -> UNetConfig:
        return dataclasses.replace(self, **changes)


def _freeze(value):
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value):
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


# ---- validation -------------------------------------------------------------------------------------------
def _fail(field: str, message: str):
    raise UNetConfigError(field, message)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_int(c: UNetConfig, name: str, minimum: int = 1, optional: bool = False):
    v = getattr(c, name)
    if v is None and optional:
        return
    if not _is_int(v) or v < minimum:
        _fail(name, f"expected an integer >= {minimum}{' or null' if optional else ''}, got {v!r}")


def _check_choice(c: UNetConfig, name: str, choices):
    if getattr(c, name) not in choices:
        _fail(name, f"unsupported value {getattr(c, name)!r}; supported: {list(choices)}")


def _check_levels(c: UNetConfig, name: str, ok, what: str):
    """A field that is either one value or one value per level."""
    v = getattr(c, name)
    values = v if isinstance(v, tuple) else (v,)
    if isinstance(v, tuple) and len(v) != c.num_levels:
        _fail(name, f"expected {c.num_levels} entries (one per down block), got {len(v)}")
    for x in values:
        if not ok(x):
            _fail(name, f"expected {what}, got {x!r}")


def _validate(c: UNetConfig):
    if not c.down_block_types:
        _fail("down_block_types", "needs at least one block")
    for name in c.down_block_types:
        if name not in DOWN_BLOCKS:
            _fail("down_block_types", f"unsupported block type {name!r}; supported: {list(DOWN_BLOCKS)} and aliases")
    if len(c.up_block_types) != len(c.down_block_types):
        _fail("up_block_types", f"expected {len(c.down_block_types)} entries, got {len(c.up_block_types)}")
    for name in c.up_block_types:
        if name not in UP_BLOCKS:
            _fail("up_block_types", f"unsupported block type {name!r}; supported: {list(UP_BLOCKS)} and aliases")
    if c.mid_block_type is not None and c.mid_block_type not in MID_BLOCKS:
        _fail("mid_block_type", f"unsupported block type {c.mid_block_type!r}; supported: {list(MID_BLOCKS)}")
    if len(c.block_out_channels) != len(c.down_block_types):
        _fail("block_out_channels", f"expected {len(c.down_block_types)} entries, got {len(c.block_out_channels)}")

    for name in ("in_channels", "out_channels", "norm_num_groups", "num_mid_layers", "downsample_padding"):
        _check_int(c, name, minimum=0 if name in ("num_mid_layers", "downsample_padding") else 1)
    for name in ("time_embedding_dim", "encoder_hid_dim", "num_kv_heads"):
        _check_int(c, name, optional=True)
    for name in ("conv_in_kernel", "conv_out_kernel"):
        if not _is_int(getattr(c, name)) or getattr(c, name) % 2 == 0:
            _fail(name, f"expected an odd kernel size, got {getattr(c, name)!r}")
    for name in ("center_input_sample", "flip_sin_to_cos", "use_linear_projection", "use_sep_conv",
                 "in_context_positions"):
        if not isinstance(getattr(c, name), bool):
            _fail(name, f"expected true/false, got {getattr(c, name)!r}")
    for name in ("freq_shift", "mid_block_scale_factor", "norm_eps", "ff_mult", "dropout"):
        if not _is_num(getattr(c, name)):
            _fail(name, f"expected a number, got {getattr(c, name)!r}")
    if not 0 <= c.dropout < 1:
        _fail("dropout", f"expected 0 <= dropout < 1, got {c.dropout}")

    groups = c.norm_num_groups
    _check_levels(c, "block_out_channels", lambda x: _is_int(x) and x > 0 and x % groups == 0,
                  f"positive channel counts divisible by norm_num_groups={groups}")
    _check_levels(c, "layers_per_block", lambda x: _is_int(x) and x >= 1, "an integer >= 1")
    _check_levels(c, "attention_head_dim", lambda x: _is_int(x) and x >= 1, "a head count >= 1")
    _check_levels(c, "cross_attention_dim", lambda x: _is_int(x) and x >= 1, "an integer >= 1")
    _check_levels(c, "only_cross_attention", lambda x: isinstance(x, bool), "true/false")
    _check_transformer_layers(c)

    for name in ("act_fn", "time_embedding_act_fn", "timestep_post_act"):
        value = getattr(c, name)
        if not (value is None and name != "act_fn") and not (isinstance(value, str) and value.lower() in ACTIVATIONS):
            _fail(name, f"unsupported activation {value!r}; supported: {list(ACTIVATIONS)}")
    _check_choice(c, "qk_norm", QK_NORMS)
    _check_choice(c, "encoder_hid_dim_type", TEXT_PROJECTIONS)
    # diffusers applies "scale_shift" to resnet-only and mid blocks but not to attention blocks; DreamLite
    # never uses it, so it is refused rather than reproduced.
    _check_choice(c, "resnet_time_scale_shift", ("default",))
    _check_choice(c, "time_embedding_type", ("positional",))
    _check_choice(c, "addition_embed_type", (None, "time"))
    _check_choice(c, "attention_type", ("default",))
    for name in ("num_attention_heads", "class_embed_type", "num_class_embeds", "time_cond_proj_dim"):
        if getattr(c, name) is not None:
            _fail(name, f"not supported by DreamLite (must be null), got {getattr(c, name)!r}")
    for name in ("dual_cross_attention", "class_embeddings_concat"):
        if getattr(c, name) is not False:
            _fail(name, f"not supported by DreamLite (must be false), got {getattr(c, name)!r}")

    if c.encoder_hid_dim_type is not None:
        if c.encoder_hid_dim is None:
            _fail("encoder_hid_dim", f"required when encoder_hid_dim_type={c.encoder_hid_dim_type!r}")
        if isinstance(c.cross_attention_dim, tuple):
            _fail("cross_attention_dim", "must be a single integer when a text projection is used")
    if c.addition_embed_type == "time":
        _check_int(c, "addition_time_embed_dim")
        _check_int(c, "projection_class_embeddings_input_dim")
        if c.projection_class_embeddings_input_dim % c.addition_time_embed_dim:
            _fail("projection_class_embeddings_input_dim", "must be a multiple of addition_time_embed_dim")

    # Attention needs the channels to split evenly into heads, and the heads into K/V groups.
    heads, channels = c.per_level("attention_head_dim"), c.block_out_channels
    levels = [i for i, t in enumerate(c.down_block_types) if DOWN_BLOCKS[t]]
    levels += [c.num_levels - 1 - i for i, t in enumerate(c.up_block_types) if UP_BLOCKS[t]]
    levels += [c.num_levels - 1] if c.mid_block_type else []
    for i in sorted(set(levels)):
        if channels[i] % heads[i]:
            _fail("attention_head_dim", f"level {i}: {channels[i]} channels do not split into {heads[i]} heads")
        if c.num_kv_heads is not None and heads[i] % c.num_kv_heads:
            _fail("num_kv_heads", f"level {i}: {heads[i]} heads do not split into {c.num_kv_heads} K/V groups")


def _check_transformer_layers(c: UNetConfig):
    layers = c.per_level("layers_per_block")
    down = c.per_level("transformer_layers_per_block")
    _check_levels(c, "transformer_layers_per_block", lambda x: _is_int(x) or isinstance(x, tuple),
                  "an integer or a list of integers")
    for i, x in enumerate(down):
        if isinstance(x, tuple) and (len(x) < layers[i] or not all(_is_int(n) for n in x)):
            _fail("transformer_layers_per_block", f"level {i}: expected {layers[i]} integers, got {list(x)}")
    if isinstance(down[-1], tuple) and len(down[-1]) < c.num_mid_layers:
        _fail("transformer_layers_per_block", f"last level needs {c.num_mid_layers} entries for the mid block")
    rev = c.reverse_transformer_layers_per_block
    if rev is None:
        if any(isinstance(x, tuple) for x in down):
            _fail("reverse_transformer_layers_per_block", "required when transformer_layers_per_block is nested")
        return
    if not isinstance(rev, tuple) or len(rev) != c.num_levels:
        _fail("reverse_transformer_layers_per_block", f"expected {c.num_levels} entries (one per up block)")
    for i, x in enumerate(rev):
        n = layers[c.num_levels - 1 - i] + 1
        if not (_is_int(x) or (isinstance(x, tuple) and len(x) >= n and all(_is_int(k) for k in x))):
            _fail("reverse_transformer_layers_per_block", f"up level {i}: expected an integer or {n} integers")


# ---- registry -------------------------------------------------------------------------------------------
UNET_CONFIGS: dict[str, UNetConfig] = {
    # The published 0.39B model (389,968,388 parameters), as its config.json spells it.
    "dreamlite-0.39b": UNetConfig.from_dict({
        "sample_size": 128,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["CrossAttnDownRemoveSelfAttnBlock2D", "CrossAttnDownRemoveSelfAttnBlock2D",
                             "CrossAttnDownBlock2D"],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpRemoveSelfAttnBlock2DV1", "UpBlock2D"],
        "block_out_channels": [256, 512, 896],
        "layers_per_block": 2,
        "transformer_layers_per_block": [1, 2, 4],
        "attention_head_dim": [4, 8, 14],
        "num_kv_heads": 1,
        "qk_norm": "rms_norm",
        "ff_mult": 3,
        "use_sep_conv": True,
        "use_linear_projection": True,
        "cross_attention_dim": 2304,
        "encoder_hid_dim": 2048,
        "encoder_hid_dim_type": "text_proj_rms",
        "addition_embed_type": "time",
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 512,
    }),
    # The same architecture at ~0.44M parameters (two levels, 12-d heads), for fast tests.
    "tiny": UNetConfig(
        sample_size=16,
        down_block_types=("DreamLiteCrossAttnNoSelfAttnDownBlock2D", "DreamLiteCrossAttnDownBlock2D"),
        up_block_types=("DreamLiteCrossAttnUpBlock2D", "DreamLiteCrossAttnNoSelfAttnUpBlock2D"),
        block_out_channels=(24, 48),
        layers_per_block=1,
        norm_num_groups=8,
        transformer_layers_per_block=(1, 2),
        attention_head_dim=(2, 4),
        num_kv_heads=1,
        ff_mult=2,
        use_linear_projection=True,
        cross_attention_dim=32,
        encoder_hid_dim=48,
        encoder_hid_dim_type="text_proj_rms",
        addition_embed_type="time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=16,
    ),
}


def get_unet_config(name: str) -> UNetConfig:
    """A named U-Net config from `UNET_CONFIGS`."""
    if name not in UNET_CONFIGS:
        raise ValueError(f"unknown U-Net config {name!r}; known: {', '.join(sorted(UNET_CONFIGS))}")
    return UNET_CONFIGS[name]
