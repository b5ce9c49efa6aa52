"""The rl stage end to end on the smoke recipe's tiny random model: a SIGKILLed run resumes to bit-identical
weights and curves, 2 processes (torchrun, gloo) match 1, AWM runs too, and bad RL settings are one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dreamlite.train.config import RecipeError
from dreamlite.train.recipe import load_recipe

from .test_train_distributed import free_port, max_difference
from .test_train_resume import REPO, UNET_FILE, env, kill_when

SETTINGS = ("--set", 'stages.0.rl.rewards=[{name: "tests.rl_plugins:Brightness"}]')


def command(out: Path, *args: str) -> list[str]:
    return ["-m", "dreamlite.cli", "train", "smoke-rl", "--out", str(out), *SETTINGS, *args]


def run(out: Path, *args: str, launcher: tuple[str, ...] = ()) -> str:
    result = subprocess.run([sys.executable, *launcher, *command(out, *args)], cwd=REPO, env=env(),
                            capture_output=True, text=True, timeout=300, start_new_session=True)
    assert result.returncode == 0, f"rl training failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def curves(out: Path) -> list[dict]:
    return json.loads((out / "rl" / "rl_curves.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rl-uninterrupted")
    run(out, "--save-every", "1")
    return out


def test_rl_run_trains_logs_and_plots(uninterrupted):
    start, end = load_file(uninterrupted / "init" / UNET_FILE), load_file(uninterrupted / "final" / UNET_FILE)
    assert max_difference(start, end) > 1e-4, "RL should have changed the weights"
    rows = curves(uninterrupted)
    steps = [r for r in rows if "held_out" not in r]
    assert [r["iteration"] for r in steps] == list(range(1, 9))  # a row per optimizer step
    rollouts = [r for r in steps if "reward/all" in r]
    assert [r["iteration"] for r in rollouts] == [1, 5]  # a rollout batch serves 2 minibatches x 2 epochs
    assert all(r["signal_groups"] == 1.0 and 0 < r["reward/all"] < 1 for r in rollouts)
    assert all(r["loss"] == r["loss"] and r["drift"] >= 0 for r in steps)
    assert [r["iteration"] for r in rows if "held_out" in r] == [0, 4, 8]  # before, every 4, and at the end
    assert "generation/overall" in rows[0]["held_out"] and "editing/overall" in rows[0]["held_out"]
    assert (uninterrupted / "rl" / "rl_curves.png").stat().st_size > 10_000
    assert list((uninterrupted / "logs").glob("events.out.tfevents.*"))


def test_sigkill_and_rerun_give_bit_identical_weights_and_curves(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    # Step 1 is mid-iteration: the resumed run must train steps 2-4 on the checkpointed rollout batch.
    marker = out / "checkpoints" / "stage00-step00000001" / "trainer_state.json"
    kill_when([sys.executable, *command(out, "--save-every", "1")], marker.is_file)
    assert not (out / "final").exists()
    log = run(out, "--save-every", "1")
    assert re.search(r"resuming stage 1/1 'rl' at step [123]/8", log), "should resume mid rollout batch"
    for folder in ("rl", "final"):
        assert (out / folder / UNET_FILE).read_bytes() == (uninterrupted / folder / UNET_FILE).read_bytes()
    assert curves(out) == curves(uninterrupted)


def test_two_processes_match_one(tmp_path):
    no_eval = ("--set", "stages.0.rl.held_out.every=0")
    single = tmp_path / "single"
    run(single, *no_eval)
    double = tmp_path / "double"
    log = run(double, *no_eval, "--set", f"model.init={single / 'init'}",
              launcher=("-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                        "--master-port", str(free_port())))
    assert "2 process(es)" in log
    one, two = load_file(single / "final" / UNET_FILE), load_file(double / "final" / UNET_FILE)
    assert max_difference(one, load_file(single / "init" / UNET_FILE)) > 1e-4
    assert max_difference(one, two) < 1e-5, "weights differ between 1 and 2 processes"
    rewards = lambda out: [r["reward/all"] for r in curves(out) if "reward/all" in r]  # noqa: E731
    assert len(rewards(single)) == 2 and rewards(double) == pytest.approx(rewards(single), abs=1e-6)  # whole groups


def test_awm_a_reference_kl_and_guided_training_are_recipe_choices(tmp_path):
    out = tmp_path / "awm"
    run(out, "--set", "stages.0.rl.algorithm=awm", "--set", "stages.0.rl.held_out.every=0", "--set", "stages.0.steps=2",
        "--set", "stages.0.rl.minibatches=1", "--set", "stages.0.rl.epochs=1",  # and a rollout every step
        "--set", "stages.0.rl.kl_reference=0.5", "--set", "stages.0.rl.train_guided=true")
    assert max_difference(load_file(out / "init" / UNET_FILE), load_file(out / "final" / UNET_FILE)) > 1e-4
    rows = curves(out)
    assert rows[0]["drift_reference"] == 0.0 < rows[1]["drift_reference"]  # the first step starts at the reference


@pytest.mark.parametrize("override, message", [
    ("stages.0.rl.algorithm=ppo", "rl.algorithm: expected one of nft, awm"),
    ("stages.0.rl.group=1", "rl.group: needs at least 2"),
    ("stages.0.rl.held_out.split_seed=0", "0 is the public eval split"),
    ("stages.0.rl.minibatches=3", "rl.minibatches: 3 does not divide batch 2"),
    ("stages.0.micro_batch=1", "leave micro_batch unset"),
    ("stages.0.kind=flow_matching", "only a stage of kind rl takes RL settings"),
    ("stages.0.kind=ppo", "kind: expected one of flow_matching, rl, distill"),
])
def test_bad_rl_settings_are_one_line_errors(override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe("smoke-rl", [override])
