"""Check a GenEval folder the way GenEval's reader walks it, before anyone spends GPU hours scoring it.

The reader takes every sub-folder whose name is all digits, `json.load`s its `metadata.jsonl` (so the file holds
one JSON object), and scores every file in its `samples/` whose name matches `\\d+\\.png`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image

from .. import EvalError

SAMPLE_NAME = re.compile(r"\d+\.png")


def read_layout(root: str | Path) -> list[tuple[dict, list[Path]]]:
    """[(metadata, sample paths)] per prompt folder, in index order, as GenEval's reader finds them."""
    root = Path(root)
    if not root.is_dir():
        raise EvalError(f"{root}: no such folder")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        try:
            with open(folder / "metadata.jsonl") as f:
                metadata = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise EvalError(f"{folder}/metadata.jsonl: GenEval's reader cannot load it ({err})") from None
        samples = folder / "samples"
        names = sorted(p for p in samples.iterdir() if p.is_file() and SAMPLE_NAME.match(p.name)) \
            if samples.is_dir() else []
        found.append((metadata, names))
    return found


def check_layout(root: str | Path, records: list[dict] | None = None, samples: int | None = None) -> dict:
    """Raise EvalError on the first problem; returns {"prompts", "images"}.

    records: the metadata file's prompts (each folder must hold its own line, index for index).
    samples: images expected per prompt.
    """
    found = read_layout(root)
    if not found:
        raise EvalError(f"{root}: no <index:05d>/ prompt folders")
    if records is not None and len(found) != len(records):
        raise EvalError(f"{root}: {len(found)} prompt folders, the metadata file has {len(records)} prompts")
    for index, (metadata, paths) in enumerate(found):
        name = f"{index:05d}"
        if not (Path(root) / name).is_dir():
            raise EvalError(f"{root}: prompt folders are not numbered 00000, 00001, ... (missing {name})")
        if records is not None and metadata != records[index]:
            raise EvalError(f"{root}/{name}/metadata.jsonl differs from line {index + 1} of the metadata file")
        if samples is not None and len(paths) != samples:
            raise EvalError(f"{root}/{name}/samples: {len(paths)} images, expected {samples}")
        for path in paths:
            try:
                with Image.open(path) as im:
                    im.verify()
            except Exception as err:  # PIL raises many types for a broken file
                raise EvalError(f"{path}: not a readable PNG ({type(err).__name__})") from None
    return {"prompts": len(found), "images": sum(len(p) for _, p in found)}
