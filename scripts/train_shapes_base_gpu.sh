#!/usr/bin/env bash
# Trains shapes-base on one GPU inside a wall-clock budget, with the project's own commands, and writes the exact
# commands it ran to runs/COMMANDS.sh (re-running that file retrains the same recipe with the same step counts).
#   1. the ShapesWorld VAE (fixed steps);
#   2. a probe: `dreamlite train shapes-base --max-steps 40` in runs/probe, which fills the shared latent and
#      embedding cache (runs/cache) for every stage and measures each stage's seconds per step;
#   3. the run itself in runs/shapes-base, each stage's steps scaled from the recipe's so that all fit the time left.
# Usage, from the repository root: bash scripts/train_shapes_base_gpu.sh [BUDGET_SECONDS=480]
# EXTRA (environment): more `--set` arguments for both train commands (tests use it to shrink the run).
set -euo pipefail
BUDGET=${1:-480}
START=$(date +%s)
VAE_CMD=(dreamlite train-vae --out runs/shapes-vae ${VAE_ARGS:---channels 64 --batch 64 --steps 5000 --workers 12})
read -r -a EXTRA_SETS <<< "${EXTRA:-}"
COMMON=(--set run.cache.dir=runs/cache "${EXTRA_SETS[@]}")

echo "== VAE: ${VAE_CMD[*]}"
"${VAE_CMD[@]}"
echo "== probe ($(( $(date +%s) - START )) s so far)"
dreamlite train shapes-base --out runs/probe --max-steps "${PROBE_STEPS:-40}" "${COMMON[@]}"

LEFT=$(( BUDGET - ($(date +%s) - START) ))
echo "== sizing the run to ${LEFT} s"
STEP_SETS=$(python - "$LEFT" "${EXTRA_SETS[@]}" <<'EOF'
import json, sys
from pathlib import Path
from dreamlite.train.recipe import load_recipe

left, overrides = float(sys.argv[1]), sys.argv[2:]
recipe = load_recipe("shapes-base", [o for o in overrides if o != "--set"])
per_step = [json.loads((Path("runs/probe") / s.name / "train_state.json").read_text()) for s in recipe.stages]
per_step = [p["train_seconds"] / p["steps"] for p in per_step]
overhead = 12.0 * len(recipe.stages) + 20.0  # loading, loader start and export per stage; final copy; margin
default = sum(s.steps * t for s, t in zip(recipe.stages, per_step))
scale = max(0.05, (left - overhead) / default)
steps = [max(10, int(s.steps * scale)) for s in recipe.stages]
print(f"seconds/step {[round(t, 4) for t in per_step]}, scale {scale:.2f} of the recipe's steps", file=sys.stderr)
print(" ".join(f"--set stages.{i}.steps={n}" for i, n in enumerate(steps)))
EOF
)
read -r -a STEP_ARGS <<< "$STEP_SETS"
TRAIN_CMD=(dreamlite train shapes-base --out runs/shapes-base "${COMMON[@]}" "${STEP_ARGS[@]}")
{
  echo "# shapes-base, as trained by scripts/train_shapes_base_gpu.sh on $(date -u +%F)"
  printf '%q ' "${VAE_CMD[@]}"; echo
  printf '%q ' "${TRAIN_CMD[@]}"; echo
} > runs/COMMANDS.sh
cat runs/COMMANDS.sh
"${TRAIN_CMD[@]}"
echo "== done in $(( $(date +%s) - START )) s: runs/shapes-base/final"
