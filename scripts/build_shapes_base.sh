#!/usr/bin/env bash
# Reproduces the bundled model dreamlite/assets/shapes-base from nothing, with the project's own commands:
# a ShapesWorld VAE, the U-Net through t2i -> edit -> joint -> sft, ShapesBench on the public eval split, and
# the copy into the package. Each training command resumes if re-run after an interruption.
# Run from the repository root: bash scripts/build_shapes_base.sh   (about 1 h on 2 CPU cores)
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

dreamlite train-vae --out runs/shapes-vae --blocks 1 --foreground-weight 5 --latent-noise 0.1

dreamlite train shapes-tiny --out runs/shapes-tiny --set run.threads=1 \
  --set stages.0.steps=1000 --set stages.1.steps=400 --set stages.2.steps=500 --set stages.3.steps=200 \
  --set sources.edit-pool.items=2048 --set sources.curated-edit-pool.items=512

dreamlite eval shapes --model runs/shapes-tiny/final --out runs/shapes-tiny/eval

rm -rf dreamlite/assets/shapes-base.new
mkdir -p dreamlite/assets
cp -r runs/shapes-tiny/final dreamlite/assets/shapes-base.new
rm -f dreamlite/assets/shapes-base.new/train_*
cp dreamlite/assets/shapes-base/README.md dreamlite/assets/shapes-base.new/ 2>/dev/null || true
rm -rf dreamlite/assets/shapes-base
mv dreamlite/assets/shapes-base.new dreamlite/assets/shapes-base
du -sh dreamlite/assets/shapes-base
