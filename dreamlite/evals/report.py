"""Results files shared by the benchmarks: scores.json, a Markdown table and a contact sheet of samples.

The contact sheet reuses ShapesBench's tiles (shapes/report.py): one row per task or edit type, its first images
framed green (passed / high score) or red, editing rows with the source before each result.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

from ..shapes.report import CELL, FAIL_RGB, LABEL_WIDTH, PANEL_RGB, PASS_RGB, _tile


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def markdown_table(title: str, header: list[str], rows: list[list], notes: list[str] = ()) -> str:
    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


def contact_sheet(rows: list[tuple[str, list[tuple[Path | None, Path, bool]]]], per_row: int = 4) -> Image.Image:
    """rows: (label, [(source or None, image, passed)]); at most `per_row` entries of each row are drawn."""
    width = LABEL_WIDTH + per_row * 2 * CELL
    sheet = Image.new("RGB", (width, max(1, len(rows)) * CELL), PANEL_RGB)
    draw = ImageDraw.Draw(sheet)
    for y, (label, entries) in enumerate(rows):
        draw.text((4, y * CELL + CELL // 2 - 6), label[:18], fill=(255, 255, 255))
        x = LABEL_WIDTH
        for source, image, passed in entries[:per_row]:
            if source is not None:
                sheet.paste(_tile(source, PANEL_RGB), (x, y * CELL))
            sheet.paste(_tile(image, PASS_RGB if passed else FAIL_RGB), (x + CELL, y * CELL))
            x += 2 * CELL
    return sheet
