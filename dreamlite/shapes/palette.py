"""The closed vocabulary of ShapesWorld: object colours, background colours, shapes and grid cells.

Colours are chosen so that the blurry 64x64 output of a small model, or a JPEG of it, still reads as the
colour that was meant:
- any two object colours are at least 105 apart in RGB, any object colour at least 186 from a background;
- every object colour differs from every background by at least 43 in luma, so its edges survive JPEG,
  which keeps colour at half resolution (a mid-grey background fails this for half the palette).
"""

import numpy as np

# Object colours: saturated hues; yellow is darkened and orange moved toward red to keep both apart
# from each other and from a white background.
OBJECT_COLORS = {
    "red": (255, 0, 0),
    "orange": (255, 110, 0),
    "yellow": (250, 215, 0),
    "green": (0, 200, 0),
    "cyan": (0, 220, 255),
    "blue": (0, 50, 255),
    "purple": (128, 0, 255),
    "magenta": (255, 0, 200),
}

BACKGROUND_COLORS = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}

# Every shape is inscribed in a square box whose side is the object's size, so bounding boxes compare across shapes.
SHAPES = ("circle", "square", "triangle", "diamond", "cross")

# A 3x3 grid of cells; objects sit one per cell, which keeps them apart and gives positions names.
GRID = 3
CELLS = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)

# Extract puts the kept object on this background.
EXTRACT_BACKGROUND = "white"

OBJECT_NAMES = tuple(OBJECT_COLORS)
OBJECT_RGB = np.array([OBJECT_COLORS[n] for n in OBJECT_NAMES], dtype=np.float32)
BACKGROUND_NAMES = tuple(BACKGROUND_COLORS)
BACKGROUND_RGB = np.array([BACKGROUND_COLORS[n] for n in BACKGROUND_NAMES], dtype=np.float32)


def cell_center(cell: str) -> tuple[float, float]:
    """Centre (x, y) of a named grid cell, in image fractions."""
    i = CELLS.index(cell)
    return ((i % GRID) + 0.5) / GRID, ((i // GRID) + 0.5) / GRID


def cell_of(cx: float, cy: float) -> str:
    """Name of the grid cell that contains the point (cx, cy), in image fractions."""
    col = min(GRID - 1, max(0, int(cx * GRID)))
    row = min(GRID - 1, max(0, int(cy * GRID)))
    return CELLS[row * GRID + col]


def nearest(rgb, table: np.ndarray, names: tuple[str, ...]) -> tuple[str, float]:
    """Name of the table colour nearest to `rgb`, and its Euclidean distance."""
    d = np.linalg.norm(table - np.asarray(rgb, dtype=np.float32), axis=-1)
    i = int(np.argmin(d))
    return names[i], float(d[i])
