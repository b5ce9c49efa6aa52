"""`dreamlite train-prompt-encoder` (dreamlite/train/prompt_encoder.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from dreamlite.cli import main
from dreamlite.train.prompt_encoder import neighbour_targets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_neighbour_targets_stay_inside_the_scored_tokens():
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    scored = torch.tensor([[False, True, True, True, False]])
    assert neighbour_targets(ids, scored, 1).tolist() == [[-100, 7, 8, -100, -100]]
    assert neighbour_targets(ids, scored, -1).tolist() == [[-100, -100, 6, 7, -100]]
    assert neighbour_targets(ids, scored, -2).tolist() == [[-100, -100, -100, 6, -100]]


def test_training_puts_context_in_and_keeps_the_image_out(tmp_path):
    """The trained encoder (loaded back as a recipe would) against the random one it started from."""
    from prompt_binding import measure

    from dreamlite.train.components import load_prompt_encoder, tiny_prompt_encoder
    from dreamlite.train.recipe import PromptEncoderSpec

    out = tmp_path / "encoder"
    assert main(["train-prompt-encoder", "--out", str(out), "--steps", "120", "--batch", "12", "--lr", "5e-3",
                 "--vocab-size", "320"]) == 0
    assert {p.name for p in out.iterdir()} >= {"text_encoder", "tokenizer", "processor", "train_prompt_encoder.json"}
    trained = load_prompt_encoder(out)
    random = tiny_prompt_encoder(PromptEncoderSpec(vocab_size=320), seed=0)
    vision = dict(random.model.model.visual.named_parameters())
    assert all(torch.equal(p, vision[n]) for n, p in trained.model.model.visual.named_parameters())  # left alone
    assert trained.tokenizer.get_vocab() == random.tokenizer.get_vocab()
    before, after = (measure(e, items=6, readout_prompts=0) for e in (random, trained))  # readout: too slow here
    assert after["colour swap"] > 1.5 * before["colour swap"]
    assert after["image change"] < 0.5 * before["image change"]


def test_bad_settings_are_one_line_errors(tmp_path, capsys):
    assert main(["train-prompt-encoder", "--out", str(tmp_path / "x"), "--edit-share", "1.5"]) != 0
    assert "edit_share" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_anchor_keeps_the_states_near_the_random_ones():
    """With `anchor`, the trained states stay close to the untrained encoder's (what a U-Net trained on the random
    encoder reads), while they still learn to name their neighbours."""
    from dreamlite.train.components import tiny_prompt_encoder
    from dreamlite.train.prompt_encoder import PromptEncoderTrainConfig, pretrain_prompt_encoder
    from dreamlite.train.recipe import PromptEncoderSpec

    prompts = ["a red circle and a blue square", "two green triangles", "a yellow star left of a purple circle"]
    random = tiny_prompt_encoder(PromptEncoderSpec(vocab_size=320), seed=0)
    with torch.no_grad():
        before, mask = random.encode(prompts, "generate")

    def drift(anchor: float):
        encoder = tiny_prompt_encoder(PromptEncoderSpec(vocab_size=320), seed=0)
        spec = PromptEncoderTrainConfig(vocab_size=320, steps=80, batch=8, lr=5e-3, edit_share=0.0, anchor=anchor)
        losses = pretrain_prompt_encoder(encoder, spec, progress=False)
        with torch.no_grad():
            after, _ = encoder.encode(prompts, "generate")
        m = mask.bool()
        return ((after - before)[m].pow(2).mean() / before[m].pow(2).mean()).item(), losses

    free, free_losses = drift(0.0)
    held, held_losses = drift(1.0)

    assert "anchor" in held_losses and "anchor" not in free_losses
    assert held < 0.4 * free
    assert held_losses["-1"] < 0.6 * math.log(320)  # still learns its neighbours (chance: log of the vocabulary)
