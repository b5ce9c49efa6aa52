"""What scored a run: ids, revisions and sha256 hashes of the weights and prompt files, for every results file.

A judge or detector that is not pinned gives numbers nobody can compare, so each results file carries the
folder's model id (from its config), the hub revision when the folder is a hub cache snapshot, and the sha256 of
every safetensors file; prompt and rubric files are hashed too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHUNK = 1 << 22


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def weights_identity(folder: str | Path) -> dict:
    """{"path", "id", "class", "revision", "sha256": {file: hash}} of a transformers model folder."""
    folder = Path(folder)
    config = {}
    if (folder / "config.json").is_file():
        config = json.loads((folder / "config.json").read_text())
    parts = folder.resolve().parts
    # A hub cache snapshot lives at .../models--owner--name/snapshots/<commit>/
    revision = parts[-1] if len(parts) > 2 and parts[-2] == "snapshots" else None
    repo = next((p[len("models--"):].replace("--", "/") for p in parts if p.startswith("models--")), None)
    return {
        "path": str(folder),
        "id": repo or config.get("_name_or_path") or folder.name,
        "class": (config.get("architectures") or [None])[0],
        "revision": revision,
        "sha256": {p.name: sha256_file(p) for p in sorted(folder.glob("*.safetensors"))},
    }


def files_identity(paths) -> dict:
    """{file name: sha256} of the prompt / rubric / metadata files a run read."""
    return {Path(p).name: sha256_file(p) for p in paths if p is not None}
