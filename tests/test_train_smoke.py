"""End to end: the loss falls on ShapesWorld, LoRA stages, file sources with buckets and the cache, train-vae,
the ablation command, and one training step of the full 0.39B architecture."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dreamlite.loading import load_components
from dreamlite.train.data import build_source
from dreamlite.train.encode import Conditioner
from dreamlite.train.recipe import StageSpec, TimestepSpec
from dreamlite.train.stages import FlowMatchingStage

from .test_train_resume import REPO, UNET_FILE, env, run_train, train_command


@torch.no_grad()
def held_out_loss(folder, items: int = 16) -> float:
    """Velocity MSE of a pipeline's U-Net on fixed unseen T2I items at fixed times, noise and no dropout."""
    components = load_components(folder)
    conditioner = Conditioner(components.vae, components.prompt_encoder, torch.device("cpu"), torch.float32)
    source = build_source({"kind": "shapes", "size": 32}, "t2i", seed=12345, where="held-out")
    spec = StageSpec(name="eval", steps=1, batch=items, mixture={"t2i": 1.0}, data={},
                     timesteps=TimestepSpec(sampler="uniform"))
    spec.dropout.text = 0.0
    stage = FlowMatchingStage(spec, 0, 0, conditioner, components.schedule)
    samples = []
    for k in range(items):
        item = source.item(k)
        samples.append({"step": 0, "slot": k, "task": "t2i", "size": (32, 32), "prompt": item["prompt"],
                        "target": torch.from_numpy(np.asarray(item["target"], dtype=np.float32) / 127.5 - 1)
                        .permute(2, 0, 1)})
    loss, _ = stage.loss(components.unet.eval(), samples)
    return float(loss)


def test_loss_falls_on_shapesworld(tmp_path):
    out = tmp_path / "run"
    run_train(out, "--set", "stages=[{name: t2i, steps: 40, mixture: {t2i: 1.0}}]", "--set", "stage_defaults.batch=8",
              "--set", "stage_defaults.optimizer.lr=0.003", "--set", "run.save_every=100")
    before, after = held_out_loss(out / "init"), held_out_loss(out / "final")
    assert after < 0.7 * before, f"held-out loss {before:.4f} -> {after:.4f}"
    logs = list((out / "logs").glob("events.out.tfevents.*"))
    assert logs and logs[0].stat().st_size > 0


def test_lora_stage_writes_merged_unet_and_adapters(tmp_path):
    out = tmp_path / "run"
    run_train(out, "--set", "stages=[{name: style, steps: 3, mixture: {t2i: 1.0}, lora: {rank: 4, alpha: 4.0}}]",
              "--set", "stage_defaults.optimizer.lr=0.01")
    adapters = load_file(out / "style" / "lora" / "adapter_model.safetensors")
    assert adapters and all("lora_" in k for k in adapters)
    assert json.loads((out / "style" / "lora" / "adapter_config.json").read_text())["r"] == 4
    before, after = load_file(out / "init" / UNET_FILE), load_file(out / "final" / UNET_FILE)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight"))
                           for k in changed)


def test_files_with_buckets_and_cache(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    t2i, edit = [], []
    for i in range(6):
        size = (64, 64) if i % 2 else (96, 64)
        Image.new("RGB", size, (40 * i, 255 - 40 * i, 80)).save(data / f"{i}.png")
        t2i.append({"image": f"{i}.png", "caption": f"a picture number {i}"})
        if i < 4:
            edit.append({"source": f"{i}.png", "instruction": f"make it number {i + 1}", "target": f"{i + 1}.png"})
    (data / "t2i.jsonl").write_text("".join(json.dumps(r) + "\n" for r in t2i))
    (data / "edit.jsonl").write_text("".join(json.dumps(r) + "\n" for r in edit))
    out = tmp_path / "run"
    stages = ("stages=[{name: joint, steps: 4, mixture: {t2i: 0.5, edit: 0.5}, buckets: [[32, 32], [48, 32]], "
              "data: {t2i: {pics: 1.0}, edit: {pairs: 1.0}}}]")
    sources = (f"sources={{pics: {{kind: files, path: {data / 't2i.jsonl'}}}, "
               f"pairs: {{kind: files, task: edit, path: {data / 'edit.jsonl'}}}}}")
    result = run_train(out, "--set", stages, "--set", sources, "--set", "run.cache={dtype: float32}")
    assert "@ 48x32" in result.stdout and "caching latents and prompt embeddings of pics" in result.stdout
    shards = sorted(p.relative_to(out / "cache").as_posix() for p in (out / "cache").rglob("*.safetensors"))
    assert any("/32x32/" in s for s in shards) and any("/48x32/" in s for s in shards)
    assert any(s.startswith("pairs-edit") for s in shards)
    # DataLoader workers assemble cached micro-batches themselves (CachedBatcher): the same weights as in-process.
    workers = tmp_path / "workers"
    run_train(workers, "--set", stages, "--set", sources, "--set", "run.cache={dtype: float32}",
              "--set", "run.num_workers=2")
    assert (workers / "joint" / UNET_FILE).read_bytes() == (out / "joint" / UNET_FILE).read_bytes()


def test_train_vae_writes_a_loadable_autoencoder_and_resumes(tmp_path):
    from diffusers import AutoencoderTiny

    from dreamlite.train.vae import VAETrainConfig, train_vae

    config = VAETrainConfig(steps=2, batch=2, size=32, channels=8, save_every=1)
    train_vae(config, tmp_path / "vae", log=lambda *a: None)
    vae = AutoencoderTiny.from_pretrained(tmp_path / "vae")
    assert vae.config.latent_channels == 4 and vae.config.scaling_factor == 1.0
    assert vae.encode(torch.zeros(1, 3, 32, 32)).latents.shape == (1, 4, 4, 4)
    messages = []
    train_vae(VAETrainConfig(steps=3, batch=2, size=32, channels=8, save_every=1), tmp_path / "vae",
              log=messages.append)
    assert any("resuming VAE training at step 2/3" in m for m in messages)


def test_train_vae_decoder_only_keeps_the_encoder_and_its_latents(tmp_path):
    from diffusers import AutoencoderTiny

    from dreamlite.train.vae import VAETrainConfig, train_vae

    quiet = dict(log=lambda *a: None)
    train_vae(VAETrainConfig(steps=2, batch=2, size=32, channels=8, save_every=2), tmp_path / "base", **quiet)
    # A different image size than the base was trained at, as when a 64-px VAE learns to decode at 96 px.
    config = VAETrainConfig(steps=3, batch=2, size=48, lr=1e-2, save_every=3, init=str(tmp_path / "base"),
                            decoder_only=True)
    train_vae(config, tmp_path / "decoder", **quiet)
    base, tuned = (load_file(tmp_path / name / "diffusion_pytorch_model.safetensors") for name in ("base", "decoder"))
    assert base.keys() == tuned.keys()
    assert all(torch.equal(base[k], tuned[k]) for k in base if k.startswith("encoder."))
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k.startswith("decoder."))
    assert AutoencoderTiny.from_pretrained(tmp_path / "decoder").config.encoder_block_out_channels[0] == 8
    with pytest.raises(ValueError, match="needs --init"):
        train_vae(VAETrainConfig(steps=1, batch=2, size=32, channels=8, decoder_only=True), tmp_path / "x", **quiet)
    with pytest.raises(FileNotFoundError, match="not an AutoencoderTiny folder"):
        train_vae(VAETrainConfig(steps=1, init=str(tmp_path / "missing"), decoder_only=True), tmp_path / "x", **quiet)


def test_ablation_writes_a_table(tmp_path):
    out = tmp_path / "ablation"
    command = [sys.executable, "-m", "dreamlite.cli", "ablation", "--recipe", "smoke", "--steps", "6",
               "--bench-items", "1", "--sample-steps", "2", "--out", str(out)]
    result = subprocess.run(command, cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    table = (out / "ablation.md").read_text()
    assert "| progressive (t2i, edit, joint) |" in table and "| joint from scratch |" in table
    results = json.loads((out / "ablation.json").read_text())["results"]
    assert set(results) == {"progressive (t2i, edit, joint)", "joint from scratch"}
    assert all("generation" in r and "editing" in r for r in results.values())
    assert all((out / "progressive" / stage / "model_index.json").is_file() for stage in ("t2i", "edit", "joint"))
    assert (out / "joint" / "final" / "model_index.json").is_file()


def test_full_architecture_takes_a_training_step_with_checkpointing():
    """The published 0.39B U-Net: one step at 64x64 pixels (in-context latent 8x16), batch 1, with gradient
    checkpointing, and random 2048-d prompt embeddings in place of Qwen3-VL. Plain SGD keeps it cheap: AdamW's
    3 GB of fresh state costs another ~20 s of page faults here; benchmarks/bench_train_memory.py runs AdamW."""
    from dreamlite.models.config import get_unet_config
    from dreamlite.models.unet import DreamLiteUNet
    from dreamlite.train.loss import flow_matching_loss

    torch.manual_seed(0)
    unet = DreamLiteUNet(get_unet_config("dreamlite-0.39b")).train().enable_gradient_checkpointing()
    assert unet.num_parameters() == 389_968_388
    optimizer = torch.optim.SGD(unet.parameters(), lr=1e-4)
    target, noise = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    loss = flow_matching_loss(unet, target, torch.zeros_like(target), noise, torch.tensor([0.5]),
                              torch.randn(1, 16, 2048), torch.ones(1, 16), torch.tensor([[64.0, 64.0]])).mean()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
    before = unet.conv_out.weight.detach().clone()
    optimizer.step()
    assert torch.isfinite(loss) and torch.isfinite(norm) and norm > 0
    assert not torch.equal(before, unet.conv_out.weight)
    assert all(p.grad is not None for p in unet.parameters())


@pytest.fixture(autouse=True)
def _restore_torch_state():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_cache_workers_write_the_same_shards(tmp_path):
    """Shards filled by CPU worker processes hold what the training process itself would have written."""
    stages = ("stages=[{name: joint, steps: 1, mixture: {t2i: 0.5, edit: 0.5}, "
              "data: {t2i: {pool: 1.0}, edit: {edits: 1.0}}}]")
    sources = "sources={pool: {kind: shapes, size: 32, items: 300}, edits: {kind: shapes, size: 32, items: 40}}"
    shards = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        run_train(out, "--set", stages, "--set", sources, "--set", f"run.cache={{dtype: float32, workers: {workers}}}")
        files = sorted((out / "cache").rglob("*.safetensors"))
        shards[workers] = {p.relative_to(out / "cache").as_posix(): load_file(p) for p in files}
    assert len(shards[0]) == 3 and shards[0].keys() == shards[2].keys()  # pool: 2 shards of 256, edits: 1
    for name, tensors in shards[0].items():
        assert tensors.keys() == shards[2][name].keys()
        for key, value in tensors.items():
            torch.testing.assert_close(shards[2][name][key], value, rtol=1e-5, atol=1e-5, msg=f"{name}:{key}")


def test_cache_workers_fill_shards_under_a_low_open_file_limit(tmp_path):
    """A worker's shard goes back by value: sent as shared-memory tensors, each row took a file descriptor, so a
    256-item shard under a soft limit of 256 open files failed in the worker and the pool waited for it forever."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
    stages = "stages=[{name: t2i, steps: 1, mixture: {t2i: 1.0}, data: {t2i: {pool: 1.0}}}]"
    sources = "sources={pool: {kind: shapes, size: 32, items: 300}}"
    command = train_command(tmp_path / "run", "--set", stages, "--set", sources,
                            "--set", "run.cache={dtype: float32, workers: 1}")
    result = subprocess.run(command, cwd=REPO, env=env(), capture_output=True, text=True, timeout=180,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "run" / "cache").rglob("*.safetensors"))) == 2  # 256 + 44 items
