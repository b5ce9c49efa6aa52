"""Models bundled inside the package, addressed by short names (`--model shapes-base`, `--model shapes-mobile`)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
# shapes-mobile: shapes-base distilled to 4 unguided steps; its VAE and prompt encoder are links to shapes-base's.
BUNDLED_MODELS = {"shapes-base": ASSETS / "shapes-base", "shapes-mobile": ASSETS / "shapes-mobile"}
DEFAULT_MODEL = "shapes-base"  # shapes-mobile edits below the bar for becoming the default (its model card)


def bundled_model_path(name: str) -> Path | None:
    path = BUNDLED_MODELS.get(name)
    return path if path is not None and (path / "model_index.json").is_file() else None
