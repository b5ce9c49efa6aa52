"""Reports of a scored split: JSON summary, Markdown table, per-item verdicts and a pass/fail sample grid."""

import json
from dataclasses import asdict
from pathlib import Path

from PIL import Image, ImageDraw

from .layout import TASKS
from .score import ItemScore, format_table, load_rgb

PASS_RGB, FAIL_RGB, PANEL_RGB = (40, 180, 60), (220, 40, 40), (90, 90, 90)
CELL = 96  # pixels per image in the grid
LABEL_WIDTH = 120


def write_reports(out_dir, records: list[dict], scores: list[ItemScore], summary: dict, per_category: int = 4):
    """scores.json (summary), scores.md (table), items.jsonl (verdict per item) and grid.png in `out_dir`."""
    out = Path(out_dir)
    (out / "scores.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "scores.md").write_text("# ShapesBench\n\n" + format_table(summary, scores) + "\n")
    with open(out / "items.jsonl", "w") as f:
        for s in scores:
            f.write(json.dumps(asdict(s)) + "\n")
    sample_grid(out, records, scores, per_category).save(out / "grid.png")


def _tile(path: Path, frame) -> Image.Image:
    """An image scaled into a CELL x CELL tile with a coloured frame."""
    image = Image.fromarray(load_rgb(path)).resize((CELL - 8, CELL - 8), Image.NEAREST)
    tile = Image.new("RGB", (CELL, CELL), frame)
    tile.paste(image, (4, 4))
    return tile


def sample_grid(root: Path, records: list[dict], scores: list[ItemScore], per_category: int = 4) -> Image.Image:
    """One row per category: its first items (editing: source, then result), results framed green or red."""
    verdict = {s.id: s.passed for s in scores}
    rows = []
    for task, categories in TASKS.items():
        for category in categories:
            picked = [r for r in records if r["task"] == task and r["category"] == category][:per_category]
            if picked:
                rows.append((f"{'gen' if task == 'generation' else 'edit'}/{category}", picked))
    width = LABEL_WIDTH + per_category * 2 * CELL
    grid = Image.new("RGB", (width, max(1, len(rows)) * CELL), PANEL_RGB)
    draw = ImageDraw.Draw(grid)
    for y, (label, picked) in enumerate(rows):
        draw.text((4, y * CELL + CELL // 2 - 6), label, fill=(255, 255, 255))
        x = LABEL_WIDTH
        for record in picked:
            passed = verdict.get(record["id"], False)
            if record["task"] == "editing":
                grid.paste(_tile(root / record["source"], PANEL_RGB), (x, y * CELL))
                x += CELL
            grid.paste(_tile(root / record["image"], PASS_RGB if passed else FAIL_RGB), (x, y * CELL))
            x += CELL if record["task"] == "editing" else 2 * CELL
    return grid

