"""GenEval sampling: every prompt of `evaluation_metadata.jsonl`, N samples each, in GenEval's folder layout.

    OUT/<index:05d>/metadata.jsonl     the prompt's metadata line, as GenEval's reader json.load()s it
    OUT/<index:05d>/samples/<n:04d>.png

The DreamLite protocol: 4 samples per prompt with seeds 2024-2027 (sample n uses seed 2024 + n, one image per
call, so each image is reproducible on its own), guidance 7.5, 1024x1024, 30 steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .. import EvalError
from ..shard import Job
from . import TASKS


@dataclass(frozen=True)
class GenEvalProtocol:
    samples: int = 4
    first_seed: int = 2024
    guidance: float = 7.5
    size: int = 1024
    steps: int = 30

    def seeds(self) -> list[int]:
        return [self.first_seed + n for n in range(self.samples)]


def read_metadata(path: str | Path) -> list[dict]:
    """The prompts of a GenEval `evaluation_metadata.jsonl`, checked: one JSON object per line with `tag`,
    `prompt` and `include`."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"--prompts {path}: no such file (pass your copy of GenEval's evaluation_metadata.jsonl)")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise EvalError(f"{path}:{number}: not JSON ({err.msg})") from None
        missing = [k for k in ("tag", "prompt", "include") if k not in record]
        if missing:
            raise EvalError(f"{path}:{number}: missing {', '.join(missing)} (is this GenEval's metadata file?)")
        if record["tag"] not in TASKS:
            raise EvalError(f"{path}:{number}: unknown tag {record['tag']!r}; GenEval's are {', '.join(TASKS)}")
        records.append(record)
    if not records:
        raise EvalError(f"{path}: no prompts")
    return records


def write_metadata(out: Path, records: list[dict]) -> None:
    for index, record in enumerate(records):
        folder = out / f"{index:05d}"
        (folder / "samples").mkdir(parents=True, exist_ok=True)
        (folder / "metadata.jsonl").write_text(json.dumps(record) + "\n")


def _generate(model, prompt: str, protocol: GenEvalProtocol, seed: int):
    return model.generate(prompt, protocol.size, protocol.size, steps=protocol.steps,
                          guidance_scale=protocol.guidance, seed=seed, num_images=1)[0]


def geneval_jobs(model, records: list[dict], out: Path, protocol: GenEvalProtocol) -> list[Job]:
    """One job per image, in (prompt, sample) order."""
    return [Job(out / f"{index:05d}" / "samples" / f"{n:04d}.png",
                partial(_generate, model, record["prompt"], protocol, seed))
            for index, record in enumerate(records) for n, seed in enumerate(protocol.seeds())]
