"""DreamLiteUNet against diffusers' DreamLiteUNetModel on identical weights, plus config handling."""

import inspect
import json
import math
from pathlib import Path

import pytest
import torch
from diffusers.models.unets.unet_dreamlite import DreamLiteUNetModel

import dreamlite.models.layers as layers
from dreamlite.models import DreamLiteUNet, UNetConfig, UNetConfigError, get_unet_config
from dreamlite.models.config import BLOCK_ALIASES, DOWN_BLOCKS, MID_BLOCKS, UP_BLOCKS

REFERENCE_CONFIG = Path("/work/shared/reference/dreamlite-0.39b-unet-config.json")

# Published flavour with legacy block names: MQA, RMS q/k norm, separable convs, Linear+RMSNorm text
# projection, time_ids, and a level with no attention at all.
TINY_LEGACY = {
    "down_block_types": ["CrossAttnDownRemoveSelfAttnBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ["UpBlock2D", "CrossAttnUpRemoveSelfAttnBlock2DV1", "CrossAttnUpBlock2D"],
    "block_out_channels": [16, 32, 32],
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "transformer_layers_per_block": [1, 2, 1],
    "attention_head_dim": [2, 4, 4],
    "num_kv_heads": 1,
    "qk_norm": "rms_norm",
    "ff_mult": 3,
    "use_sep_conv": True,
    "use_linear_projection": True,
    "cross_attention_dim": 32,
    "encoder_hid_dim": 24,
    "encoder_hid_dim_type": "text_proj_rms",
    "addition_embed_type": "time",
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 16,
}

# Canonical names plus everything else the config allows: GQA, LayerNorm q/k, plain convs, 1x1-conv
# projections, no text projection, nested transformer depths, two mid layers,
# only_cross_attention, right/bottom-only downsample padding, other activations and embeddings.
TINY_CANONICAL = {
    "down_block_types": ["DreamLiteDownBlock2D", "DreamLiteCrossAttnNoSelfAttnDownBlock2D",
                         "DreamLiteCrossAttnDownBlock2D", "DreamLiteCrossAttnDownBlock2D"],
    "mid_block_type": "DreamLiteUNetMidBlock2DCrossAttn",
    "up_block_types": ["DreamLiteCrossAttnUpBlock2D", "DreamLiteCrossAttnNoSelfAttnUpBlock2D",
                       "CrossAttnUpRemoveSelfAttnBlock2D", "DreamLiteUpBlock2D"],
    "block_out_channels": [16, 16, 32, 32],
    "layers_per_block": [1, 2, 1, 1],
    "norm_num_groups": 8,
    "norm_eps": 1e-6,
    "transformer_layers_per_block": [[1], [1, 2], [2], [1, 2]],
    "reverse_transformer_layers_per_block": [[1, 1], [2, 1], [1, 2, 1], [1, 1]],
    "attention_head_dim": [2, 2, 4, 4],
    "num_kv_heads": 2,
    "num_mid_layers": 2,
    "qk_norm": "layer_norm",
    "ff_mult": 2,
    "use_sep_conv": False,
    "use_linear_projection": False,
    "only_cross_attention": [False, False, True, False],
    "cross_attention_dim": [24, 24, 24, 24],
    "downsample_padding": 0,
    "mid_block_scale_factor": 2.0,
    "dropout": 0.1,
    "act_fn": "swish",
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "time_embedding_dim": 40,
    "time_embedding_act_fn": "silu",
    "timestep_post_act": "mish",
    "center_input_sample": True,
    "conv_in_kernel": 1,
    "conv_out_kernel": 5,
}

# No mid block, multi-head attention without q/k norm, plain Linear text projection.
TINY_NO_MID = {
    "down_block_types": ["DreamLiteCrossAttnDownBlock2D", "DreamLiteCrossAttnDownBlock2D"],
    "mid_block_type": None,
    "up_block_types": ["DreamLiteCrossAttnUpBlock2D", "DreamLiteCrossAttnUpBlock2D"],
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "attention_head_dim": 2,
    "num_kv_heads": None,
    "qk_norm": None,
    "cross_attention_dim": 16,
    "encoder_hid_dim": 20,
    "encoder_hid_dim_type": "text_proj",
    "addition_embed_type": "time",
    "addition_time_embed_dim": 4,
    "projection_class_embeddings_input_dim": 8,
}

TINY_CONFIGS = {
    "legacy": TINY_LEGACY,
    "canonical": TINY_CANONICAL,
    "no_mid": TINY_NO_MID,
    "registry_tiny": get_unet_config("tiny").to_dict(),
}


def perturb(model: torch.nn.Module, scale: float = 0.05):
    """Move every parameter off its init so unit norm weights and zero biases carry information."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p), alpha=scale)


def build_pair(config: dict, seed: int = 0):
    """diffusers' model from the config dict with random weights, and ours loaded from its state_dict."""
    torch.manual_seed(seed)
    theirs = DreamLiteUNetModel.from_config(config).eval()
    perturb(theirs)
    ours = DreamLiteUNet(UNetConfig.from_dict(config)).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def make_inputs(cfg: UNetConfig, batch: int, height: int, width: int, text_len: int = 7, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    text_dim = cfg.encoder_hid_dim or cfg.per_level("cross_attention_dim")[0]
    mask = torch.ones(batch, text_len)
    mask[-1, text_len // 2:] = 0  # padding in the last element only
    return dict(
        sample=torch.randn(batch, cfg.in_channels, height, width, generator=g),
        timestep=torch.tensor([999.0, 312.5, 1.0, 640.0][:batch]),
        encoder_hidden_states=torch.randn(batch, text_len, text_dim, generator=g),
        encoder_attention_mask=mask,
        time_ids=torch.tensor([[8.0 * width / 2, 8.0 * height]] * batch) if cfg.addition_embed_type else None,
    )


def run_theirs(model, inputs):
    added = {"time_ids": inputs["time_ids"]} if inputs["time_ids"] is not None else None
    return model(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                 encoder_attention_mask=inputs["encoder_attention_mask"], added_cond_kwargs=added).sample


def assert_matches(ours_out: torch.Tensor, theirs_out: torch.Tensor, rel: float = 1e-4):
    assert ours_out.shape == theirs_out.shape
    err, ref = (ours_out - theirs_out).abs().max().item(), theirs_out.abs().max().item()
    assert ref > 0 and err <= rel * ref, f"max abs error {err:.3g} vs max |ref| {ref:.3g}"


# ---- parity ----------------------------------------------------------------------------------------------
def test_tiny_configs_cover_every_block_type_and_alias():
    used = {name for d in (TINY_LEGACY, TINY_CANONICAL)
            for name in d["down_block_types"] + d["up_block_types"] + [d["mid_block_type"]]}
    assert set(DOWN_BLOCKS) | set(UP_BLOCKS) | set(MID_BLOCKS) | set(BLOCK_ALIASES) <= used


@pytest.mark.parametrize("name", list(TINY_CONFIGS))
def test_tiny_parity_in_context_masked(name):
    config = TINY_CONFIGS[name]
    ours, theirs = build_pair(config)
    cfg = ours.config
    factor = 2 ** (cfg.num_levels - 1)
    inputs = make_inputs(cfg, batch=2, height=2 * factor, width=4 * factor)  # in-context: W = 2H
    with torch.inference_mode():
        assert_matches(ours(**inputs), run_theirs(theirs, inputs))


@pytest.mark.parametrize("size", [(12, 24), (10, 14)])
def test_other_sizes_and_scalar_timestep(size):
    ours, theirs = build_pair(TINY_LEGACY, seed=3)
    inputs = make_inputs(ours.config, batch=2, height=size[0], width=size[1], text_len=5)
    inputs["timestep"] = 421.0
    with torch.inference_mode():
        out = ours(**inputs)
        assert out.shape == inputs["sample"].shape
        assert_matches(out, run_theirs(theirs, inputs))


@pytest.mark.skipif(not REFERENCE_CONFIG.exists(), reason="shared reference files not present")
def test_registry_matches_published_config():
    assert UNetConfig.from_dict(json.loads(REFERENCE_CONFIG.read_text())) == get_unet_config("dreamlite-0.39b")


def test_published_0_39b_parity():
    cfg = get_unet_config("dreamlite-0.39b")
    config = cfg.to_dict()
    # Random init straight into uninitialised memory: the stock initialisers are slow at 0.39B.
    with torch.device("meta"):
        theirs = DreamLiteUNetModel.from_config(config).eval()
        ours = DreamLiteUNet(cfg).eval()
    theirs.to_empty(device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if p.ndim == 1:
                p.normal_(1.0 if "norm" in name and name.endswith("weight") else 0.0, 0.05)
            else:
                p.uniform_(-1, 1).mul_(math.sqrt(3 / p[0].numel()))
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 389_968_388

    inputs = make_inputs(cfg, batch=1, height=16, width=32, text_len=12)
    inputs["encoder_attention_mask"][0, 9:] = 0
    with torch.inference_mode():
        assert_matches(ours(**inputs), run_theirs(theirs, inputs))


def test_bf16_parity():
    ours, theirs = build_pair(TINY_LEGACY, seed=2)
    ours.to(torch.bfloat16), theirs.to(torch.bfloat16)
    inputs = make_inputs(ours.config, batch=2, height=8, width=16)
    for key in ("sample", "encoder_hidden_states"):
        inputs[key] = inputs[key].to(torch.bfloat16)
    with torch.inference_mode():
        out = ours(**inputs)
        assert out.dtype == torch.bfloat16
        assert_matches(out.float(), run_theirs(theirs, inputs).float(), rel=1e-2)


# ---- training --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["legacy", "canonical"])  # canonical has dropout: recomputation replays the RNG
def test_gradient_checkpointing_same_gradients(monkeypatch, name):
    ours, _ = build_pair(TINY_CONFIGS[name], seed=5)
    ours.train()
    factor = 2 ** (ours.config.num_levels - 1)
    inputs = make_inputs(ours.config, batch=2, height=2 * factor, width=4 * factor)

    def grads():
        torch.manual_seed(7)
        ours.zero_grad()
        ours(**inputs).square().mean().backward()
        return {n: p.grad.clone() for n, p in ours.named_parameters()}

    plain = grads()
    calls = []
    real = layers.checkpoint
    monkeypatch.setattr(layers, "checkpoint", lambda *a, **k: calls.append(k) or real(*a, **k))
    assert ours.enable_gradient_checkpointing().gradient_checkpointing
    checkpointed = grads()
    assert calls and all(k == {"use_reentrant": False} for k in calls)
    for name, g in plain.items():
        torch.testing.assert_close(checkpointed[name], g, rtol=1e-5, atol=1e-7, msg=name)
    ours.gradient_checkpointing = False
    calls.clear()
    grads()
    assert not calls


# ---- config ----------------------------------------------------------------------------------------------
def test_defaults_equal_diffusers():
    params = inspect.signature(DreamLiteUNetModel.__init__).parameters
    fields = UNetConfig().to_dict()
    del fields["_class_name"]
    assert set(fields) == set(params) - {"self"}
    for name, value in fields.items():
        default = params[name].default
        assert value == (list(default) if isinstance(default, tuple) else default), name


@pytest.mark.parametrize("config", [TINY_LEGACY, TINY_CANONICAL, get_unet_config("dreamlite-0.39b").to_dict()])
def test_to_dict_round_trips_through_diffusers(config):
    cfg = UNetConfig.from_dict(config)
    d = cfg.to_dict()
    assert d["_class_name"] == "DreamLiteUNetModel"
    assert json.loads(json.dumps(d)) == d
    with torch.device("meta"):
        theirs = DreamLiteUNetModel.from_config(d)
    assert UNetConfig.from_dict(dict(theirs.config)) == cfg


def test_legacy_names_are_normalised():
    cfg = get_unet_config("dreamlite-0.39b")
    assert cfg.down_block_types == ("DreamLiteCrossAttnNoSelfAttnDownBlock2D",) * 2 + ("DreamLiteCrossAttnDownBlock2D",)
    assert cfg.mid_block_type == "DreamLiteUNetMidBlock2DCrossAttn"
    assert cfg.up_block_types == ("DreamLiteCrossAttnUpBlock2D", "DreamLiteCrossAttnNoSelfAttnUpBlock2D",
                                  "DreamLiteUpBlock2D")
    assert UNetConfig(encoder_hid_dim=8, cross_attention_dim=16).encoder_hid_dim_type == "text_proj"


@pytest.mark.parametrize("change, field", [
    ({"not_a_field": 1}, "not_a_field"),
    ({"down_block_types": ["CrossAttnDownBlock2D", "FancyDownBlock2D"], "up_block_types": ["UpBlock2D"] * 2,
      "block_out_channels": [32, 64]}, "down_block_types"),
    ({"up_block_types": ["UpBlock2D", "UpBlock2D", "KUpBlock2D"]}, "up_block_types"),
    ({"mid_block_type": "UNetMidBlock2DSimpleCrossAttn"}, "mid_block_type"),
    ({"up_block_types": ["UpBlock2D", "UpBlock2D"]}, "up_block_types"),
    ({"block_out_channels": [32, 64]}, "block_out_channels"),
    ({"attention_head_dim": [2, 4]}, "attention_head_dim"),
    ({"layers_per_block": [1, 1]}, "layers_per_block"),
    ({"transformer_layers_per_block": [1, 2]}, "transformer_layers_per_block"),
    ({"transformer_layers_per_block": [[1], [1], [1, 1]]}, "reverse_transformer_layers_per_block"),
    ({"qk_norm": "l2"}, "qk_norm"),
    ({"encoder_hid_dim_type": "image_proj"}, "encoder_hid_dim_type"),
    ({"addition_embed_type": "text_time"}, "addition_embed_type"),
    ({"num_kv_heads": 3}, "num_kv_heads"),
    ({"attention_head_dim": [2, 5, 4]}, "attention_head_dim"),
    ({"block_out_channels": [16, 36, 32]}, "block_out_channels"),
    ({"dual_cross_attention": True}, "dual_cross_attention"),
    ({"class_embed_type": "timestep"}, "class_embed_type"),
    ({"num_attention_heads": 4}, "num_attention_heads"),
    ({"use_sep_conv": "yes"}, "use_sep_conv"),
    ({"act_fn": "tanh"}, "act_fn"),
    ({"resnet_time_scale_shift": "scale_shift"}, "resnet_time_scale_shift"),
])
def test_config_errors_name_the_field(change, field):
    with pytest.raises(UNetConfigError) as err:
        UNetConfig.from_dict({**TINY_LEGACY, **change})
    assert err.value.field == field
    message = str(err.value)
    assert message.startswith(f"{field}:") and "\n" not in message


def test_registry():
    assert get_unet_config("tiny").to_dict()["block_out_channels"] == [24, 48]
    assert DreamLiteUNet(get_unet_config("tiny")).num_parameters() < 1_000_000
    with pytest.raises(ValueError, match="dreamlite-0.39b.*tiny"):
        get_unet_config("dreamlite-9b")


def test_missing_time_ids_is_a_clear_error():
    model = DreamLiteUNet(get_unet_config("tiny"))
    inputs = make_inputs(model.config, batch=1, height=4, width=8)
    inputs["time_ids"] = None
    with pytest.raises(ValueError, match="time_ids"):
        model(**inputs)


# ---- in-context positions (an option of this project, off in published configs) ---------------------------
def test_in_context_positions_is_off_by_default_and_written_only_when_on():
    published = get_unet_config("dreamlite-0.39b")
    assert published.in_context_positions is False and "in_context_positions" not in published.to_dict()
    on = UNetConfig.from_dict({**TINY_CANONICAL, "in_context_positions": True})
    assert on.to_dict()["in_context_positions"] is True
    assert UNetConfig.from_dict(on.to_dict()) == on
    with pytest.raises(UNetConfigError, match="in_context_positions"):
        UNetConfig.from_dict({**TINY_CANONICAL, "in_context_positions": "yes"})


def test_in_context_position_code_gives_both_halves_the_same_places():
    height, width, dim = 3, 8, 32
    code = layers.in_context_position_code(height, width, dim).reshape(height, width, dim)
    assert torch.equal(code[:, :4], code[:, 4:])  # target (r, c) and condition (r, c + W/2) share a code
    flat = code[:, :4].reshape(-1, dim)
    similarity = flat @ flat.T
    assert torch.equal(similarity.argmax(dim=1), torch.arange(len(flat)))  # every other place differs


def test_in_context_positions_let_attention_look_up_the_same_place_in_the_other_half():
    """Queries and keys from the code alone (identity projections, no content in them): each token's output is
    close to the mean of its own value and its partner's at the same place in the other half."""
    height, width, dim = 2, 8, 32
    attention = layers.Attention(dim, heads=1, kv_heads=1)
    with torch.no_grad():
        for linear, scale in ((attention.to_q, 8.0), (attention.to_k, 8.0), (attention.to_v, 1.0),
                              (attention.to_out[0], 1.0)):
            linear.weight.copy_(torch.eye(dim) * scale)
        attention.to_out[0].bias.zero_()
    values = torch.randn(1, height * width, dim, generator=torch.Generator().manual_seed(0)) * 1e-4
    code = layers.in_context_position_code(height, width, dim)
    grid = values[0].reshape(height, width, dim)
    expected = (grid[:, :4] + grid[:, 4:]).repeat(1, 2, 1) / 2

    def error(out):
        return (out[0].reshape(height, width, dim) - expected).abs().max() / expected.abs().max()

    with torch.no_grad():
        assert error(attention(values, position=code)) < 0.02
        assert error(attention(values)) > 0.3  # without the code: near-uniform over all 16 tokens


def test_in_context_positions_keep_parameter_names_and_change_the_output():
    ours, _ = build_pair(TINY_CANONICAL, seed=4)
    cfg = UNetConfig.from_dict({**TINY_CANONICAL, "in_context_positions": True})
    positioned = DreamLiteUNet(cfg).eval()
    positioned.load_state_dict(ours.state_dict(), strict=True)
    inputs = make_inputs(cfg, 2, 8, 16)
    with torch.no_grad():
        assert not torch.allclose(positioned(**inputs), ours(**inputs))
