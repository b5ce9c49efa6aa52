"""ImgEdit Basic (Ye et al. 2025, "ImgEdit: A Unified Image Editing Dataset and Benchmark"): 737 items, 9 types.

Data (the user's copy of the benchmark), `--data DIR`:
    DIR/basic_edit.json    {key: {"id": source path relative to DIR, "prompt": instruction, "edit_type": type}}
    DIR/prompts.json       the judge rubric per edit type; "<edit_prompt>" stands for the instruction
Sampling writes OUT/{key}.png (the layout the official scorer reads). Judging shows the judge the rubric, the
source and the result; the answer holds three "Criterion: N" lines (1-5). An item's score is the mean of its
three, rounded to 2 places; a type's is the mean of its items, rounded to 2 places (the official step1/step2);
overall is the mean over the types. OUT also gets result.json ({key: answer}, the official scorer's format).
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

from PIL import Image

from . import EvalError
from .editing import EditProtocol, edit_image
from .identity import files_identity
from .judges import MalformedAnswer, ask_with_retries
from .judging import judge_all, mean
from .report import contact_sheet, markdown_table, write_json
from .shard import Job

TYPES = ("add", "adjust", "extract", "replace", "remove", "background", "style", "compose", "action")
CRITERIA = 3
SCORE_LINE = re.compile(r"^\s*([^:\n]+?)\s*:\s*(\d+)\s*$")


def _key_order(key: str):
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def read_items(data: str | Path) -> list[dict]:
    """The items of basic_edit.json in key order, each with its source path checked."""
    data = Path(data)
    path = data / "basic_edit.json"
    if not path.is_file():
        raise EvalError(f"--data {data}: no basic_edit.json (ImgEdit Basic's item list)")
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise EvalError(f"{path}: not JSON ({err.msg})") from None
    items = []
    for key in sorted(entries, key=_key_order):
        entry = entries[key]
        missing = [k for k in ("id", "prompt", "edit_type") if k not in entry]
        if missing:
            raise EvalError(f"{path}: item {key} lacks {', '.join(missing)}")
        if not (data / entry["id"]).is_file():
            raise EvalError(f"{path}: item {key}'s source {data / entry['id']} is missing")
        items.append({"key": str(key), "source": data / entry["id"], "prompt": entry["prompt"],
                      "edit_type": entry["edit_type"]})
    if not items:
        raise EvalError(f"{path}: no items")
    return items


def edit_jobs(model, items: list[dict], out: Path, protocol: EditProtocol) -> list[Job]:
    return [Job(out / f"{item['key']}.png", partial(edit_image, model, item["source"], item["prompt"], protocol))
            for item in items]


def parse_answer(text: str) -> list[int]:
    """The three criterion scores (1-5) of a judge answer, in order."""
    scores = [int(m.group(2)) for line in text.splitlines() if (m := SCORE_LINE.match(line))]
    if len(scores) != CRITERIA:
        raise MalformedAnswer(f"expected {CRITERIA} 'Criterion: N' lines, found {len(scores)}")
    if not all(1 <= s <= 5 for s in scores):
        raise MalformedAnswer(f"scores {scores} outside 1-5")
    return scores


def read_rubric(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"rubric {path}: no such file (ImgEdit's prompts.json: one judge prompt per edit type)")
    return json.loads(path.read_text())


def judge_item(item: dict, judge, rubric: dict[str, str], images: Path, attempts: int = 3) -> dict:
    if item["edit_type"] not in rubric:
        return {"ok": False, "errors": [f"no rubric for edit type {item['edit_type']!r}"], "answers": []}
    text = rubric[item["edit_type"]].replace("<edit_prompt>", item["prompt"])
    with Image.open(item["source"]) as src, Image.open(images / f"{item['key']}.png") as res:
        parts = [text, src.convert("RGB"), res.convert("RGB")]
    verdict = ask_with_retries(judge, parts, parse_answer, attempts)
    return {"ok": verdict.ok, "scores": verdict.value, "answers": verdict.answers, "errors": verdict.errors,
            "attempts": verdict.attempts}


def aggregate(items: list[dict], records: dict[str, dict]) -> dict:
    """Item means (2 places), type means (2 places) and overall (mean of types); failures counted per type."""
    per_type: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    item_scores = {}
    for item in items:
        record = records.get(item["key"], {})
        per_type.setdefault(item["edit_type"], [])
        if record.get("ok"):
            item_scores[item["key"]] = round(sum(record["scores"]) / len(record["scores"]), 2)
            per_type[item["edit_type"]].append(item_scores[item["key"]])
        else:
            failures[item["edit_type"]] = failures.get(item["edit_type"], 0) + 1
    types = {t: {"score": round(mean(v), 2) if v else None, "items": len(v), "failures": failures.get(t, 0)}
             for t, v in per_type.items()}
    scored = [t["score"] for t in types.values() if t["score"] is not None]
    return {"overall": round(mean(scored), 4) if scored else None, "types": types, "items": item_scores,
            "failures": sum(failures.values())}


def score_imgedit(items: list[dict], images: Path, judge, rubric_path: Path, data: Path, out: Path,
                  attempts: int = 3, progress: bool = False) -> dict:
    """Judge every item (resumable), write judgments.jsonl, result.json, scores.json, scores.md, grid.png."""
    missing = [i["key"] for i in items if not (images / f"{i['key']}.png").is_file()]
    if missing:
        raise EvalError(f"{images}: {len(missing)} results missing, e.g. {missing[0]}.png")
    rubric = read_rubric(rubric_path)
    records = judge_all(items, partial(judge_item, judge=judge, rubric=rubric, images=images, attempts=attempts),
                        out / "judgments.jsonl", progress)
    summary = aggregate(items, records)
    write_json(out / "result.json", {k: (r["answers"][-1] if r.get("ok") else {"error": "; ".join(r["errors"])})
                                     for k, r in records.items()})
    scores = {"benchmark": "ImgEdit Basic", "overall": summary["overall"], "types": summary["types"],
              "failures": summary["failures"], "judge": judge.identity,
              "prompt_files": files_identity([rubric_path, data / "basic_edit.json"])}
    write_json(out / "scores.json", scores)
    order = [t for t in TYPES if t in summary["types"]] + sorted(set(summary["types"]) - set(TYPES))
    rows = [[t, summary["types"][t]["score"], summary["types"][t]["items"], summary["types"][t]["failures"]]
            for t in order] + [["overall (mean of types)", summary["overall"], len(summary["items"]),
                                summary["failures"]]]
    notes = [f"judge: {judge.identity.get('id')} ({judge.identity.get('kind')}); scores depend on the judge"]
    (out / "scores.md").write_text(markdown_table("ImgEdit Basic", ["type", "score (1-5)", "items", "failures"],
                                                  rows, notes))
    sheet = [(t, [(i["source"], images / f"{i['key']}.png", summary["items"].get(i["key"], 0) >= 3.5)
                  for i in items if i["edit_type"] == t]) for t in order]
    contact_sheet(sheet).save(out / "grid.png")
    return scores
