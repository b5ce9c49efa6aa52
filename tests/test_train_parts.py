"""The pieces of a training step: loss, timesteps, condition dropout, EMA, LoRA merging."""

from __future__ import annotations

import math

import pytest
import torch

from dreamlite.models.config import UNetConfig
from dreamlite.models.unet import DreamLiteUNet
from dreamlite.train.ema import EMA
from dreamlite.train.loss import flow_matching_loss, sample_timestep
from dreamlite.train.recipe import DropoutSpec, LoRASpec, StageSpec, TimestepSpec, load_recipe
from dreamlite.train.stages import FlowMatchingStage


class Echo(torch.nn.Module):
    """A stand-in U-Net whose output is a learnable tensor, recording what it was given."""

    def __init__(self, shape):
        super().__init__()
        self.out = torch.nn.Parameter(torch.zeros(shape))

    def forward(self, sample, timestep, text, mask, time_ids):
        self.seen = (sample, timestep)
        return self.out.expand_as(sample)


def test_loss_is_velocity_mse_on_the_target_half_only():
    target, noise = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 3, 5)
    condition = torch.randn(2, 4, 3, 5)
    t = torch.tensor([0.25, 0.75])
    model = Echo((2, 4, 3, 10))
    loss = flow_matching_loss(model, target, condition, noise, t, None, None, None)
    sample, timestep = model.seen
    expected_noisy = (1 - t.view(-1, 1, 1, 1)) * target + t.view(-1, 1, 1, 1) * noise
    assert torch.allclose(sample[..., :5], expected_noisy) and torch.equal(sample[..., 5:], condition)
    assert torch.allclose(timestep, t * 1000)
    assert torch.allclose(loss, (noise - target).pow(2).mean(dim=(1, 2, 3)))
    loss.mean().backward()
    grad = model.out.grad
    assert grad[..., 5:].abs().max() == 0 and grad[..., :5].abs().max() > 0  # the condition half is no target


def test_timestep_samplers():
    g = torch.Generator().manual_seed(0)
    uniform = [sample_timestep(TimestepSpec(sampler="uniform"), g, (8, 8)) for _ in range(2000)]
    assert 0 < min(uniform) and max(uniform) < 1 and abs(sum(uniform) / 2000 - 0.5) < 0.03
    logit = [sample_timestep(TimestepSpec(), g, (8, 8)) for _ in range(2000)]
    assert abs(sum(logit) / 2000 - 0.5) < 0.03
    assert sum(0.3 < t < 0.7 for t in logit) > sum(0.3 < t < 0.7 for t in uniform)  # more mass mid-path
    # A shift s > 1 moves time towards noise; "dynamic" is the pipeline's shift, stronger for larger latents.
    base = sample_timestep(TimestepSpec(sampler="uniform"), torch.Generator().manual_seed(1), (8, 8))
    shifted = sample_timestep(TimestepSpec(sampler="uniform", shift=3.0), torch.Generator().manual_seed(1), (8, 8))
    assert shifted == pytest.approx(3 * base / (1 + 2 * base))
    small = sample_timestep(TimestepSpec(sampler="uniform", shift="dynamic"), torch.Generator().manual_seed(1), (8, 8))
    large = sample_timestep(TimestepSpec(sampler="uniform", shift="dynamic"), torch.Generator().manual_seed(1),
                            (128, 128))
    assert base < large and small < large


class FakeConditioner:
    latent_channels, vae_factor = 4, 8


def test_condition_dropout_rates_and_independence_from_batching():
    spec = StageSpec(name="s", steps=1, batch=1, mixture={"edit": 1.0}, data={},
                     dropout=DropoutSpec(text=0.1, image=0.2, both=0.3))
    stage = FlowMatchingStage(spec, 0, 0, FakeConditioner(), None)
    draws = [stage.draws({"task": "edit", "step": 0, "slot": i}, (4, 4)) for i in range(4000)]
    text_only = sum(d[0] and not d[1] for d in draws) / 4000
    image_only = sum(d[1] and not d[0] for d in draws) / 4000
    both = sum(d[0] and d[1] for d in draws) / 4000
    assert abs(text_only - 0.1) < 0.02 and abs(image_only - 0.2) < 0.025 and abs(both - 0.3) < 0.025
    t2i = [stage.draws({"task": "t2i", "step": 0, "slot": i}, (4, 4)) for i in range(4000)]
    assert not any(d[1] for d in t2i) and abs(sum(d[0] for d in t2i) / 4000 - 0.1) < 0.02
    # A sample's draws depend on (stage, step, slot) only.
    again = stage.draws({"task": "edit", "step": 0, "slot": 7}, (4, 4))
    assert again[:3] == draws[7][:3] and torch.equal(again[3], draws[7][3])


def test_ema_tracks_an_exponential_average():
    p = torch.nn.Parameter(torch.zeros(3))
    ema = EMA([("p", p)], decay=0.5, warmup=False)
    with torch.no_grad():
        p.fill_(1.0)
    ema.update()
    assert torch.allclose(ema.shadow["p"], torch.full((3,), 0.5))
    with ema.applied():
        assert torch.allclose(p, torch.full((3,), 0.5))
    assert torch.allclose(p, torch.ones(3))
    state = ema.state_dict()
    other = EMA([("p", torch.nn.Parameter(torch.zeros(3)))], decay=0.5)
    other.load_state_dict(state)
    assert other.updates == 1 and torch.equal(other.shadow["p"], ema.shadow["p"])
    assert EMA([("p", p)], decay=0.999).current_decay() == pytest.approx(0.1)  # warmup: (1 + 0) / (10 + 0)


def test_lora_trains_only_the_official_targets_and_merges_exactly():
    from dreamlite.train.lora import add_lora, merge_lora_state

    config = UNetConfig.from_dict(load_recipe("smoke").model.unet)
    torch.manual_seed(0)
    unet = DreamLiteUNet(config)
    base = {k: v.clone() for k, v in unet.state_dict().items()}
    spec = LoRASpec(rank=2, alpha=4.0)
    model = add_lora(unet, spec)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == {"to_q", "to_k", "to_v", "0"}
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    x = torch.randn(1, 4, 4, 8)
    args = (torch.tensor([500.0]), torch.randn(1, 5, 32), torch.ones(1, 5), torch.tensor([[32.0, 32.0]]))
    with torch.no_grad():
        expected = model(x, *args)
    merged, adapters = merge_lora_state(model.state_dict(), spec)
    assert set(merged) == set(base) and all(k.startswith("base_model.model.") for k in adapters)
    fresh = DreamLiteUNet(config)
    fresh.load_state_dict(merged)
    with torch.no_grad():
        assert torch.allclose(fresh(x, *args), expected, atol=1e-5)
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(k.endswith(("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight"))
                           for k in changed)
    assert math.isfinite(float(expected.abs().sum()))


def test_stack_rows_mixes_cached_host_rows_with_rows_encoded_on_the_device():
    # a batch of cached (bfloat16, host) and freshly encoded (float32, device) latents, as a GPU run of a recipe
    # with a cached edit pool and an endless T2I stream assembles it; the meta device stands in for the GPU
    from dreamlite.train.encode import stack_rows

    rows = [torch.ones(4, 3, 6, dtype=torch.bfloat16), torch.zeros(4, 3, 6, device="meta")]
    out = stack_rows(rows, torch.device("meta"))
    assert out.dtype == torch.float32 and out.shape == (2, 4, 3, 6) and out.device.type == "meta"
    host = stack_rows([torch.ones(2, dtype=torch.bfloat16), torch.full((2,), 2.0)], torch.device("cpu"))
    assert host.dtype == torch.float32 and host.tolist() == [[1.0, 1.0], [2.0, 2.0]]


def test_pad_embeddings_rounds_the_length_up_and_masks_the_padding():
    from dreamlite.train.encode import pad_embeddings

    rows = [torch.ones(70, 8, dtype=torch.bfloat16), torch.ones(3, 8)]  # mixed precision: the lower one
    embeds, mask = pad_embeddings(rows, "cpu", multiple=64)
    assert embeds.shape == (2, 128, 8) and embeds.dtype == torch.bfloat16
    assert mask.sum(1).tolist() == [70, 3] and float(embeds[0, 70:].abs().sum()) == 0.0
    assert pad_embeddings(rows, "cpu")[0].shape == (2, 70, 8)
    again, _ = pad_embeddings([torch.full((5, 8), 2.0)], "cpu", multiple=64)  # the reused host buffer is cleared
    assert float(again[0, 5:].abs().sum()) == 0.0 and float(embeds[0, :70].float().mean()) == 1.0


def test_run_compile_compiles_the_unet_in_place_and_pads_prompts(tmp_path, monkeypatch):
    """`run.compile`: the U-Net is compiled as a module (names unchanged) and prompts come padded to 64 tokens.
    torch.compile itself is replaced by a recorder: compiling takes minutes on a CPU."""
    from dreamlite.models.unet import DreamLiteUNet
    from dreamlite.train import loop, stages

    compiled, lengths = [], []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self)))
    original = stages.flow_matching_loss

    def recording(unet, target, condition, noise, t, text, mask, time_ids):
        lengths.append(text.shape[1])
        return original(unet, target, condition, noise, t, text, mask, time_ids)

    monkeypatch.setattr(stages, "flow_matching_loss", recording)
    recipe = load_recipe("smoke", ["run.compile=true", "stages=[{name: t2i, steps: 2, mixture: {t2i: 1.0}}]"])
    final = loop.train(recipe, tmp_path / "run", log=lambda *a: None)
    assert compiled == [DreamLiteUNet] and lengths and all(n % 64 == 0 for n in lengths)
    from safetensors.torch import load_file

    names = load_file(str(final / "unet" / "diffusion_pytorch_model.safetensors")).keys()
    assert not any("_orig_mod" in n for n in names)


def test_time_unet_step_times_a_recipe_step():
    from dreamlite.train.step_timing import time_unet_step

    warm, step = time_unet_step(load_recipe("smoke"), batch=2, tokens=7, steps=2, warmup=1)
    assert warm > 0 and step > 0
    warm, step = time_unet_step(load_recipe("smoke"), batch=2, tokens=7, steps=1, warmup=1, mixed_precision="bf16")
    assert warm > 0 and step > 0
    with pytest.raises(ValueError, match="mixed_precision"):
        time_unet_step(load_recipe("smoke"), batch=2, tokens=7, steps=1, warmup=1, mixed_precision="fp8")


def test_a_stage_folder_does_not_pass_on_or_write_through_the_previous_stages_own_files(tmp_path):
    """Stage folders hard-link the frozen parts of the stage before them; a stage's own results (an rl stage's
    curves, a distill stage's settings, its recipe and state) are not passed on, and writing them replaces the file,
    so a linked copy elsewhere keeps what it held."""
    from dreamlite.train.export import copy_pipeline, write_new
    from dreamlite.train.rl.curves import write_curves

    first = tmp_path / "rl-01"
    (first / "vae").mkdir(parents=True)
    (first / "vae" / "config.json").write_text("{}")
    (first / "model_index.json").write_text("{}")
    write_curves([{"iteration": 1, "reward/all": 0.25}], first)
    (first / "distill.json").write_text("{}")
    second = tmp_path / "rl-02"
    copy_pipeline(first, second)
    assert sorted(p.name for p in second.iterdir()) == ["model_index.json", "vae"]

    linked = tmp_path / "final"
    copy_pipeline(first, linked, skip=())  # as publish_final does: everything, hard-linked
    assert (linked / "rl_curves.json").stat().st_ino == (first / "rl_curves.json").stat().st_ino
    write_curves([{"iteration": 1, "reward/all": 0.75}], linked)
    write_new(linked / "distill.json", '{"method": "reflow"}')
    assert "0.25" in (first / "rl_curves.json").read_text() and "0.75" in (linked / "rl_curves.json").read_text()
    assert (first / "distill.json").read_text() == "{}"
    assert not list(linked.glob(".tmp-*"))
