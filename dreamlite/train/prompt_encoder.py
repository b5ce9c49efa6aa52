"""`dreamlite train-prompt-encoder`: a tiny Qwen3-VL prompt encoder trained on ShapesWorld text, for a recipe's
`model.prompt_encoder.path` (frozen from then on, like the VAE of `dreamlite train-vae`).

Why: the U-Net's cross-attention has no notion of token order, so which colour goes with which shape ("a red circle
and a blue square") and which object a relation points at ("... left of ...") must be in the prompt encoder's
token states. A frozen random tiny Qwen3-VL leaves them there at a few percent of each state's size (a token is
mostly its own word), and in edit mode its random attention over the 256 source-image tokens adds an
image-dependent shift of 30 to 40% of their size. The U-Net trained on such states ignores word order: its
loss does not change when a prompt's colours or its relation are swapped (benchmarks/prompt_binding.py --losses).

What: every output state (the last hidden state, exactly what the pipeline hands the U-Net) is trained to predict
its neighbouring tokens, the next one and the `offsets` before it, through one linear head per offset (thrown
away afterwards). A state that can name the words just before it carries its local phrase: "square" carries
"blue", "of" carries "red circle left". Edit-mode batches (instruction plus source image, the vision tower
frozen) teach the text states to keep the image out of them. Only the tokens the U-Net sees (after the
template prefix the pipeline drops) are scored, and image tokens are never a target. The output folder holds
text_encoder/, tokenizer/ and processor/ as in a pipeline, plus train_prompt_encoder.json (settings, losses).

`anchor` > 0 also pulls every scored state towards the one the encoder gave before training (its random
initialisation, seeded as a recipe's model.prompt_encoder builds it), by `anchor` times their squared distance
relative to the initial states' mean squared size. A U-Net already trained on the random encoder (the bundled
shapes-base) then meets states it knows, with the neighbour words added as a small residual, instead of states it
must learn to read from scratch.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..text.templates import wrap_edit, wrap_generate
from .data.base import stable_seed


@dataclass
class PromptEncoderTrainConfig:
    # the encoder: a tiny Qwen3-VL as a recipe's model.prompt_encoder builds it (tokenizer from ShapesWorld text)
    hidden_size: int = 64
    layers: int = 2
    vocab_size: int = 512
    corpus_items: int = 3000
    seed: int = 0
    # its training
    steps: int = 1000
    batch: int = 64  # texts per step
    edit_share: float = 0.25  # share of each batch in edit mode (instruction + source image)
    lr: float = 3.0e-3
    warmup_steps: int = 100
    offsets: tuple[int, ...] = (1, -1, -2, -3, -4)  # which neighbours each state predicts (+1: the next token)
    anchor: float = 0.0  # weight of the pull towards the initial (random) states; 0: none

    def check(self) -> None:
        if self.steps < 1 or self.batch < 1 or not 0.0 <= self.edit_share <= 1.0 or self.lr <= 0 or self.anchor < 0:
            raise ValueError("need steps >= 1, batch >= 1, 0 <= edit_share <= 1, lr > 0 and anchor >= 0")
        if not self.offsets or 0 in self.offsets:
            raise ValueError("offsets: need at least one, none of them 0")


def neighbour_targets(ids: torch.Tensor, scored: torch.Tensor, offset: int, ignore: int = -100) -> torch.Tensor:
    """Token ids `offset` positions away from each position, `ignore` where the neighbour is out of the row or
    not scored, or where the position itself is not scored."""
    shifted = torch.full_like(ids, ignore)
    ok = torch.zeros_like(scored)
    if offset > 0:
        shifted[:, :-offset], ok[:, :-offset] = ids[:, offset:], scored[:, offset:]
    else:
        shifted[:, -offset:], ok[:, -offset:] = ids[:, :offset], scored[:, :offset]
    return shifted.masked_fill(~(ok & scored), ignore)


class TextBatches:
    """Seeded ShapesWorld prompts in the pipeline's templates: model inputs plus which positions are scored."""

    def __init__(self, encoder, seed: int, edit_share: float, batch: int):
        from ..shapes.dataset import ShapesStream

        self.encoder, self.batch = encoder, batch
        self.n_edit = round(batch * edit_share) if encoder.processor is not None else 0
        self.t2i = ShapesStream(seed=stable_seed(seed, "prompt-pretrain", "t2i"), task_weights={"edit": 0.0},
                                format="numpy")
        self.edit = ShapesStream(seed=stable_seed(seed, "prompt-pretrain", "edit"), task_weights={"t2i": 0.0},
                                 format="numpy")
        self.image_token = encoder.tokenizer.convert_tokens_to_ids("<|image_pad|>")

    def get(self, step: int) -> list[tuple[dict, torch.Tensor]]:
        """The step's batch as (inputs, scored mask) per mode."""
        n_gen = self.batch - self.n_edit
        out = []
        if n_gen:
            prompts = [wrap_generate(self.t2i.item(step * n_gen + i)["prompt"]) for i in range(n_gen)]
            out.append(self._scored(*self.encoder.prepare(prompts, "generate")))
        if self.n_edit:
            items = [self.edit.item(step * self.n_edit + i) for i in range(self.n_edit)]
            prompts, images = [wrap_edit(it["prompt"]) for it in items], [Image.fromarray(it["source"]) for it in items]
            out.append(self._scored(*self.encoder.prepare(prompts, "edit", images)))
        return out

    def _scored(self, inputs: dict, drop: int) -> tuple[dict, torch.Tensor]:
        scored = inputs["attention_mask"].bool() & (inputs["input_ids"] != self.image_token)
        scored[:, :drop] = False
        return inputs, scored


def pretrain_prompt_encoder(encoder, spec: PromptEncoderTrainConfig, progress: bool = True) -> dict[str, float]:
    """Train `encoder`'s language model in place (see the module docstring); returns the final losses per offset.
    The vision tower stays as it is. Deterministic for a given (seed, spec) on one machine."""
    from tqdm import tqdm

    model = encoder.model
    initial = copy.deepcopy(model).eval().requires_grad_(False) if spec.anchor > 0 else None
    torch.manual_seed(stable_seed(spec.seed, "prompt-pretrain", "heads") % 2**63)
    width, vocab = encoder.hidden_size, len(encoder.tokenizer)
    heads = torch.nn.ModuleDict({str(o): torch.nn.Linear(width, vocab) for o in spec.offsets})
    language = model.model.language_model
    model.requires_grad_(False)
    language.requires_grad_(True)
    params = list(language.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=spec.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, spec.warmup_steps)) * max(0.0, 1 - s / spec.steps))
    batches = TextBatches(encoder, spec.seed, spec.edit_share, spec.batch)
    model.train()
    recent: dict[str, list[float]] = {str(o): [] for o in spec.offsets}
    if initial is not None:
        recent["anchor"] = []
    bar = tqdm(range(spec.steps), desc="prompt encoder", unit="step", disable=not progress)
    for step in bar:
        total = 0.0
        for inputs, scored in batches.get(step):
            hidden = model(**inputs, output_hidden_states=True).hidden_states[-1][scored]  # (N, width)
            for o in spec.offsets:
                target = neighbour_targets(inputs["input_ids"], scored, o)[scored]
                loss = F.cross_entropy(heads[str(o)](hidden), target, ignore_index=-100)
                total = total + loss / len(spec.offsets)
                recent[str(o)] = (recent[str(o)] + [loss.item()])[-50:]
            if initial is not None:
                with torch.no_grad():
                    before = initial(**inputs, output_hidden_states=True).hidden_states[-1][scored]
                drift = (hidden - before).pow(2).mean() / before.pow(2).mean()
                total = total + spec.anchor * drift
                recent["anchor"] = (recent["anchor"] + [drift.item()])[-50:]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{total.item():.3f}")
    model.eval().requires_grad_(False)
    return {o: sum(v) / len(v) for o, v in recent.items() if v}


def train_prompt_encoder(config: PromptEncoderTrainConfig, out: str | Path, log=print) -> Path:
    """Build the tiny encoder, train it and write `out` (replaced whole once training is done)."""
    from .components import tiny_prompt_encoder
    from .recipe import PromptEncoderSpec

    config.check()
    out = Path(out)
    spec = PromptEncoderSpec(hidden_size=config.hidden_size, layers=config.layers, vocab_size=config.vocab_size,
                             corpus_items=config.corpus_items)
    encoder = tiny_prompt_encoder(spec, config.seed)
    log(f"# dreamlite train-prompt-encoder\n{json.dumps(asdict(config), indent=2)}\n"
        f"Qwen3-VL language model: {sum(p.numel() for p in encoder.model.model.language_model.parameters()):,} "
        "parameters trained, vision tower frozen")
    losses = pretrain_prompt_encoder(encoder, config)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    encoder.save_pretrained(tmp)
    (tmp / "train_prompt_encoder.json").write_text(
        json.dumps({"config": asdict(config), "final_losses": losses}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log("losses at the end (offsets; anchor: relative squared drift): "
        + ", ".join(f"{o}: {v:.3f}" for o, v in losses.items()) + f"\nwrote {out}")
    return out
