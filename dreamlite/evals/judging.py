"""The judging loop shared by ImgEdit and GEdit: one record per item in judgments.jsonl, resumable.

Each record is appended (and flushed) as soon as its item is judged, so an interrupted run keeps what it did; a
re-run judges only the items without a successful record (failures are tried again).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path


def read_judgments(path: Path) -> dict[str, dict]:
    """The last record of each key (a killed run may leave a cut last line; it is ignored)."""
    records = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            records[record["key"]] = record
    return records


def judge_all(items: Sequence[dict], judge_item: Callable[[dict], dict], path: Path,
              progress: bool = False) -> dict[str, dict]:
    """Judge every item lacking a successful record in `path`; returns {key: record} for all items."""
    records = read_judgments(path)
    todo = [item for item in items if not records.get(item["key"], {}).get("ok")]
    if progress:
        from tqdm import tqdm

        todo = tqdm(todo, desc="judging", unit="item")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for item in todo:
            record = dict(judge_item(item), key=item["key"])
            f.write(json.dumps(record) + "\n")
            f.flush()
            records[item["key"]] = record
    return {item["key"]: records[item["key"]] for item in items}


def mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None
