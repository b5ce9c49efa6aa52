"""`dreamlite ablation`: is DreamLite's task-progressive schedule better than joint training from scratch?

Two schedules from the same initial pipeline, the same data and the same total number of steps:
  progressive: t2i, then edit, then joint (the recipe's first three stages, steps rescaled to the total);
  joint:       one stage of the recipe's joint mixture from scratch (the t2i stage's optimizer settings).
Each result is scored on ShapesBench (generation and editing); the table goes to OUT/ablation.md and .json.
Re-running resumes whichever training or scoring is unfinished.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .config import RecipeError
from .recipe import PromptEncoderSpec, Recipe, VAESpec, load_recipe, validate


def schedules(recipe: Recipe, steps: int) -> dict[str, Recipe]:
    names = [s.name for s in recipe.stages]
    if len(recipe.stages) < 3:
        raise RecipeError(f"ablation needs a recipe whose first three stages are t2i, edit and joint; got {names}")
    t2i, edit, joint = (copy.deepcopy(s) for s in recipe.stages[:3])
    joint_has_both = joint.mixture.get("t2i") and joint.mixture.get("edit")
    if t2i.mixture.get("edit") or edit.mixture.get("t2i") or not joint_has_both:
        raise RecipeError(f"ablation: stages {names[:3]} of {recipe.name} are not t2i-only, edit-only and joint")
    total = t2i.steps + edit.steps + joint.steps
    t2i.steps = max(1, round(steps * t2i.steps / total))
    edit.steps = max(1, round(steps * edit.steps / total))
    joint.steps = max(1, steps - t2i.steps - edit.steps)
    progressive = copy.deepcopy(recipe)
    progressive.stages = [t2i, edit, joint]
    scratch = copy.deepcopy(recipe)
    single = copy.deepcopy(recipe.stages[0])
    single.name, single.steps = "joint", steps
    single.mixture, single.data = dict(joint.mixture), copy.deepcopy(joint.data)
    scratch.stages = [single]
    for r, tag in ((progressive, "progressive"), (scratch, "joint")):
        r.name = f"{recipe.name}-ablation-{tag}"
        validate(r)
    return {"progressive (t2i, edit, joint)": progressive, "joint from scratch": scratch}


def run_ablation(out: str | Path, recipe: str = "shapes-tiny", steps: int = 3000, bench_items: int = 8,
                 sample_steps: int = 20, overrides=(), log=print) -> dict:
    from ..loading import save_components
    from .checkpoint import commit
    from .components import build_initial
    from .loop import train

    out = Path(out)
    base = load_recipe(recipe, list(overrides))
    runs = schedules(base, steps)
    init = out / "init"
    if not init.is_dir():  # one starting point for both schedules
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".tmp-init"
        save_components(build_initial(base), tmp)
        commit(tmp, init)
    results = {}
    for label, run in runs.items():
        folder = out / ("progressive" if label.startswith("progressive") else "joint")
        # Everything from the shared starting point; one latent cache for both (same frozen models).
        run.model.init = str(init.resolve())
        run.model.vae, run.model.prompt_encoder = VAESpec(), PromptEncoderSpec()
        if run.run.cache is not None and run.run.cache.dir is None:
            run.run.cache.dir = str((out / "cache").resolve())
        log(f"== {label}: {' + '.join(f'{s.name} {s.steps}' for s in run.stages)} steps")
        final = train(run, folder, log=log)
        results[label] = score(final, folder / "shapesbench", bench_items, sample_steps, log)
    table = format_ablation(results, steps, bench_items, sample_steps)
    (out / "ablation.md").write_text(table + "\n")
    (out / "ablation.json").write_text(json.dumps({"steps": steps, "bench_items_per_category": bench_items,
                                                   "sample_steps": sample_steps, "results": results}, indent=2) + "\n")
    log(table)
    return results


def score(final: Path, folder: Path, items: int, sample_steps: int, log) -> dict:
    summary_file = folder / "summary.json"
    if summary_file.is_file():
        return json.loads(summary_file.read_text())
    from ..pipeline import DreamLite
    from ..shapes.evaluate import evaluate_model

    model = DreamLite.from_pretrained(final, device="cpu")
    summary = evaluate_model(model, folder, limit=items, steps=sample_steps, progress=True)
    summary_file.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def format_ablation(results: dict, steps: int, items: int, sample_steps: int) -> str:
    lines = [f"ShapesBench after {steps} training steps per schedule ({items} items per category, "
             f"{sample_steps} sampling steps)", "",
             "| schedule | generation | editing | overall |", "| --- | ---: | ---: | ---: |"]
    for label, s in results.items():
        gen = s.get("generation", {}).get("overall", float("nan"))
        edit = s.get("editing", {}).get("overall", float("nan"))
        lines.append(f"| {label} | {gen:.3f} | {edit:.3f} | {s.get('overall', float('nan')):.3f} |")
    categories = sorted({(task, c) for s in results.values() for task in ("generation", "editing")
                         for c in s.get(task, {}) if c != "overall"})
    if categories:
        lines += ["", "| category | " + " | ".join(results) + " |", "| --- |" + " ---: |" * len(results)]
        for task, c in categories:
            row = [f"{s.get(task, {}).get(c, float('nan')):.3f}" for s in results.values()]
            lines.append(f"| {task}/{c} | " + " | ".join(row) + " |")
    return "\n".join(lines)
