"""Resuming: `kill -9` during training, then the same command again, gives bit-identical weights.

Runs `dreamlite train smoke` in subprocesses (CPU, deterministic), once uninterrupted and once killed with SIGKILL
inside a stage or right at a stage boundary, and compares every stage's U-Net safetensors byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNET_FILE = "unet/diffusion_pytorch_model.safetensors"
STAGES = ("t2i", "edit", "joint", "sft")


def env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def train_command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dreamlite.cli", "train", "smoke", "--out", str(out), *args]


def run_train(out: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    result = subprocess.run(train_command(out, *args), cwd=REPO, env=env(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"dreamlite train failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def kill_when(command: list[str], condition, stdout=subprocess.DEVNULL, timeout: float = 240) -> None:
    """Start `command`, poll `condition()` every 10 ms, and SIGKILL the process once it holds."""
    process = subprocess.Popen(command, cwd=REPO, env=env(), stdout=stdout, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if process.poll() is not None:
                raise AssertionError(f"the run ended before the kill point:\n{process.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("the kill point was never reached")
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL


def run_until(out: Path, condition, *args: str, timeout: float = 120) -> None:
    """Start training and SIGKILL it once `condition(out)` holds."""
    kill_when(train_command(out, *args), lambda: condition(out), timeout=timeout)


def checkpoint_names(out: Path) -> list[str]:
    folder = out / "checkpoints"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def unet_bytes(folder: Path) -> bytes:
    return (folder / UNET_FILE).read_bytes()


# ---- tests -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    run_train(out)
    return out


def assert_same_weights(resumed: Path, reference: Path) -> None:
    for stage in STAGES + ("final",):
        assert unet_bytes(resumed / stage) == unet_bytes(reference / stage), f"{stage} differs after resuming"


def test_kill_inside_a_stage_resumes_bit_identically(uninterrupted, tmp_path):
    out = tmp_path / "run"
    # Stage 2 ('edit') has checkpointed step 3 of 6: kill it there, mid-stage.
    run_until(out, lambda o: "stage01-step00000003" in checkpoint_names(o))
    assert not (out / "edit").exists()
    result = run_train(out)
    assert "resuming stage 2/4 'edit' at step 3/6" in result.stdout
    assert "stage 1/4 't2i' already done" in result.stdout
    assert_same_weights(out, uninterrupted)


def test_kill_at_a_stage_boundary_resumes_bit_identically(uninterrupted, tmp_path):
    out = tmp_path / "run"
    # The moment stage 1's pipeline folder exists, before stage 2 has saved anything.
    run_until(out, lambda o: (o / "t2i").is_dir())
    assert not any(name.startswith("stage01") for name in checkpoint_names(out))
    result = run_train(out)
    assert "starting stage 2/4 'edit'" in result.stdout
    assert_same_weights(out, uninterrupted)


def test_smoke_result_is_a_pipeline_that_generates_and_edits(uninterrupted):
    from dreamlite import DreamLite

    for stage in STAGES + ("final",):
        assert (uninterrupted / stage / "model_index.json").is_file()
        assert (uninterrupted / stage / "train_recipe.yaml").is_file()
    assert sorted(checkpoint_names(uninterrupted)) == ["stage03-step00000003", "stage03-step00000004"]  # keep 2
    pipe = DreamLite.from_pretrained(uninterrupted / "final", device="cpu")
    image = pipe.generate("a red circle at the top left", steps=2, seed=0)[0]
    edited = pipe.edit(image, "make the circle blue", steps=2, seed=0)[0]
    assert image.size == edited.size == (32, 32)


def test_smoke_result_loads_in_diffusers(uninterrupted):
    import torch
    from diffusers import DreamLitePipeline

    from dreamlite import DreamLite

    from .helpers import real_qwen3vl_processor

    ours = DreamLite.from_pretrained(uninterrupted / "final", device="cpu")
    encoder = ours.prompt_encoder
    processor = real_qwen3vl_processor(encoder.processor.image_processor, encoder.tokenizer)
    pipe = DreamLitePipeline.from_pretrained(uninterrupted / "final", processor=processor)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt="a red circle", height=32, width=32, num_inference_steps=2,
               generator=torch.Generator("cpu").manual_seed(0)).images[0]
    assert out.size == (32, 32)


def test_stage_pipelines_hold_the_ema_weights(uninterrupted):
    from safetensors.torch import load_file

    ema = load_file(uninterrupted / "checkpoints" / "stage03-step00000004" / "ema.safetensors")
    raw = load_file(uninterrupted / "checkpoints" / "stage03-step00000004" / "model.safetensors")
    exported = load_file(uninterrupted / "sft" / UNET_FILE)
    assert all(exported[k].equal(ema[f"shadow.{k}"]) for k in exported)
    assert any(not exported[k].equal(raw[k]) for k in exported)


def test_stop_after_checkpoints_mid_stage_and_the_same_command_resumes(uninterrupted, tmp_path, monkeypatch):
    """`--stop-after`: once the time is up the current step is checkpointed (not only every save_every steps),
    train returns None, and the same command resumes to the uninterrupted weights."""
    import types

    from dreamlite.train import loop
    from dreamlite.train.recipe import load_recipe

    ticks = iter(range(10**6))  # a clock that advances one second each time the loop reads it
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=time.perf_counter,
                                                             monotonic=lambda: float(next(ticks))))
    out = tmp_path / "run"
    lines: list[str] = []
    # Reads: 0 at the start, then one at each stage start and after each step but a stage's last: t2i 1-6, edit
    # 7 (start), 8, 9, 10, 11 (after its 4th step, not a multiple of save_every = 3): the deadline.
    assert loop.train(load_recipe("smoke"), out, log=lines.append, stop_after=11) is None
    assert "time limit reached: stage 2/4 'edit' checkpointed at step 4/6" in "\n".join(lines)
    assert "stage01-step00000004" in checkpoint_names(out) and not (out / "edit").exists()
    result = run_train(out)
    assert "resuming stage 2/4 'edit' at step 4/6" in result.stdout
    assert_same_weights(out, uninterrupted)


def test_until_stops_after_the_named_stage_and_the_same_command_goes_on(uninterrupted, tmp_path):
    from dreamlite.train import loop
    from dreamlite.train.config import RecipeError
    from dreamlite.train.recipe import load_recipe

    out = tmp_path / "run"
    with pytest.raises(RecipeError, match="--until 'nope': the recipe's stages are t2i, edit, joint, sft"):
        loop.train(load_recipe("smoke"), out, until="nope")
    assert "stopped after stage 'edit' (--until)" in run_train(out, "--until", "edit").stdout
    assert (out / "edit").is_dir() and not (out / "joint").exists() and not (out / "final").exists()
    assert unet_bytes(out / "edit") == unet_bytes(uninterrupted / "edit")
    assert "stage 2/4 'edit' already done" in run_train(out).stdout
    assert_same_weights(out, uninterrupted)


def test_stage_folder_goes_on_from_a_copied_stage_as_the_whole_run_does(uninterrupted, tmp_path):
    from dreamlite.train import loop
    from dreamlite.train.config import RecipeError
    from dreamlite.train.recipe import load_recipe

    out = tmp_path / "run"
    with pytest.raises(RecipeError, match="--stage-folder 'nope': the recipe's stages are t2i, edit, joint, sft"):
        loop.train(load_recipe("smoke"), out, stage_folder=("nope", uninterrupted / "edit"))
    with pytest.raises(RecipeError, match="not a pipeline folder"):
        loop.train(load_recipe("smoke"), out, stage_folder=("edit", tmp_path))
    # The earlier stages and the initial pipeline are never built: only the copied stage feeds the next one.
    result = run_train(out, "--stage-folder", f"edit={uninterrupted / 'edit'}")
    assert "stage 1/4 't2i' not run: the run goes on from --stage-folder's 'edit'" in result.stdout
    assert "starting stage 3/4 'joint' from " in result.stdout
    assert not (out / "t2i").exists() and not (out / "init").exists()
    assert (out / "edit" / "adopted_from.txt").read_text().strip() == str((uninterrupted / "edit").resolve())
    for stage in ("joint", "sft", "final"):
        assert unet_bytes(out / stage) == unet_bytes(uninterrupted / stage), f"{stage} differs from the whole run"
        assert not (out / stage / "adopted_from.txt").exists()  # only the taken-in stage says so
