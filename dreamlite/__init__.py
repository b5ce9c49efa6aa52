"""dreamlite: run, train, evaluate and ship DreamLite models."""

__version__ = "0.1.0"

from .pipeline import DreamLite  # noqa: E402

__all__ = ["DreamLite", "__version__"]
