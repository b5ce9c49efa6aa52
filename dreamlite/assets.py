"""Models bundled inside the package, addressed by short names (`--model shapes-base`, `--model shapes-mobile`)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
# shapes-mobile: shapes-base distilled to 4 unguided steps; its VAE and prompt encoder are links to shapes-base's.
BUNDLED_MODELS = {"shapes-base": ASSETS / "shapes-base", "shapes-mobile": ASSETS / "shapes-mobile"}
DEFAULT_MODEL = "shapes-mobile"  # 4 unguided steps; `--model shapes-base` gives the guided base model


def bundled_model_path(name: str) -> Path | None:
    path = BUNDLED_MODELS.get(name)
    return path if path is not None and (path / "model_index.json").is_file() else None
