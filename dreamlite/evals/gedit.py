"""GEdit-Bench (Liu et al. 2025, Step1X-Edit) scored with VIEScore (Ku et al. 2024): SC, PQ and O, 0-10.

Data, `--data DIR`: DIR/metadata.jsonl, one item per line with `key`, `task_type`, `instruction`,
`instruction_language` ("en" or "cn"), `image` (the source, relative to DIR) and optionally `intersection_exist`
(docs/benchmarks.md shows how to write it from the released dataset). Sampling writes GEdit's layout
OUT/fullset/<task_type>/<language>/<key>.png.

VIEScore asks the judge twice per item. Semantic consistency (SC): the source and the result, answer
{"score": [editing success, over-editing], ...}; perceptual quality (PQ): the result alone, answer
{"score": [naturalness, artifacts], ...}. SC and PQ are the minima of their sub-scores and O = sqrt(SC x PQ).
A task type's scores are the means over its items; the benchmark's are the means over the 11 task types.
The prompts are a JSON file {"sc": ..., "pq": ...} ("<instruction>" stands for the instruction); the built-in
ones follow VIEScore's format in this project's words: pass VIEScore's own text for paper-comparable numbers.
"""

from __future__ import annotations

import json
import math
import re
from functools import partial
from pathlib import Path

from PIL import Image

from . import EvalError
from .editing import EditProtocol, edit_image
from .identity import files_identity, sha256_text
from .judges import MalformedAnswer, ask_with_retries
from .judging import judge_all, mean
from .report import contact_sheet, markdown_table, write_json
from .shard import Job

TASK_TYPES = ("background_change", "color_alter", "material_alter", "motion_change", "ps_human", "style_change",
              "subject-add", "subject-remove", "subject-replace", "text_change", "tone_transfer")

_RULES = ("You are a professional digital artist rating AI-edited images. Answer with JSON only, in the form "
          '{"score": [...], "reasoning": "..."}, every score an integer from 0 to 10.')
DEFAULT_PROMPTS = {
    "sc": _RULES + (" Two images follow: the original, then its edit. The editing instruction was: <instruction>\n"
                    "First score: how well the edit carries out the instruction (0: not at all, 10: perfectly). "
                    "Second score: over-editing (0: the edited image changed far beyond the instruction, 10: only "
                    "what was asked changed). Give score = [editing success, over-editing]."),
    "pq": _RULES + (" One AI-made image follows. First score: naturalness (0: unnatural lighting, shadows or sense "
                    "of distance, 10: looks natural). Second score: artifacts (0: heavy distortion, watermarks, "
                    "blur or broken body parts, 10: none). Give score = [naturalness, artifacts]."),
}


def read_items(data: str | Path, language: str = "en") -> list[dict]:
    data = Path(data)
    path = data / "metadata.jsonl"
    if not path.is_file():
        raise EvalError(f"--data {data}: no metadata.jsonl (see docs/benchmarks.md for GEdit-Bench)")
    items = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise EvalError(f"{path}:{number}: not JSON ({err.msg})") from None
        missing = [k for k in ("key", "task_type", "instruction", "instruction_language", "image") if k not in row]
        if missing:
            raise EvalError(f"{path}:{number}: missing {', '.join(missing)}")
        if language != "all" and row["instruction_language"] != language:
            continue
        if not (data / row["image"]).is_file():
            raise EvalError(f"{path}:{number}: source {data / row['image']} is missing")
        items.append(dict(row, key=str(row["key"]), source=data / row["image"]))
    if not items:
        raise EvalError(f"{path}: no items in language {language!r}")
    return items


def result_path(root: Path, item: dict) -> Path:
    return root / "fullset" / item["task_type"] / item["instruction_language"] / f"{item['key']}.png"


def edit_jobs(model, items: list[dict], out: Path, protocol: EditProtocol) -> list[Job]:
    return [Job(result_path(out, item), partial(edit_image, model, item["source"], item["instruction"], protocol))
            for item in items]


def parse_scores(text: str, count: int = 2) -> list[int]:
    """The `score` list of a VIEScore answer: a JSON object, possibly inside a ```json fence or other text."""
    body = re.sub(r"```(?:json)?", "", text)
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise MalformedAnswer("no JSON object in the answer")
    try:
        data = json.loads(body[start:end + 1])
    except json.JSONDecodeError as err:
        raise MalformedAnswer(f"unreadable JSON ({err.msg})") from None
    scores = data.get("score") if isinstance(data, dict) else None
    if not isinstance(scores, list) or len(scores) != count:
        raise MalformedAnswer(f"expected score as a list of {count} numbers, got {scores!r}")
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 <= s <= 10 for s in scores):
        raise MalformedAnswer(f"scores {scores} are not numbers from 0 to 10")
    return [float(s) for s in scores]


def read_prompts(path: str | Path | None) -> dict[str, str]:
    if path is None:
        return DEFAULT_PROMPTS
    prompts = json.loads(Path(path).read_text())
    if not {"sc", "pq"} <= set(prompts):
        raise EvalError(f"{path}: needs the keys 'sc' and 'pq' (VIEScore's two prompts)")
    return prompts


def judge_item(item: dict, judge, prompts: dict[str, str], images: Path, attempts: int = 3) -> dict:
    with Image.open(item["source"]) as src, Image.open(result_path(images, item)) as res:
        source, result = src.convert("RGB"), res.convert("RGB")
    sc = ask_with_retries(judge, [source, result, prompts["sc"].replace("<instruction>", item["instruction"])],
                          parse_scores, attempts)
    pq = ask_with_retries(judge, [result, prompts["pq"]], parse_scores, attempts)
    record = {"ok": sc.ok and pq.ok, "sc_scores": sc.value, "pq_scores": pq.value,
              "answers": sc.answers + pq.answers, "errors": sc.errors + pq.errors,
              "attempts": sc.attempts + pq.attempts}
    if record["ok"]:
        record.update(viescore(sc.value, pq.value))
    return record


def viescore(sc_scores: list[float], pq_scores: list[float]) -> dict:
    """SC = min of its sub-scores, PQ = min of its sub-scores, O = sqrt(SC x PQ)."""
    sc, pq = min(sc_scores), min(pq_scores)
    return {"SC": sc, "PQ": pq, "O": math.sqrt(sc * pq)}


def aggregate(items: list[dict], records: dict[str, dict], subset: str = "fullset") -> dict:
    """Means per task type and their mean over types; subset "intersection" keeps items marked so."""
    chosen = [i for i in items if subset == "fullset" or i.get("intersection_exist")]
    groups: dict[str, dict[str, list[float]]] = {}
    failures = 0
    for item in chosen:
        record = records.get(item["key"], {})
        group = groups.setdefault(item["task_type"], {"SC": [], "PQ": [], "O": []})
        if not record.get("ok"):
            failures += 1
            continue
        for metric in ("SC", "PQ", "O"):
            group[metric].append(record[metric])
    per_type = {t: {m: mean(v) for m, v in g.items()} | {"items": len(g["O"])} for t, g in groups.items()}
    overall = {m: mean(v[m] for v in per_type.values() if v[m] is not None) for m in ("SC", "PQ", "O")}
    return {"subset": subset, **overall, "types": per_type, "failures": failures}


def score_gedit(items: list[dict], images: Path, judge, prompts_path: Path | None, data: Path, out: Path,
                attempts: int = 3, progress: bool = False) -> dict:
    missing = [i["key"] for i in items if not result_path(images, i).is_file()]
    if missing:
        raise EvalError(f"{images}: {len(missing)} results missing, e.g. {missing[0]}")
    prompts = read_prompts(prompts_path)
    records = judge_all(items, partial(judge_item, judge=judge, prompts=prompts, images=images, attempts=attempts),
                        out / "judgments.jsonl", progress)
    full = aggregate(items, records)
    subsets = {"fullset": full}
    if any("intersection_exist" in i for i in items):
        subsets["intersection"] = aggregate(items, records, "intersection")
    prompt_files = (files_identity([prompts_path]) if prompts_path else
                    {"built-in VIEScore-format prompts": sha256_text(json.dumps(DEFAULT_PROMPTS, sort_keys=True))})
    scores = {"benchmark": "GEdit-Bench (VIEScore)", "languages": sorted({i["instruction_language"] for i in items}),
              **subsets, "judge": judge.identity,
              "prompt_files": prompt_files | files_identity([data / "metadata.jsonl"])}
    write_json(out / "scores.json", scores)
    order = [t for t in TASK_TYPES if t in full["types"]] + sorted(set(full["types"]) - set(TASK_TYPES))
    rows = [[t, full["types"][t]["SC"], full["types"][t]["PQ"], full["types"][t]["O"], full["types"][t]["items"]]
            for t in order] + [["mean of types", full["SC"], full["PQ"], full["O"], full["failures"]]]
    notes = [f"judge: {judge.identity.get('id')} ({judge.identity.get('kind')}); last column of the last row: "
             "items whose judging failed"]
    (out / "scores.md").write_text(markdown_table("GEdit-Bench (VIEScore)", ["task type", "SC", "PQ", "O", "items"],
                                                  [[c if c is not None else "-" for c in r] for r in rows], notes))
    sheet = [(t, [(i["source"], result_path(images, i), (records[i["key"]].get("O") or 0) >= 5)
                  for i in items if i["task_type"] == t]) for t in order]
    contact_sheet(sheet).save(out / "grid.png")
    return scores
