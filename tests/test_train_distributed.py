"""Two processes (torchrun, gloo on CPU), or gradient accumulation, give the weights of one process with the same
global batch."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import torch
from safetensors.torch import load_file

from .test_train_resume import REPO, UNET_FILE, env, run_train

ONE_STAGE = "stages=[{name: joint, steps: 4, mixture: {t2i: 0.5, edit: 0.5}}]"
# A larger Adam eps keeps updates continuous in the gradient: with the default 1e-8 a gradient that is zero up
# to rounding turns into a full +-lr step whose sign depends on summation order.
SETTINGS = ("--set", ONE_STAGE, "--set", "stage_defaults.optimizer.eps=0.01", "--set", "stage_defaults.batch=4")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_two_processes_match_one(tmp_path):
    single = tmp_path / "single"
    run_train(single, *SETTINGS)
    init = tmp_path / "shared-init"  # the same starting pipeline (its tokenizer is learned, so build it once)
    shutil.copytree(single / "init", init)

    double = tmp_path / "double"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(free_port()), "-m", "dreamlite.cli", "train", "smoke", "--out", str(double),
               *SETTINGS, "--set", f"model.init={init}", "--save-every", "2"]
    result = subprocess.run(command, cwd=REPO, env=env(), capture_output=True, text=True, timeout=240,
                            start_new_session=True)  # its own session: nothing it signals can reach this worker
    assert result.returncode == 0, f"torchrun failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "batch 4 = 2 process(es) x 1 accumulation x 2" in result.stdout

    start = load_file(single / "init" / UNET_FILE)
    one, two = load_file(single / "final" / UNET_FILE), load_file(double / "final" / UNET_FILE)
    moved = max_difference(one, start)
    assert moved > 1e-3, "training should have changed the weights"
    assert max_difference(one, two) < 1e-5, "EMA weights differ between 1 and 2 processes"
    raw_one = load_file(single / "checkpoints" / "stage00-step00000004" / "model.safetensors")
    raw_two = load_file(double / "checkpoints" / "stage00-step00000004" / "model.safetensors")
    assert max_difference(raw_one, raw_two) < 1e-5
    # Both processes wrote their RNG state; only the main one wrote weights.
    assert (double / "checkpoints" / "stage00-step00000004" / "rng-rank1.pt").is_file()
    assert torch.equal(load_file(single / "init" / UNET_FILE)["conv_in.weight"],
                       load_file(double / "init" / UNET_FILE)["conv_in.weight"])

    # Two processes resume from a mid-stage checkpoint (each maps the saved state onto its own device).
    shutil.rmtree(double / "joint")
    shutil.rmtree(double / "final")
    shutil.rmtree(double / "checkpoints" / "stage00-step00000004")
    command[command.index("--master-port") + 1] = str(free_port())
    result = subprocess.run(command, cwd=REPO, env=env(), capture_output=True, text=True, timeout=240,
                            start_new_session=True)
    assert result.returncode == 0, f"torchrun resume failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "resuming stage 1/1 'joint' at step 2/4" in result.stdout
    assert max_difference(load_file(double / "final" / UNET_FILE), two) < 1e-6


def test_gradient_accumulation_matches_one_batch(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    run_train(whole, *SETTINGS)
    init = tmp_path / "shared-init"
    shutil.copytree(whole / "init", init)
    result = run_train(split, *SETTINGS, "--set", "stage_defaults.micro_batch=1", "--set", f"model.init={init}")
    assert "batch 4 = 1 process(es) x 4 accumulation x 1" in result.stdout
    assert max_difference(load_file(whole / "final" / UNET_FILE), load_file(split / "final" / UNET_FILE)) < 1e-5
