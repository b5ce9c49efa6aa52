"""dreamlite: run, train, evaluate and ship DreamLite models."""

__version__ = "0.1.0"

__all__ = ["DreamLite", "__version__"]


def __getattr__(name):
    # Lazy so that `import dreamlite.shapes` does not pull torch, transformers and diffusers.
    if name == "DreamLite":
        from .pipeline import DreamLite

        return DreamLite
    raise AttributeError(name)
