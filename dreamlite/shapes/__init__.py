"""ShapesWorld: a procedural data world with exact ground truth, and ShapesBench, a pixel-only benchmark.

Text-to-image pairs in GenEval's six categories and editing triplets in ImgEdit-like categories, rendered
from seeded scenes of coloured shapes; a scorer that finds objects by colour segmentation and shape fitting
and judges each item by GenEval's rules (generation) or instruction-followed-and-rest-preserved (editing).
See docs/shapesworld.md.  Importing this package does not import torch; `ShapesStream` and
`evaluate_model` do, when first used.
"""

from .detect import Detection, find_objects
from .edits import CATEGORIES as EDIT_CATEGORIES
from .edits import EditItem, make_edit_item
from .generation import CATEGORIES as GENERATION_CATEGORIES
from .generation import GenerationItem, make_generation_item
from .layout import EVAL_COUNT, EVAL_SEED, iter_split, read_index, render_split
from .render import DEFAULT_SIZE, render_scene
from .scene import Scene, ShapeObject, item_rng
from .score import format_table, score_dir, score_edit, score_generation, summarize

__all__ = [
    "DEFAULT_SIZE", "EDIT_CATEGORIES", "EVAL_COUNT", "EVAL_SEED", "GENERATION_CATEGORIES", "Detection",
    "EditItem", "GenerationItem", "Scene", "ShapeObject", "ShapesStream", "evaluate_model", "find_objects",
    "format_table", "item_rng", "iter_split", "make_edit_item", "make_generation_item", "read_index",
    "render_scene", "render_split", "score_dir", "score_edit", "score_generation", "summarize",
]


def __getattr__(name):
    # Lazy: these two need torch (and the pipeline), the rest of the package does not.
    if name == "ShapesStream":
        from .dataset import ShapesStream

        return ShapesStream
    if name == "evaluate_model":
        from .evaluate import evaluate_model

        return evaluate_model
    raise AttributeError(name)
