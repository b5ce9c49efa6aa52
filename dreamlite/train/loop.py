"""The one training loop: stages in order, each from the previous stage's pipeline folder, resumable anywhere.

`train(recipe, out)` walks the recipe's stages. A finished stage is a pipeline folder `OUT/<stage>/`; an
unfinished one resumes from its newest checkpoint in `OUT/checkpoints/`. Within a stage every step is a pure
function of (weights, optimizer state, seed, stage, step, data position): the plan picks the items, each sample
draws its noise, time and condition dropout from its own seeded generator, and the learning rate is a function
of the step. That is why a run killed at any point and started again ends with bit-identical weights, and why
N processes give the weights of one with the same global batch.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import yaml

from ..loading import load_components
from .checkpoint import latest_checkpoint, load_checkpoint, load_stage_tensors, remove_partial, save_checkpoint
from .components import build_initial
from .config import RecipeError
from .data import build_source
from .data.base import stable_seed
from .data.plan import BatchPlan, PlannedBatches, PlannedItems
from .ema import EMA
from .encode import Conditioner
from .export import export_stage, publish_final, write_new
from .progress import Progress
from .recipe import Recipe, training_sizes
from .stages import COMPILED_TEXT_MULTIPLE, MIXED_PRECISION_DTYPES, STAGE_KINDS

# Settings that may change between a run and its resumption without changing what is trained.
RESUMABLE_CHANGES = ("save_every", "keep_checkpoints", "log_every", "num_workers", "threads", "compile")


def make_accelerator(run):
    from accelerate import Accelerator

    if run.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS, set before CUDA starts
    accelerator = Accelerator(mixed_precision=run.mixed_precision, cpu=not torch.cuda.is_available())
    if run.threads:
        torch.set_num_threads(run.threads)
    torch.use_deterministic_algorithms(run.deterministic)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = not run.deterministic
        if not run.deterministic:  # TF32 matrix products and convolutions: faster, and bitwise reproducibility is off
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return accelerator


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_at(spec, step: int, total: int) -> float:
    """Linear warmup, then constant, cosine or linear decay to min_lr_ratio * lr (a pure function of the step)."""
    if step < spec.warmup_steps:
        return spec.lr * (step + 1) / spec.warmup_steps
    if spec.schedule == "constant":
        return spec.lr
    progress = (step - spec.warmup_steps) / max(1, total - spec.warmup_steps)
    shape = 0.5 * (1 + np.cos(np.pi * progress)) if spec.schedule == "cosine" else 1 - progress
    return spec.lr * (spec.min_lr_ratio + (1 - spec.min_lr_ratio) * float(shape))


def strip_resumable(recipe: dict) -> dict:
    """A recipe dict without the settings a resumed run may change (engineering, not what is trained)."""
    run = {k: v for k, v in recipe.get("run", {}).items() if k not in RESUMABLE_CHANGES}
    if isinstance(run.get("cache"), dict):  # who fills it and how much of it stays in memory: not its contents
        run["cache"] = {k: v for k, v in run["cache"].items() if k not in ("workers", "memory_gb")}
    return {**recipe, "run": run}


def check_out_dir(out: Path, recipe: Recipe) -> None:
    """A run directory belongs to one recipe: refuse to mix two, allow resuming with engineering changes."""
    saved = out / "recipe.yaml"
    current = recipe.to_dict()
    if saved.is_file():
        previous = yaml.safe_load(saved.read_text())
        if strip_resumable(previous) != strip_resumable(current):
            raise RecipeError(f"{out} holds a run of a different recipe (see {saved}); use another --out, or "
                              "delete it to start over")
    out.mkdir(parents=True, exist_ok=True)
    write_new(saved, recipe.dump())


class HookCaller:
    """Calls a stage's optional hook by name (flow-matching stages have none; RL and distill have most)."""

    def __init__(self, task):
        self.task = task

    def __call__(self, name: str, *args):
        hook = getattr(self.task, name, None)
        return hook(*args) if hook is not None else None


class TimeUp(Exception):
    """Raised inside a stage when `train`'s time limit has passed, after its checkpoint is written."""


def adopt_stage_folder(out: Path, name: str, source: Path, say) -> None:
    """Copy the pipeline folder `source` in as stage `name`'s result (once; a copy already there is kept)."""
    from ..loading import load_components
    from .checkpoint import commit
    from .export import ADOPTED_FILE

    target = out / name
    if target.is_dir():
        say(f"stage '{name}' is already in {target}; --stage-folder {source} not copied again")
        return
    if not (source / "model_index.json").is_file():
        raise RecipeError(f"--stage-folder: {source} is not a pipeline folder (no model_index.json)")
    load_components(source)  # fail here, not at the next stage, when it does not load
    tmp = out / f".tmp-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("lora", "README.md"))
    (tmp / ADOPTED_FILE).write_text(f"{source.resolve()}\n")
    commit(tmp, target)
    say(f"stage '{name}' taken from {source}: {target}")


def train(recipe: Recipe, out: str | Path, save_every: int | None = None, log=print,
          stop_after: float | None = None, until: str | None = None,
          stage_folder: tuple[str, str | Path] | None = None) -> Path | None:
    """Run (or resume) every stage of `recipe` in `out`; returns `out/final`, or None when `stop_after` seconds
    (wall time from this call) ran out first: then the newest step is checkpointed and running the same command
    again resumes from it. `until` names a stage to stop after (returning its folder); without it the same
    command goes on to the next stages. `stage_folder` = (stage, folder) takes a pipeline folder as that stage's
    result: the stages before it are not run (nor is the initial pipeline built) and the ones after it go on
    from it, with the same data, seeds and step offsets as in the whole run."""
    out = Path(out)
    names = [stage.name for stage in recipe.stages]
    if until is not None and until not in names:
        raise RecipeError(f"--until {until!r}: the recipe's stages are {', '.join(names)}")
    first = 0
    if stage_folder is not None:
        if stage_folder[0] not in names:
            raise RecipeError(f"--stage-folder {stage_folder[0]!r}: the recipe's stages are {', '.join(names)}")
        first = names.index(stage_folder[0])
        if until is not None and names.index(until) < first:
            raise RecipeError(f"--until {until!r} comes before --stage-folder's stage {stage_folder[0]!r}")
    deadline = None if stop_after is None else time.monotonic() + stop_after
    if save_every is not None:
        if save_every < 1:
            raise RecipeError("--save-every must be >= 1")
        recipe.run.save_every = save_every
    accelerator = make_accelerator(recipe.run)
    main = accelerator.is_main_process
    say = log if main else (lambda *a, **k: None)
    if main:
        check_out_dir(out, recipe)
    say(f"# dreamlite train: resolved recipe ({accelerator.num_processes} process(es), "
        f"{accelerator.device}, mixed precision {recipe.run.mixed_precision})\n{recipe.dump()}")
    if main:
        remove_partial(out)
        if stage_folder is not None:
            adopt_stage_folder(out, stage_folder[0], Path(stage_folder[1]), say)
    accelerator.wait_for_everyone()

    init = out / "init"
    if stage_folder is None and not init.is_dir():
        if main:
            from ..loading import save_components
            from .checkpoint import commit

            components = build_initial(recipe)
            tmp = out / ".tmp-init"
            shutil.rmtree(tmp, ignore_errors=True)
            save_components(components, tmp)
            commit(tmp, init)
            say(f"initial pipeline written to {init} (U-Net {components.unet.num_parameters():,} parameters)")
        accelerator.wait_for_everyone()

    writer = None
    if main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "logs"))
    previous, offset = init, 0
    try:
        for index, stage in enumerate(recipe.stages):
            folder = out / stage.name
            if index < first:
                say(f"stage {index + 1}/{len(recipe.stages)} '{stage.name}' not run: the run goes on from "
                    f"--stage-folder's '{names[first]}'")
            elif folder.is_dir():
                say(f"stage {index + 1}/{len(recipe.stages)} '{stage.name}' already done: {folder}")
            else:
                try:
                    run_stage(accelerator, recipe, index, previous, folder, out, writer, offset, say, deadline)
                except TimeUp as stop:
                    say(str(stop))
                    return None
            previous, offset = folder, offset + stage.steps
            if stage.name == until:
                say(f"stopped after stage '{until}' (--until): {folder}")
                return folder
        final = out / "final"
        if main:
            publish_final(previous, final)
            say(f"done: {final}")
        accelerator.wait_for_everyone()
    finally:
        if writer is not None:
            writer.close()
        from .data.cache import close_worker_pool

        close_worker_pool()
    return final


def stage_sources(recipe: Recipe, stage, index: int):
    """(name, Source, weight) for every source the stage reads, weights = task weight x source share."""
    total = sum(stage.mixture.values())
    entries = []
    for task, task_weight in stage.mixture.items():
        if task_weight == 0:
            continue
        weights = stage.data[task]
        share = sum(weights.values())
        for name, weight in weights.items():
            if weight > 0:
                source = build_source(recipe.sources[name], task, recipe.seed, f"sources.{name}")
                entries.append((name, source, task_weight / total * weight / share))
    return entries


def run_stage(accelerator, recipe: Recipe, index: int, input_folder: Path, folder: Path, out: Path, writer,
              offset: int, say, deadline: float | None = None) -> None:
    stage = recipe.stages[index]
    where = f"stage {index + 1}/{len(recipe.stages)} '{stage.name}'"
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeUp(f"time limit reached before {where}; run the same command again to go on")
    world, rank = accelerator.num_processes, accelerator.process_index
    # An RL stage gives every process all of a step's items (it deals out their samples itself).
    shards = 1 if stage.kind == "rl" else world
    micro = stage.micro_batch or stage.batch // shards
    if stage.batch % (shards * micro):
        raise RecipeError(f"stage {stage.name}: batch {stage.batch} does not split into {shards} process(es) x "
                          f"micro-batches of {micro}")
    if stage.kind == "rl" and stage.rl.group % world:
        raise RecipeError(f"stage {stage.name}: rl.group {stage.rl.group} does not split into {world} processes")
    accumulation = stage.batch // (shards * micro)
    seed_all(stable_seed(recipe.seed, "stage", index) % 2**63)
    accelerator.free_memory()

    components = load_components(input_folder)
    unet = components.unet.train()
    if recipe.run.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    if recipe.run.compile:
        unet.compile(dynamic=False)  # in place: parameter names stay the plain module's; static: one graph a shape
    if stage.lora is not None:
        from .lora import add_lora

        model = add_lora(unet, stage.lora)
    else:
        model = unet.requires_grad_(True)
    o = stage.optimizer
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=o.lr,
                                  betas=tuple(o.betas), weight_decay=o.weight_decay, eps=o.eps)
    model, optimizer = accelerator.prepare(model, optimizer)
    params = [p for p in model.parameters() if p.requires_grad]  # after wrapping: FSDP clips its own
    ema = None
    if stage.ema is not None:
        ema = EMA(accelerator.unwrap_model(model).named_parameters(), stage.ema.decay, stage.ema.warmup)

    weight_dtype = MIXED_PRECISION_DTYPES[recipe.run.mixed_precision]  # the recipe's check admits no other
    conditioner = Conditioner(components.vae, components.prompt_encoder, accelerator.device, weight_dtype,
                              recipe.run.prompt_cache)
    entries = stage_sources(recipe, stage, index)
    sizes = training_sizes(stage)
    bucket_cache = out / "cache" / "buckets"
    if accelerator.is_main_process:  # read every item's size once, not once per process
        BatchPlan(entries, sizes, stage.batch, recipe.seed, index, bucket_cache)
    accelerator.wait_for_everyone()
    plan = BatchPlan(entries, sizes, stage.batch, recipe.seed, index, bucket_cache)
    caches = None
    if recipe.run.cache is not None:
        from .data.cache import prepare_caches

        caches = prepare_caches(accelerator, recipe, plan, conditioner, out, say, input_folder)
    task = STAGE_KINDS[stage.kind](stage, index, recipe.seed, conditioner, components.schedule,
                                   pad_text_to=COMPILED_TEXT_MULTIPLE if recipe.run.compile else 1)

    hooks = HookCaller(task)
    hooks("attach", accelerator, model, components.variant, writer, offset)
    hooks("attach_run", input_folder, out, entries, sizes, deadline)  # distill: its teacher, pool folder and data
    start, elapsed = 0, 0.0
    checkpoint = latest_checkpoint(out, index)
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint, model, optimizer, ema)
        plan.load_state_dict(state["data"])
        if hasattr(task, "load_state"):
            task.load_state(load_stage_tensors(checkpoint), state["stage_state"])
        start, elapsed = state["step"], state.get("elapsed", 0.0)
        say(f"resuming {where} at step {start}/{stage.steps} from {checkpoint}")
    else:
        say(f"starting {where} from {input_folder}: {stage.steps} steps, batch {stage.batch} = {world} process(es)"
            f" x {accumulation} accumulation x {micro}; data: {plan.describe()}")

    loader_plan = BatchPlan(entries, sizes, stage.batch, recipe.seed, index, bucket_cache)
    loader_plan.load_state_dict(plan.state_dict())
    items = hooks("dataset", loader_plan, caches)  # a stage may read less of each planned item than PlannedItems
    if items is None:
        items = PlannedItems(loader_plan, caches)
    loader = torch.utils.data.DataLoader(
        items, batch_sampler=PlannedBatches(loader_plan, start, stage.steps, rank if shards > 1 else 0, shards, micro),
        num_workers=recipe.run.num_workers, collate_fn=task.collate(), persistent_workers=False)
    batches = iter(loader)
    progress = Progress(stage.name, start, stage.steps, stage.batch, writer, offset, accelerator, recipe.run.log_every)
    recipe_yaml = recipe.dump()
    clip = o.grad_clip
    model.train()
    hooks("begin", start)
    for step in range(start, stage.steps):
        tick = time.perf_counter()
        lr = lr_at(o, step, stage.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        seed_all(stable_seed(recipe.seed, "step", index, step, rank) % 2**63)  # model dropout, if any
        stats = {}
        for k in range(accumulation):
            samples = next(batches)
            sync = nullcontext() if k == accumulation - 1 else accelerator.no_sync(model)
            with sync:
                loss, parts = task.loss(model, samples)
                accelerator.backward(loss / accumulation)
            for name, (total, count) in parts.items():
                stats[name] = (stats.get(name, (0.0, 0))[0] + total, stats.get(name, (0.0, 0))[1] + count)
        grad_norm = accelerator.clip_grad_norm_(params, clip) if clip is not None else None
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update()
        plan.step_slots(step)
        hooks("after_step", step, step + 1 == stage.steps)
        elapsed += time.perf_counter() - tick
        progress.update(step, stats, lr, grad_norm)
        time_up = deadline is not None and step + 1 < stage.steps and time.monotonic() >= deadline
        if deadline is not None and world > 1:  # every process must stop at the same step
            flag = torch.tensor(float(time_up), device=accelerator.device)
            time_up = bool(accelerator.reduce(flag, reduction="sum").item() > 0)
        if (step + 1) % recipe.run.save_every == 0 or step + 1 == stage.steps or time_up:
            trainer_state = {"stage": stage.name, "stage_index": index, "step": step + 1, "data": plan.state_dict(),
                             "samples": (step + 1) * stage.batch, "elapsed": elapsed, "world_size": world,
                             # the learning rate is a pure function of the step: this is the whole scheduler state
                             "scheduler": {"step": step + 1, "lr": lr_at(o, step + 1, stage.steps)}}
            stage_tensors = None
            if hasattr(task, "state"):
                stage_tensors, trainer_state["stage_state"] = task.state()
            save_checkpoint(accelerator, out, index, step + 1, model, optimizer, ema, trainer_state, recipe_yaml,
                            recipe.run.keep_checkpoints, stage_tensors)
        if time_up:
            progress.close()
            raise TimeUp(f"time limit reached: {where} checkpointed at step {step + 1}/{stage.steps}; run the "
                         "same command again to resume")
    progress.close()
    del batches, loader

    context = ema.applied() if ema is not None else nullcontext()
    with context:  # copies: a state dict aliases the live parameters, which the context then restores
        state = {k: v.detach().clone() for k, v in accelerator.get_state_dict(model).items()}
    if accelerator.is_main_process:
        summary = {"stage": stage.name, "stage_index": index, "steps": stage.steps, "batch": stage.batch,
                   "samples": stage.steps * stage.batch, "train_seconds": round(elapsed, 2),
                   "final_loss": progress.last_loss, "ema": stage.ema is not None, "lora": stage.lora is not None,
                   "input": str(input_folder)}
        export_stage(state, components.unet.config, stage.lora, input_folder, folder, recipe_yaml, summary,
                     variant=getattr(task, "output_variant", None))
        hooks("finish", folder)
        say(f"{where} done in {elapsed:.0f}s of training: {folder}")
    accelerator.wait_for_everyone()
