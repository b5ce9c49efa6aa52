"""Training DreamLite: recipes, the one trainer loop, stages, data sources, checkpoints (see docs/training.md)."""
