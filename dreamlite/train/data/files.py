"""Local files: a JSONL manifest, or a folder of images with same-named .txt captions.

T2I records: {"image": path, "caption": text}. Edit records: {"source": path, "instruction": text,
"target": path}. Paths are relative to the manifest's folder. Optional "width"/"height" (of the target) let
aspect-ratio bucketing skip reading image headers. Keys are configurable for manifests that name them otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import RecipeError
from .base import SingleTaskSpec, Source, check_task, image_size, open_image, stable_seed

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class FilesSpec(SingleTaskSpec):
    path: str  # a .jsonl manifest, or a folder (with metadata.jsonl, or images + .txt captions for T2I)
    task: str = "t2i"
    image_key: str = "image"
    caption_key: str = "caption"
    source_key: str = "source"
    instruction_key: str = "instruction"
    target_key: str = "target"


class FilesSource(Source):
    def __init__(self, spec: FilesSpec, records: list[dict], root: Path):
        self.spec, self.records, self.root = spec, records, root
        self.task = spec.task
        self.name = spec.path

    def __len__(self) -> int:
        return len(self.records)

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.root / path

    def item(self, index: int) -> dict:
        r, s = self.records[index], self.spec
        if self.task == "t2i":
            return {"prompt": r[s.caption_key], "target": open_image(self._path(r[s.image_key])), "source": None}
        return {"prompt": r[s.instruction_key], "target": open_image(self._path(r[s.target_key])),
                "source": open_image(self._path(r[s.source_key]))}

    def size(self, index: int) -> tuple[int, int]:
        r = self.records[index]
        if "width" in r and "height" in r:
            return int(r["width"]), int(r["height"])
        key = self.spec.image_key if self.task == "t2i" else self.spec.target_key
        return image_size(self._path(r[key]))

    def fingerprint(self) -> str:
        return stable_seed("files", str(Path(self.spec.path).resolve()), self.task, len(self.records))


def read_manifest(path: Path, spec: FilesSpec) -> list[dict]:
    records = []
    needed = ((spec.image_key, spec.caption_key) if spec.task == "t2i"
              else (spec.source_key, spec.instruction_key, spec.target_key))
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise RecipeError(f"{path}:{n}: not valid JSON ({err.msg})") from None
            missing = [k for k in needed if k not in record]
            if missing:
                raise RecipeError(f"{path}:{n}: a {spec.task} record needs {', '.join(needed)}; missing {missing[0]}")
            records.append(record)
    return records


def build(spec: FilesSpec, task: str, seed: int) -> FilesSource:
    check_task(task, spec.tasks, spec.path)
    path = Path(spec.path).expanduser()
    if path.is_dir() and (path / "metadata.jsonl").is_file():
        path = path / "metadata.jsonl"
    if path.is_file():
        records = read_manifest(path, spec)
        root = path.parent
    elif path.is_dir():
        if spec.task != "t2i":
            raise RecipeError(f"{spec.path}: an edit folder needs a metadata.jsonl with source/instruction/target")
        records = []
        for image in sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            caption = image.with_suffix(".txt")
            if caption.is_file():
                records.append({spec.image_key: str(image.relative_to(path)),
                                spec.caption_key: caption.read_text().strip()})
        root = path
    else:
        raise RecipeError(f"data source {spec.path}: no such file or folder")
    if not records:
        raise RecipeError(f"data source {spec.path}: no items found")
    return FilesSource(spec, records, root)
