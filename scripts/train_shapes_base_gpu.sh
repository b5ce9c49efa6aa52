#!/usr/bin/env bash
# Trains shapes-base (or RECIPE) on one GPU within a budget of training seconds, with the project's own commands, and writes
# the exact commands it ran to runs/COMMANDS.sh (re-running that file retrains with the same step counts).
#   1. the ShapesWorld VAE if the recipe names one (model.vae.path, e.g. runs/shapes-vae) that is not built yet;
#      the trained prompt encoder if the recipe names one (model.prompt_encoder.path) and that folder does not
#      hold it yet (~10 min on one CPU core: build it before a time-limited GPU lease and bring it along);
#   2. sizing: a timed U-Net training step at the recipe's batch on this GPU (edit-length prompts, plus an
#      allowance per sample for batch assembly, none with run.num_workers > 0, and a fixed one for the moving
#      average) gives the steps that fit
#      TRAIN_SECONDS; the recipe's stage steps are scaled to that total, proportions kept;
#   3. `dreamlite train $RECIPE` in runs/$RECIPE (its caches are filled first, outside the budget).
# Usage, from the repository root: bash scripts/train_shapes_base_gpu.sh [TRAIN_SECONDS=300]
# Environment: RECIPE, shapes-base (default) or a recipe extending it, e.g. shapes-base-128; EXTRA, more `--set`
# arguments for the train command (tests use it to shrink the run); STOP_AFTER, seconds after which the train
# command checkpoints and exits (a machine lent for less time than the run needs: re-running the train line of
# runs/COMMANDS.sh resumes it). EXTRA and STOP_AFTER change how it runs, not what is trained.
set -euo pipefail
TRAIN_SECONDS=${1:-300}
RECIPE=${RECIPE:-shapes-base}
START=$(date +%s)
read -r -a EXTRA_SETS <<< "${EXTRA:-}"

# the VAE and prompt encoder folders the recipe names; empty: model.init's (nothing to build)
read -r VAE_DIR PE_DIR < <(python3 -c "import sys; from dreamlite.train.recipe import load_recipe
m = load_recipe(sys.argv[1]).model
print(m.vae.path or '-', m.prompt_encoder.path or '-')" "$RECIPE")
[ "$VAE_DIR" = - ] && VAE_DIR=
[ "$PE_DIR" = - ] && PE_DIR=
VAE_CMD=(dreamlite train-vae --out "$VAE_DIR" ${VAE_ARGS:---channels 64 --batch 64 --steps 5000 --workers 12})
if [ -z "$VAE_DIR" ]; then
  VAE_CMD=()
  echo "== VAE: model.init's"
elif [ -f "$VAE_DIR/config.json" ]; then
  echo "== VAE: using $VAE_DIR"
else
  echo "== VAE: ${VAE_CMD[*]}"
  "${VAE_CMD[@]}"
fi

PE_CMD=(dreamlite train-prompt-encoder --out "$PE_DIR")
if [ -z "$PE_DIR" ]; then
  PE_CMD=()
elif [ -f "$PE_DIR/train_prompt_encoder.json" ]; then
  echo "== prompt encoder: using $PE_DIR"
else
  echo "== prompt encoder: ${PE_CMD[*]}"
  "${PE_CMD[@]}"
fi

mkdir -p runs
echo "== sizing the run to ${TRAIN_SECONDS} s of training ($(( $(date +%s) - START )) s so far)"
STEP_SETS=$(python3 - "$TRAIN_SECONDS" "$RECIPE" "${EXTRA_SETS[@]}" <<'EOF'
import sys

import torch
from dreamlite.train.recipe import load_recipe
from dreamlite.train.step_timing import time_unet_step

budget, name, overrides = float(sys.argv[1]), sys.argv[2], [o for o in sys.argv[3:] if o != "--set"]
recipe = load_recipe(name, overrides)
batch, device = recipe.stages[0].batch, "cuda" if torch.cuda.is_available() else "cpu"
_, step = time_unet_step(recipe, compiled=recipe.run.compile)  # edit-length prompts; compiled as the trainer does
# EMA and logging; batch assembly from the cache (~80 us a sample) unless DataLoader workers do it beside the step
per_step = step + 0.01 + (0.0 if recipe.run.num_workers > 0 else 8e-5 * batch)
default = sum(s.steps for s in recipe.stages)
scale = budget / per_step / default
steps = [max(10, int(s.steps * scale)) for s in recipe.stages]
print(f"U-Net step at batch {batch} on {device}: {step * 1000:.1f} ms; {scale:.2f} x the recipe's steps: {steps}",
      file=sys.stderr)
print(" ".join(f"--set stages.{i}.steps={n}" for i, n in enumerate(steps)))
EOF
)
read -r -a STEP_ARGS <<< "$STEP_SETS"
TRAIN_CMD=(dreamlite train "$RECIPE" --out "runs/$RECIPE" "${EXTRA_SETS[@]}" "${STEP_ARGS[@]}")
{
  echo "# $RECIPE, as trained by scripts/train_shapes_base_gpu.sh on $(date -u +%F)"
  [ ${#VAE_CMD[@]} -eq 0 ] || { printf '%q ' "${VAE_CMD[@]}"; echo; }
  [ ${#PE_CMD[@]} -eq 0 ] || { printf '%q ' "${PE_CMD[@]}"; echo; }
  printf '%q ' "${TRAIN_CMD[@]}"; echo
} > runs/COMMANDS.sh
cat runs/COMMANDS.sh
"${TRAIN_CMD[@]}" ${STOP_AFTER:+--stop-after "$STOP_AFTER"}
if [ -d "runs/$RECIPE/final" ]; then
  echo "== done in $(( $(date +%s) - START )) s: runs/$RECIPE/final"
else
  echo "== stopped after $(( $(date +%s) - START )) s; the train line of runs/COMMANDS.sh resumes the run"
fi
