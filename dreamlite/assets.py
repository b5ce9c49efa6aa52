"""Models bundled inside the package, addressed by short names (`--model shapes-base`)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
BUNDLED_MODELS = {"shapes-base": ASSETS / "shapes-base"}
DEFAULT_MODEL = "shapes-base"


def bundled_model_path(name: str) -> Path | None:
    path = BUNDLED_MODELS.get(name)
    return path if path is not None and (path / "model_index.json").is_file() else None
