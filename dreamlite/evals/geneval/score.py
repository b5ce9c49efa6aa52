"""Score a GenEval folder: detections -> GenEval's rules -> results.jsonl, scores.json, scores.md, grid.png.

results.jsonl has the fields of GenEval's own results file (filename, tag, prompt, correct, reason, metadata,
details), so its summary script reads it too. scores.json is labelled "GenEval-compatible" and records the
detector's and CLIP's ids and sha256 hashes, the rules' settings and the metadata file's sha256.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from PIL import Image, ImageOps

from ..identity import files_identity
from ..report import contact_sheet, markdown_table, write_json
from . import TASKS
from .layout import read_layout
from .rules import GenEvalRules, evaluate, keep_detections, summarize

LABEL = "GenEval-compatible"


def score_image(path: Path, metadata: dict, detector, classifier, rules: GenEvalRules) -> dict:
    with Image.open(path) as im:
        image = ImageOps.exif_transpose(im).convert("RGB")
    raw = detector.detect(image, min_score=min(rules.threshold, rules.counting_threshold))
    detected = keep_detections(raw, metadata["tag"], rules)
    correct, reason = evaluate(metadata, detected, lambda name, dets: classifier.classify(image, dets, name), rules)
    return {"filename": str(path), "tag": metadata["tag"], "prompt": metadata["prompt"], "correct": correct,
            "reason": reason, "metadata": json.dumps(metadata),
            "details": json.dumps({k: [list(d.box) + [d.score] for d in v] for k, v in detected.items()})}


def score_folder(root: str | Path, detector, classifier, rules: GenEvalRules = GenEvalRules(),
                 identity: dict | None = None, metadata_file: str | Path | None = None,
                 progress: bool = False) -> dict:
    """Score every image GenEval's reader finds under `root`; write the results files there; return scores.json."""
    root = Path(root)
    results = []
    layout = read_layout(root)
    todo = [(i, m, p) for i, (m, paths) in enumerate(layout) for p in paths]
    if progress:
        from tqdm import tqdm

        todo = tqdm(todo, desc="geneval scoring", unit="image")
    for index, metadata, path in todo:
        results.append(dict(score_image(path, metadata, detector, classifier, rules), prompt_index=index))
    with open(root / "results.jsonl", "w") as f:
        for r in results:
            f.write(json.dumps({k: v for k, v in r.items() if k != "prompt_index"}) + "\n")
    summary = summarize(results)
    scores = {"benchmark": LABEL, **summary, "rules": asdict(rules), **(identity or {}),
              "prompt_files": files_identity([metadata_file]) if metadata_file else {}}
    write_json(root / "scores.json", scores)
    rows = [[t, s["score"], f"{s['correct']} / {s['images']}"] for t, s in summary["tasks"].items()]
    rows.append(["overall (mean of tasks)", summary["overall"], f"{summary['images']} images"])
    notes = [f"{LABEL}: GenEval's rules on a transformers Mask2Former; not the official mmdetection scorer."]
    (root / "scores.md").write_text(markdown_table(LABEL, ["task", "score", "correct"], rows, notes))
    order = {t: i for i, t in enumerate(TASKS)}
    sheet = [(tag, [(None, Path(r["filename"]), r["correct"]) for r in results if r["tag"] == tag])
             for tag in sorted(summary["tasks"], key=lambda t: order.get(t, 99))]
    contact_sheet(sheet).save(root / "grid.png")
    return scores
