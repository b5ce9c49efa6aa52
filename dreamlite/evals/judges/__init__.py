"""Judges for the editing benchmarks: anything with `ask(parts) -> str` and an `identity` dict.

`parts` is the user message in order: strings and PIL images (ImgEdit: rubric, source, result; VIEScore: images,
then its prompt). Two judges ship: `LocalVLMJudge` (a Qwen2.5-VL-class model from a folder through transformers,
e.g. ImgEdit-Judge or Qwen2.5-VL-72B-Instruct) and `OpenAIChatJudge` (any OpenAI-compatible chat endpoint the
user names: vLLM, SGLang, a hosted GPT-4o / GPT-4.1). `ask_with_retries` turns a judge and an answer parser into
a `Verdict` that never raises: a malformed answer is asked again, and after the last attempt it is recorded as a
failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


class JudgeError(RuntimeError):
    """A judge call that failed (HTTP error, bad response); retried like a malformed answer."""


class MalformedAnswer(ValueError):
    """An answer the benchmark's parser cannot read."""


@dataclass
class Verdict:
    ok: bool
    value: object = None  # the parser's result when ok
    answers: list[str] = field(default_factory=list)  # every raw answer, in order
    errors: list[str] = field(default_factory=list)  # why each failed attempt failed

    @property
    def attempts(self) -> int:
        return len(self.errors) + (1 if self.ok else 0)


def ask_with_retries(judge, parts: Sequence, parse: Callable[[str], object], attempts: int = 3) -> Verdict:
    """Ask up to `attempts` times until `parse` accepts the answer; never raises for a judge or parse failure."""
    verdict = Verdict(ok=False)
    for _ in range(attempts):
        try:
            answer = judge.ask(parts)
        except (JudgeError, OSError, ValueError) as err:
            verdict.errors.append(f"judge: {type(err).__name__}: {err}")
            continue
        verdict.answers.append(answer)
        try:
            verdict.value = parse(answer)
        except MalformedAnswer as err:
            verdict.errors.append(f"malformed: {err}")
            continue
        verdict.ok = True
        return verdict
    return verdict


def load_judge(spec: str, model_name: str | None = None, device: str | None = None, dtype: str | None = None):
    """A judge from --judge: an http(s) URL is an OpenAI-compatible endpoint (needs --judge-model), anything else
    a local model folder."""
    from .. import EvalError

    if spec.startswith(("http://", "https://")):
        from .openai_chat import OpenAIChatJudge

        if not model_name:
            raise EvalError(f"--judge {spec} is an endpoint: name the model it serves with --judge-model")
        return OpenAIChatJudge(spec, model_name)
    if model_name:
        raise EvalError("--judge-model goes with an endpoint URL; a local judge's folder names its model")
    from .local_vlm import load_local_judge

    return load_local_judge(spec, device=device, dtype=dtype)
