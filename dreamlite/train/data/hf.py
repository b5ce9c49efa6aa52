"""Hugging Face `datasets`: a hub id or local script/folder (`load_dataset`), or a folder written by
`Dataset.save_to_disk` (`load_from_disk`). Map-style only: rows are read by index, which keeps resuming exact.

Image columns may hold PIL images (the `Image` feature), {"bytes", "path"} dicts or file paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import RecipeError
from .base import SingleTaskSpec, Source, check_task, image_size, open_image, stable_seed


@dataclass
class HFSpec(SingleTaskSpec):
    name: str  # hub id, local dataset folder, or a save_to_disk folder
    task: str = "t2i"
    split: str = "train"
    config: str | None = None
    image: str = "image"  # T2I columns
    caption: str = "caption"
    source: str = "source_image"  # edit columns
    instruction: str = "instruction"
    target: str = "target_image"
    width: str | None = None  # optional columns with the target's size (bucketing without decoding)
    height: str | None = None


def as_image(value):
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    return open_image(value)


class HFSource(Source):
    def __init__(self, spec: HFSpec, dataset):
        self.spec, self.dataset = spec, dataset
        self.task = spec.task
        self.name = f"hf:{spec.name}[{spec.split}]"

    def __len__(self) -> int:
        return len(self.dataset)

    def item(self, index: int) -> dict:
        row, s = self.dataset[int(index)], self.spec
        if self.task == "t2i":
            return {"prompt": str(row[s.caption]), "target": as_image(row[s.image]), "source": None}
        return {"prompt": str(row[s.instruction]), "target": as_image(row[s.target]), "source": as_image(row[s.source])}

    def size(self, index: int) -> tuple[int, int]:
        s = self.spec
        if s.width and s.height:
            row = self.dataset[int(index)]
            return int(row[s.width]), int(row[s.height])
        value = self.dataset[int(index)][s.image if self.task == "t2i" else s.target]
        if isinstance(value, dict):
            value = value.get("bytes") or value.get("path")
        return image_size(value)

    def fingerprint(self) -> str:
        return stable_seed("hf", self.spec.name, self.spec.config, self.spec.split, self.task, len(self))


def build(spec: HFSpec, task: str, seed: int) -> HFSource:
    check_task(task, spec.tasks, spec.name)
    try:
        import datasets
    except ImportError:
        raise RecipeError("Hugging Face sources need `pip install datasets` (or dreamlite[train])") from None
    path = Path(spec.name).expanduser()
    try:
        if path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
            dataset = datasets.load_from_disk(str(path))
            if isinstance(dataset, datasets.DatasetDict):
                dataset = dataset[spec.split]
        else:
            dataset = datasets.load_dataset(spec.name, spec.config, split=spec.split)
    except Exception as err:  # missing files, offline hub, bad split: one line for the user
        raise RecipeError(f"could not load dataset {spec.name!r} ({spec.split}): {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}") from None
    columns = [spec.image, spec.caption] if task == "t2i" else [spec.source, spec.instruction, spec.target]
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise RecipeError(f"dataset {spec.name!r} has no column {missing[0]!r}; columns: {dataset.column_names}")
    return HFSource(spec, dataset)
