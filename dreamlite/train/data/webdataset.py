"""WebDataset tar shards, read by random access.

A sample is the group of tar members sharing a key (the name up to its first dot): `00042.jpg`, `00042.txt`,
`00042.json` for T2I; `00042.src.jpg`, `00042.tgt.jpg`, `00042.txt` for editing. The shards' headers are
scanned once to index every member's byte offset, so any item can be read without streaming the ones before it:
that keeps resuming and multi-process sharding exact. Shards must be local files (mount or download remote ones).
A caption or instruction may also come from a field of the sample's JSON.
"""

from __future__ import annotations

import glob
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RecipeError
from .base import SingleTaskSpec, Source, check_task, image_size, open_image, stable_seed


@dataclass
class WebDatasetSpec(SingleTaskSpec):
    shards: list[str]  # paths or globs; `{000..099}` brace ranges are expanded
    task: str = "t2i"
    image: list[str] = field(default_factory=lambda: ["jpg", "jpeg", "png", "webp"])  # T2I target field(s)
    caption: str = "txt"  # T2I caption field, or "json:<key>" for a field of the sample's JSON
    source: list[str] = field(default_factory=lambda: ["src.jpg", "src.png", "source.jpg", "source.png"])
    target: list[str] = field(default_factory=lambda: ["tgt.jpg", "tgt.png", "target.jpg", "target.png"])
    instruction: str = "txt"


def expand_braces(pattern: str) -> list[str]:
    """'a-{000..002}.tar' -> ['a-000.tar', 'a-001.tar', 'a-002.tar'] (zero padding kept)."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if not m:
        return [pattern]
    lo, hi = m.group(1), m.group(2)
    width = len(lo) if lo.startswith("0") else 0
    out = []
    for n in range(int(lo), int(hi) + 1):
        out += expand_braces(pattern[: m.start()] + str(n).zfill(width) + pattern[m.end():])
    return out


def shard_paths(patterns: list[str]) -> list[str]:
    paths = []
    for pattern in patterns:
        for expanded in expand_braces(str(Path(pattern).expanduser())):
            matches = sorted(glob.glob(expanded)) if any(c in expanded for c in "*?[") else [expanded]
            paths += matches
    missing = [p for p in paths if not Path(p).is_file()]
    if missing or not paths:
        raise RecipeError(f"WebDataset shards not found: {missing[0] if missing else patterns}")
    return paths


def index_shard(path: str) -> list[dict[str, tuple[int, int]]]:
    """Samples of one tar in order: {field: (data offset, size)} per key, from the headers only."""
    samples: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            folder, _, name = member.name.rpartition("/")
            if "." not in name:
                continue
            stem, ext = name.split(".", 1)
            key = f"{folder}/{stem}"
            samples.setdefault(key, {})[ext.lower()] = (member.offset_data, member.size)
    return list(samples.values())


class WebDatasetSource(Source):
    def __init__(self, spec: WebDatasetSpec, shards: list[str], samples: list[tuple[int, dict]]):
        self.spec, self.shards, self.samples = spec, shards, samples
        self.task = spec.task
        self.name = f"webdataset:{shards[0]}{'...' if len(shards) > 1 else ''}"

    def __len__(self) -> int:
        return len(self.samples)

    def _read(self, index: int, ext: str) -> bytes:
        shard, fields = self.samples[index]
        offset, size = fields[ext]
        with open(self.shards[shard], "rb") as f:
            f.seek(offset)
            return f.read(size)

    def _text(self, index: int, spec: str) -> str:
        if spec.startswith("json:"):
            return str(json.loads(self._read(index, "json"))[spec[5:]])
        return self._read(index, spec).decode("utf-8").strip()

    def _first(self, index: int, options: list[str]) -> str:
        fields = self.samples[index][1]
        return next(ext for ext in options if ext in fields)

    def item(self, index: int) -> dict:
        s = self.spec
        if self.task == "t2i":
            return {"prompt": self._text(index, s.caption),
                    "target": open_image(self._read(index, self._first(index, s.image))), "source": None}
        return {"prompt": self._text(index, s.instruction),
                "target": open_image(self._read(index, self._first(index, s.target))),
                "source": open_image(self._read(index, self._first(index, s.source)))}

    def size(self, index: int) -> tuple[int, int]:
        fields = self.samples[index][1]
        if "json" in fields:
            meta = json.loads(self._read(index, "json"))
            if isinstance(meta, dict) and "width" in meta and "height" in meta:
                return int(meta["width"]), int(meta["height"])
        options = self.spec.image if self.task == "t2i" else self.spec.target
        return image_size(self._read(index, self._first(index, options)))

    def fingerprint(self) -> str:
        return stable_seed("webdataset", *[str(Path(p).resolve()) for p in self.shards], self.task, len(self))


def build(spec: WebDatasetSpec, task: str, seed: int) -> WebDatasetSource:
    check_task(task, spec.tasks, str(spec.shards))
    shards = shard_paths(spec.shards)
    if spec.task == "t2i":
        needed = [spec.image, [spec.caption if not spec.caption.startswith("json:") else "json"]]
    else:
        needed = [spec.source, spec.target, [spec.instruction if not spec.instruction.startswith("json:") else "json"]]
    samples = []
    for i, path in enumerate(shards):
        try:
            for fields in index_shard(path):
                if all(any(ext in fields for ext in options) for options in needed):
                    samples.append((i, fields))
        except tarfile.TarError as err:
            raise RecipeError(f"{path} is not a readable tar shard: {err}") from None
    if not samples:
        raise RecipeError(f"no complete {spec.task} samples in {len(shards)} WebDataset shard(s) {spec.shards}")
    return WebDatasetSource(spec, shards, samples)
