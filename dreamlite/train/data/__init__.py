"""Training data: sources of (prompt, target[, source]) items, bucketing, and the per-step batch plan.

A source is an indexable stream of items for one task: `item(index)` returns
`{"prompt": str, "target": PIL image, "source": PIL image | None}` and depends on nothing but the index, which is
what makes resuming exact. Finite sources (files, WebDataset shards, Hugging Face datasets) are walked in a fresh
seeded permutation every epoch; ShapesWorld is endless. Each kind has a spec dataclass (what a recipe may set) and
a builder; `source_spec` and `build_source` dispatch on the recipe's `kind`.
"""

from __future__ import annotations

import importlib

from ..config import RecipeError, from_dict

# kind -> (module, spec class, builder function)
SOURCE_KINDS = {
    "shapes": ("shapes", "ShapesSpec", "build"),
    "files": ("files", "FilesSpec", "build"),
    "webdataset": ("webdataset", "WebDatasetSpec", "build"),
    "hf": ("hf", "HFSpec", "build"),
}


def _kind(raw, where: str):
    if not isinstance(raw, dict) or "kind" not in raw:
        raise RecipeError(f"{where}: a source needs `kind`: one of {', '.join(SOURCE_KINDS)}")
    if raw["kind"] not in SOURCE_KINDS:
        raise RecipeError(f"{where}.kind: unknown source kind {raw['kind']!r}; known: {', '.join(SOURCE_KINDS)}")
    module, spec_name, builder = SOURCE_KINDS[raw["kind"]]
    return importlib.import_module(f"{__name__}.{module}"), spec_name, builder


def source_spec(raw: dict, where: str):
    """The typed spec of one recipe source (validated, not built)."""
    module, spec_name, _ = _kind(raw, where)
    spec = from_dict(getattr(module, spec_name), {k: v for k, v in raw.items() if k != "kind"}, where)
    check = getattr(spec, "check", None)
    if check is not None:
        check(where)
    return spec


def build_source(raw: dict, task: str, seed: int, where: str):
    """A `Source` giving `task` items from the recipe source `raw`."""
    module, _, builder = _kind(raw, where)
    return getattr(module, builder)(source_spec(raw, where), task, seed)
