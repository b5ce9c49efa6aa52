"""The distill stage on the smoke recipe's tiny random model: the targets on hand-made numbers, the student's
sigmas are the mobile pipeline's, a run writes a mobile pipeline that diffusers' DreamLiteMobilePipeline loads
and samples like this project, SIGKILL (while making the teacher pool, then while training) and a rerun give
bit-identical weights, 2 processes (torchrun, gloo) match 1, and bad distill settings are one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dreamlite import DreamLite
from dreamlite.sampling import flow_sigmas
from dreamlite.train.config import RecipeError
from dreamlite.train.distill.losses import reflow_target, trajectory_target, velocity_mse
from dreamlite.train.distill.teacher import student_sigmas, teacher_sigmas
from dreamlite.train.recipe import load_recipe

from .helpers import random_image
from .test_pipeline_parity import load_diffusers, pixels
from .test_train_distributed import free_port, max_difference
from .test_train_resume import REPO, UNET_FILE, env, kill_when

POOL = Path("cache") / "distill" / "distill"
CHECKPOINT = Path("checkpoints") / "stage00-step00000001" / "trainer_state.json"


def command(out: Path, *args: str) -> list[str]:
    return ["-m", "dreamlite.cli", "train", "smoke-distill", "--out", str(out), "--save-every", "1", *args]


def run(out: Path, *args: str, launcher: tuple[str, ...] = ()) -> str:
    result = subprocess.run([sys.executable, *launcher, *command(out, *args)], cwd=REPO, env=env(),
                            capture_output=True, text=True, timeout=300, start_new_session=True)
    assert result.returncode == 0, f"distill training failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def kill_at(out: Path, marker: Path, log: Path) -> None:
    """Start the run (stdout to `log`) and SIGKILL it as soon as `marker` (under out) exists."""
    with open(log, "w") as stdout:
        kill_when([sys.executable, *command(out)], (out / marker).is_file, stdout=stdout)
    assert not (out / "final").exists()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distill-uninterrupted")
    run(out)
    return out


# ---- pure parts ---------------------------------------------------------------------------------------------
def test_trajectory_and_reflow_targets_on_hand_made_numbers():
    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])
    # Two samples, one latent cell: trajectories 8 -> 6 -> 5 -> 2 -> 1 and 0 -> 1 -> 1 -> 3 -> 4.
    trajectory = torch.tensor([[8.0, 6, 5, 2, 1], [0.0, 1, 1, 3, 4]]).view(2, 5, 1, 1, 1)
    x, sigma, target = trajectory_target(trajectory, sigmas, torch.tensor([0, 3]))
    assert x.flatten().tolist() == [8.0, 3.0] and sigma.tolist() == [1.0, 0.25]
    assert target.flatten().tolist() == [(8 - 6) / 0.25, (3 - 4) / 0.25]  # [8, -4]
    # One Euler step of the student with the target lands on the teacher's next point.
    landed = x + (sigmas[torch.tensor([1, 4])] - sigma).view(-1, 1, 1, 1) * target
    assert landed.flatten().tolist() == [6.0, 4.0]

    noise, x0 = torch.full((1, 1, 1, 1), 1.0), torch.full((1, 1, 1, 1), 3.0)
    x_t, target = reflow_target(noise, x0, torch.tensor([0.25]))
    assert x_t.item() == 0.75 * 3 + 0.25 * 1 and target.item() == 1 - 3
    mse = velocity_mse(torch.tensor([[[[1.0, 3.0]]], [[[0.0, 0.0]]]]), torch.tensor([[[[0.0, 1.0]]], [[[2.0, 0.0]]]]))
    assert mse.tolist() == [2.5, 2.0]


def test_student_sigmas_are_the_mobile_pipelines(monkeypatch):
    from dreamlite import pipeline
    from dreamlite.build import tiny_components

    used = []
    monkeypatch.setattr(pipeline, "flow_sigmas", lambda *a: used.append(flow_sigmas(*a)) or used[-1])
    pipe = DreamLite(tiny_components(variant="mobile"))
    pipe.generate("a red circle", height=32, width=32, seed=0)
    latent = 32 // pipe.vae_scale_factor
    assert torch.equal(student_sigmas((latent, latent), pipe.schedule), used[0]) and len(used[0]) == 5
    # The teacher's grid passes through the student's sigmas; at 28 steps it is the base pipeline's own.
    grid, stride = teacher_sigmas(28, (latent, latent), pipe.schedule)
    assert stride == 7 and torch.allclose(grid, flow_sigmas(28, latent, latent, pipe.schedule), atol=1e-7)
    assert torch.equal(grid[::7], used[0])
    grid, stride = teacher_sigmas(10, (latent, latent), pipe.schedule)  # rounded up to 12 = 4 x 3
    assert stride == 3 and len(grid) == 13 and torch.equal(grid[::3], used[0])


@pytest.mark.parametrize("override, message", [
    ("stages.0.distill.method=progressive", "distill.method: expected one of trajectory, reflow"),
    ("stages.0.distill.pool=0", "distill: pool and chunk must be >= 1"),
    ("stages.0.distill.teacher_steps=0", "distill.teacher_steps: must be >= 1"),
    ("stages.0.distill.guidance=0", "distill.guidance: must be > 0"),
    ("stages.0.distill.reflow_times=uniform", "reflow_times: expected one of timesteps, student"),
    ("stages.0.distill.steps=4", "distill: unknown field 'steps'"),
    ("stages.0.buckets=[[32, 32], [32, 64]]", "a distill stage trains at one size"),
    ("stages.0.kind=flow_matching", "only a stage of kind distill takes distill settings"),
    ("model.variant=mobile", "a distill stage needs a guided \\(base\\) input"),
])
def test_bad_distill_settings_are_one_line_errors(override, message):
    with pytest.raises(RecipeError, match=message) as err:
        load_recipe("smoke-distill", [override])
    assert "\n" not in str(err.value)


# ---- runs ---------------------------------------------------------------------------------------------------
def test_distill_run_writes_a_mobile_student(uninterrupted):
    start, end = load_file(uninterrupted / "init" / UNET_FILE), load_file(uninterrupted / "final" / UNET_FILE)
    assert max_difference(start, end) > 1e-4, "distillation should have changed the weights"
    for folder in ("distill", "final"):
        index = json.loads((uninterrupted / folder / "model_index.json").read_text())
        assert index["_class_name"] == "DreamLiteMobilePipeline"
    assert json.loads((uninterrupted / "init" / "model_index.json").read_text())["_class_name"] == "DreamLitePipeline"
    assert sorted(p.name for p in (uninterrupted / POOL).iterdir()) == [f"chunk-0000{i}.safetensors" for i in range(3)]
    pipe = DreamLite.from_pretrained(uninterrupted / "final")
    steps = []
    pipe.generate("a red circle", height=32, width=32, seed=0, callback=lambda i, x: steps.append(i))
    assert pipe.variant == "mobile" and steps == [0, 1, 2, 3]  # 4 steps by default, one branch (no guidance)


def test_student_matches_diffusers_mobile_pipeline(uninterrupted):
    folder = uninterrupted / "final"
    ours = DreamLite.from_pretrained(folder)
    theirs = load_diffusers("mobile", folder, ours)
    ref = theirs(prompt="a red circle", height=32, width=32, num_inference_steps=4,
                 generator=torch.Generator("cpu").manual_seed(7)).images[0]
    out = ours.generate("a red circle", height=32, width=32, seed=7)[0]
    assert out.size == ref.size == (32, 32) and pixels(out).std() > 1
    assert np.abs(pixels(out) - pixels(ref)).max() <= 2
    source = random_image(32, 64, seed=3)
    ref = theirs(prompt="make the circle blue", image=source, num_inference_steps=4,
                 generator=torch.Generator("cpu").manual_seed(11)).images[0]
    out = ours.edit(source, "make the circle blue", seed=11)[0]
    assert out.size == ref.size == (32, 64)
    assert np.abs(pixels(out) - pixels(ref)).max() <= 2


def test_sigkill_while_pooling_and_training_then_rerun_give_bit_identical_weights(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    kill_at(out, POOL / "chunk-00000.safetensors", tmp_path / "log-1")
    made = {p.name: p.stat().st_ino for p in (out / POOL).glob("chunk-*")}
    assert 1 <= len(made) <= 3
    kill_at(out, CHECKPOINT, tmp_path / "log-2")
    log = (tmp_path / "log-2").read_text()
    assert f"in 3 chunk(s), {len(made)} already there" in log
    assert all((out / POOL / name).stat().st_ino == inode for name, inode in made.items()), "chunks were remade"
    log = run(out)
    assert "in 3 chunk(s), 3 already there" in log and "made" not in log
    assert re.search(r"resuming stage 1/1 'distill' at step [1-5]/6", log)
    for folder in ("distill", "final"):
        assert (out / folder / UNET_FILE).read_bytes() == (uninterrupted / folder / UNET_FILE).read_bytes()


def test_two_processes_match_one(tmp_path, uninterrupted):
    double = tmp_path / "double"
    log = run(double, "--set", f"model.init={uninterrupted / 'init'}",
              launcher=("-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                        "--master-port", str(free_port())))
    assert "2 process(es)" in log
    assert "process 0 made 2 chunk(s)" in log and "process 1 made 1 chunk(s)" in log
    for name in (f"chunk-0000{i}.safetensors" for i in range(3)):  # each process made a share of the same pool
        one, two = load_file(uninterrupted / POOL / name), load_file(double / POOL / name)
        assert max_difference(one, two) < 1e-6, name
    one, two = load_file(uninterrupted / "final" / UNET_FILE), load_file(double / "final" / UNET_FILE)
    assert max_difference(one, two) < 1e-5, "weights differ between 1 and 2 processes"


def test_reflow_trains_on_the_same_pool(tmp_path, uninterrupted):
    out = tmp_path / "reflow"
    shutil.copytree(uninterrupted / "init", out / "init")  # the same teacher, so the copied pool is valid
    shutil.copytree(uninterrupted / POOL, out / POOL)
    log = run(out, "--set", "stages.0.distill.method=reflow", "--set", "stages.0.steps=2")
    assert "3 already there" in log and "made" not in log
    start, end = load_file(out / "init" / UNET_FILE), load_file(out / "final" / UNET_FILE)
    assert max_difference(start, end) > 1e-4
    assert json.loads((out / "final" / "distill.json").read_text())["method"] == "reflow"
