"""Find the objects in an image from its pixels alone: background, components, colour, shape, fill.

1. The background is the median colour of the image border.
2. A pixel is foreground when it is a blend of the background with some object colour holding at least
   FOREGROUND_SHARE of that colour (un-compositing by projection onto the line from background to colour).
3. Foreground pixels form 8-connected components; tiny ones (noise, JPEG ringing) are dropped.  A component
   holding two solid colours (two touching objects) is split by colour; a thin ring of a blended colour along
   an edge is not solid, because it vanishes under one step of erosion.
4. Colour: the object colour whose blend line with the background explains the component's pixels best.
   Shape, position, size and fill: `classify.fit_shape` on the component's soft coverage.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .classify import fit_shape
from .palette import BACKGROUND_NAMES, BACKGROUND_RGB, OBJECT_NAMES, OBJECT_RGB, nearest

FOREGROUND_SHARE = 0.35  # least share of an object colour in a pixel's blend with the background
MAX_BLEND_RESIDUAL = 80.0  # how far a pixel may sit off the background-to-colour line (colour drift)
MAX_BG_SNAP = 80.0  # the border colour is named only within this distance of a background colour
MAX_COLOR_OFF_LINE = 60.0  # mean RGB distance of an object's pixels from its colour's blend line
MIN_COLOR_SHARE = 0.6  # the purest tenth of an object's pixels holds at least this share of its colour
MIN_AREA_FRACTION = 0.003  # components below this share of the image are noise (12 px at 64 x 64)
PAD = 3  # pixels of soft edge kept around a component
MAX_SIDE = 128  # larger images are box-filtered down by an integer factor first: same verdicts, a quarter the work
_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = ndimage.generate_binary_structure(2, 1)
_NEAR = np.ones((2 * PAD + 1, 2 * PAD + 1), dtype=bool)


@dataclass(frozen=True)
class Detection:
    """One object found in an image. Positions and size are fractions of the image width and height."""

    shape: str | None  # None: no shape fits
    color: str | None  # None: no palette colour is near
    cx: float  # bounding-box centre
    cy: float
    size: float  # bounding-box side
    hollow: bool  # drawn as an outline
    area: int  # foreground pixels

    def describe(self) -> str:
        style = " outline" if self.hollow else ""
        return f"{self.color or '?'} {self.shape or '?'}{style} at ({self.cx:.2f}, {self.cy:.2f}) size {self.size:.2f}"


def find_background(image: np.ndarray) -> tuple[str | None, np.ndarray]:
    """Background name (None if not a palette background) and its measured RGB, from the border median."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float32)
    rgb = np.median(border, axis=0)
    name, dist = nearest(rgb, BACKGROUND_RGB, BACKGROUND_NAMES)
    return (name if dist <= MAX_BG_SNAP else None), rgb


# Un-compositing is a weighted least-squares fit in YCbCr: chroma gets less weight because JPEG stores it at
# half resolution and blur spreads it the same as luminance, so luminance edges are the sharper evidence.
_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]], dtype=np.float32)
_WEIGHTS = np.array([1.0, 0.25, 0.25], dtype=np.float32)
_METRIC = _YCBCR.T @ np.diag(_WEIGHTS) @ _YCBCR  # RGB-space inner product of that weighting


def blend_shares(image: np.ndarray, bg_rgb: np.ndarray, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel and colour: share of the colour in a background blend, and RGB distance off that blend line."""
    axes = colors - bg_rgb  # (K, 3)
    offset = image - bg_rgb  # (..., 3)
    weighted = axes @ _METRIC  # (K, 3)
    share = np.clip(offset @ weighted.T / np.maximum((weighted * axes).sum(-1), 1.0), 0.0, 1.0)  # (..., K)
    # |offset - share * axis|, expanded so that no (..., K, 3) array is built.
    sq = (offset * offset).sum(-1)[..., None] - 2 * share * (offset @ axes.T) + share**2 * (axes * axes).sum(-1)
    return share, np.sqrt(np.maximum(sq, 0.0))


def _split_by_color(comp: np.ndarray, labels: np.ndarray, min_area: int) -> list[np.ndarray]:
    """Split a component into one mask per solid colour inside it (just itself when there is one)."""
    area = int(comp.sum())
    least = max(4, 0.15 * area)
    counts = np.bincount(labels[comp], minlength=len(OBJECT_NAMES))
    candidates = np.nonzero(counts >= least)[0]  # erosion only shrinks, so this is a cheap first cut
    if len(candidates) < 2:
        return [comp]
    solid = [c for c in candidates if ndimage.binary_erosion(comp & (labels == c), _EIGHT).sum() >= least]
    if len(solid) < 2:
        return [comp]
    # Pixels of a non-solid colour join the nearest solid region.
    _, nearest_idx = ndimage.distance_transform_edt(~np.isin(labels, solid) | ~comp, return_indices=True)
    owner = labels[nearest_idx[0], nearest_idx[1]]
    parts = []
    for c in solid:
        lab, n = ndimage.label(comp & (owner == c), _EIGHT)
        parts += [lab == k for k in range(1, n + 1) if (lab == k).sum() >= min_area]
    return parts


def fill_holes_soft(alpha: np.ndarray, levels=(0.3, 0.5, 0.7, 0.9)) -> np.ndarray:
    """Coverage with every enclosed dip set to 1: holes of the mask at any of a few coverage levels.

    Several levels, so an outline whose hole JPEG or blur has half filled still counts as enclosing it.
    A hole is a 4-connected part of the complement that does not reach the border.
    """
    holes = np.zeros(alpha.shape, dtype=bool)
    for level in levels:
        lab, n = ndimage.label(alpha < level, _FOUR)
        if n > 1:
            edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
            holes |= (lab > 0) & ~np.isin(lab, edge)
    return np.where(holes, 1.0, alpha)


def name_color(pixels: np.ndarray, bg_rgb: np.ndarray) -> str | None:
    """The object colour whose blend line with the background best explains these pixels, if it is pure enough.

    Judging along blend lines (not by the nearest colour) keeps a thin, blurred red stroke red, although its
    pixels are pink.
    """
    share, off_line = blend_shares(pixels, bg_rgb, OBJECT_RGB)
    k = int(np.argmin(off_line.sum(axis=0)))
    purest = np.sort(share[:, k])[int(0.9 * (len(share) - 1))]
    if off_line[:, k].mean() > MAX_COLOR_OFF_LINE or purest < MIN_COLOR_SHARE:
        return None
    return OBJECT_NAMES[k]


def _describe(mask, window_rgb, bg_rgb, near, origin, full_shape) -> Detection:
    """Describe the object whose foreground mask is `mask`; `near` bounds where its soft edge may reach."""
    color = name_color(window_rgb[mask], bg_rgb)
    # Coverage is measured against the palette colour once it is named: blur leaves no pure pixel in a small
    # object, and measuring against its washed-out centre would inflate the coverage.  Unnamed colours are
    # measured against the object's own purest pixels.
    if color is not None:
        color_rgb = OBJECT_RGB[OBJECT_NAMES.index(color)]
    else:
        dist_bg = np.linalg.norm(window_rgb[mask] - bg_rgb, axis=-1)
        color_rgb = np.median(window_rgb[mask][dist_bg >= np.median(dist_bg)], axis=0)
    share, _ = blend_shares(window_rgb, bg_rgb, color_rgb[None])
    raw = np.where(near, share[..., 0], 0.0)
    fit = fit_shape(fill_holes_soft(raw), raw)
    (y0, x0), (height, width) = origin, full_shape[:2]
    return Detection(
        shape=fit.shape,
        color=color,
        cx=(x0 + fit.px) / width,
        cy=(y0 + fit.py) / height,
        size=fit.size / min(height, width),
        hollow=fit.hollow,
        area=int(mask.sum()),
    )


def find_objects(image: np.ndarray) -> tuple[str | None, list[Detection]]:
    """Background name and the objects in an RGB uint8 image (H x W x 3), ordered top-left to bottom-right."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {image.shape}")
    factor = -(-max(image.shape[:2]) // MAX_SIDE)
    if factor > 1:
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image[..., :3])).reduce(factor))
    rgb = image[..., :3].astype(np.float32)
    background, bg_rgb = find_background(rgb)
    share, off_line = blend_shares(rgb, bg_rgb, OBJECT_RGB)
    share = np.where(off_line <= MAX_BLEND_RESIDUAL, share, 0.0)
    labels = np.argmax(share, axis=-1)
    foreground = share.max(axis=-1) >= FOREGROUND_SHARE
    min_area = max(4, int(MIN_AREA_FRACTION * rgb.shape[0] * rgb.shape[1]))

    comp_labels, _ = ndimage.label(foreground, _EIGHT)
    found = []
    for k, box in enumerate(ndimage.find_objects(comp_labels), start=1):
        y0, x0 = max(0, box[0].start - PAD), max(0, box[1].start - PAD)
        window = (slice(y0, box[0].stop + PAD), slice(x0, box[1].stop + PAD))
        comp = comp_labels[window] == k
        if comp.sum() < min_area:
            continue
        others = foreground[window] & ~comp
        for part in _split_by_color(comp, labels[window], min_area):
            near = ndimage.binary_dilation(part, _NEAR) & ~others
            found.append(_describe(part, rgb[window], bg_rgb, near, (y0, x0), rgb.shape))
    found.sort(key=lambda d: (round(d.cy, 2), d.cx))
    return background, found
