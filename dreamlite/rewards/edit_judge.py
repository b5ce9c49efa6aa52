"""A VLM judge as a reward: instruction following and preservation of the rest, each rated 1-5.

The judge is one of `dreamlite.evals.judges` (a local Qwen2.5-VL-class folder via `path`, or an OpenAI-compatible
endpoint via `url` + `model`), or any object with `ask(parts) -> str` passed as `judge`. For an edit the judge
sees the instruction, the source and the result and answers two lines, `Instruction following: <1-5>` and
`Preservation: <1-5>`; for a generation sample (no source) it sees the prompt and the image and answers the first
line only. The reward is

    edit:        w * (following - 1) / 4 + (1 - w) * (preservation - 1) / 4      in [0, 1]
    generation:  (following - 1) / 4

with w = `follow_weight` (0.5). A malformed answer is asked again (`attempts`, via ask_with_retries); a sample
whose judge never gives a readable answer, or fails, gets `on_failure` (default 0.0, so unreadable samples earn
nothing) and is flagged in `components["failed"]`; `errors` keeps why each attempt failed. The call never raises
for a judge failure.
"""

from __future__ import annotations

import re

import torch
from PIL import Image

from ..evals.judges import MalformedAnswer, ask_with_retries
from .base import as_arrays

EDIT_RUBRIC = (
    "You are grading an image edit. The first image is the source, the second the result of applying the "
    "instruction: \"{instruction}\".\n"
    "Rate two things from 1 (worst) to 5 (best):\n"
    "- Instruction following: does the result carry out the instruction fully and correctly?\n"
    "- Preservation: is everything the instruction does not ask to change kept as in the source?\n"
    "Answer with exactly two lines and nothing else:\nInstruction following: <1-5>\nPreservation: <1-5>")
GENERATION_RUBRIC = (
    "You are grading a generated image against its prompt: \"{instruction}\".\n"
    "Rate from 1 (worst) to 5 (best) how fully and correctly the image shows what the prompt asks for "
    "(objects, counts, colours, positions).\n"
    "Answer with exactly one line and nothing else:\nInstruction following: <1-5>")
SCORE = r"[*_\s]*[:=\-]?[*_\s]*(\d+(?:\.\d+)?)(?:\s*/\s*5)?"
FOLLOWING = re.compile(r"instruction[\s_-]*following" + SCORE, re.IGNORECASE)
PRESERVATION = re.compile(r"preservation" + SCORE, re.IGNORECASE)


def _rating(pattern: re.Pattern, answer: str, name: str) -> float:
    found = pattern.findall(answer)
    if not found:
        raise MalformedAnswer(f"no '{name}: <1-5>' line")
    if len(set(found)) > 1:
        raise MalformedAnswer(f"conflicting {name} ratings {found}")
    value = float(found[0])
    if not 1 <= value <= 5:
        raise MalformedAnswer(f"{name} {found[0]} is outside 1-5")
    return value


def parse_edit_answer(answer: str) -> tuple[float, float]:
    """(following, preservation), each in 1-5; MalformedAnswer if either is missing, repeated differently or
    out of range."""
    return _rating(FOLLOWING, answer, "Instruction following"), _rating(PRESERVATION, answer, "Preservation")


def parse_generation_answer(answer: str) -> tuple[float, None]:
    return _rating(FOLLOWING, answer, "Instruction following"), None


class EditJudgeReward:
    def __init__(self, judge=None, path=None, url: str | None = None, model: str | None = None,
                 device: str | None = None, dtype: str | None = None, follow_weight: float = 0.5,
                 attempts: int = 3, on_failure: float = 0.0, max_new_tokens: int = 32):
        if sum(x is not None for x in (judge, path, url)) != 1:
            raise ValueError("reward 'edit_judge' needs exactly one of `path` (a local Qwen2.5-VL folder), "
                             "`url` (an OpenAI-compatible endpoint, with `model`) or `judge` (an object)")
        if not 0 <= follow_weight <= 1:
            raise ValueError(f"reward 'edit_judge': follow_weight must be in [0, 1], got {follow_weight}")
        if attempts < 1:
            raise ValueError(f"reward 'edit_judge': attempts must be at least 1, got {attempts}")
        self.judge = judge if judge is not None else _load_judge(path, url, model, device, dtype, max_new_tokens)
        self.follow_weight, self.attempts, self.on_failure = follow_weight, attempts, float(on_failure)
        self.components: dict[str, torch.Tensor] = {}
        self.errors: list[list[str]] = []  # per sample of the last call: why each failed attempt failed

    def score(self, image: Image.Image, prompt: str, source: Image.Image | None) -> tuple[float, float, float]:
        """(reward, following in [0, 1], preservation in [0, 1]); NaN parts and `on_failure` when it failed."""
        if source is None:
            parts, parse = [GENERATION_RUBRIC.format(instruction=prompt), image], parse_generation_answer
        else:
            parts, parse = [EDIT_RUBRIC.format(instruction=prompt), source, image], parse_edit_answer
        verdict = ask_with_retries(self.judge, parts, parse, self.attempts)
        self.errors.append(verdict.errors)
        if not verdict.ok:
            return self.on_failure, float("nan"), float("nan")
        following, preservation = verdict.value
        following = (following - 1) / 4
        if preservation is None:
            return following, following, float("nan")
        preservation = (preservation - 1) / 4
        w = self.follow_weight
        return w * following + (1 - w) * preservation, following, preservation

    def __call__(self, images, prompts, sources=None, **context) -> torch.Tensor:
        images = [Image.fromarray(a) for a in as_arrays(images)]
        sources = [None] * len(images) if sources is None else sources
        sources = [None if s is None else Image.fromarray(as_arrays([s])[0]) for s in sources]
        self.errors = []
        rows = [self.score(i, p, s) for i, p, s in zip(images, prompts, sources)]
        following = torch.tensor([r[1] for r in rows], dtype=torch.float32)
        self.components = {"following": following,
                           "preservation": torch.tensor([r[2] for r in rows], dtype=torch.float32),
                           "failed": following.isnan().float()}
        return torch.tensor([r[0] for r in rows], dtype=torch.float32)


def _load_judge(path, url, model, device, dtype, max_new_tokens):
    from ..evals import EvalError

    try:
        if url is not None:
            from ..evals.judges.openai_chat import OpenAIChatJudge

            if not model:
                raise ValueError("reward 'edit_judge': `url` needs `model` (the model name the endpoint serves)")
            return OpenAIChatJudge(url, model, max_tokens=max_new_tokens)
        from ..evals.judges.local_vlm import load_local_judge
        from .local import pick_device

        return load_local_judge(path, device=str(pick_device(device)), dtype=dtype, max_new_tokens=max_new_tokens)
    except EvalError as err:
        raise ValueError(f"reward 'edit_judge': {str(err).removeprefix('--judge ')}") from None
