#!/usr/bin/env bash
# Reproduces the bundled model dreamlite/assets/shapes-base from nothing, with the project's own commands: the
# ShapesWorld VAE, the U-Net through t2i -> edit -> joint -> sft (recipes/shapes-base.yaml with the step counts
# the bundled weights were trained with), ShapesBench on the public eval split, and the copy into the package.
# Every command resumes if re-run after an interruption, also on another machine: the bundled run trained on an
# H100 in two calls of a 15-minute lease (`--stop-after`, then the same command again; see the model card).
# Run from the repository root: bash scripts/build_shapes_base.sh
# Time: a GPU (H100: VAE 134 s, U-Net ~8 min of training plus ~4 min of caches) or a CPU (VAE: many hours; U-Net
# ~10 h on 2 cores at ~52 samples/s).
set -euo pipefail

if python3 -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  ENGINE=()  # the recipe's run settings are the GPU ones
else
  N=$(nproc)
  ENGINE=(--set "run.threads=$N" --set "run.cache.workers=$N")
  export OMP_NUM_THREADS=$N
fi

dreamlite train-vae --out runs/shapes-vae --channels 64 --batch 64 --steps 5000 --workers 12

dreamlite train shapes-base --out runs/shapes-base "${ENGINE[@]}" \
  --set stages.0.steps=638 --set stages.1.steps=446 --set stages.2.steps=446 --set stages.3.steps=255

dreamlite eval shapes --model runs/shapes-base/final --out runs/shapes-base/eval

rm -rf dreamlite/assets/shapes-base.new
mkdir -p dreamlite/assets
cp -r runs/shapes-base/final dreamlite/assets/shapes-base.new
rm -rf dreamlite/assets/shapes-base.new/lora  # keep train_recipe.yaml and train_state.json: provenance
cp dreamlite/assets/shapes-base/README.md dreamlite/assets/shapes-base.new/ 2>/dev/null || true
rm -rf dreamlite/assets/shapes-base
mv dreamlite/assets/shapes-base.new dreamlite/assets/shapes-base
du -sh dreamlite/assets/shapes-base
