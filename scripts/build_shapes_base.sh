#!/usr/bin/env bash
# Reproduces the bundled model dreamlite/assets/shapes-base from nothing, with the project's own commands: the
# ShapesWorld VAE; a 64-px U-Net through t2i -> edit -> joint -> sft (recipes/shapes-base.yaml with the step counts
# it was trained with; it was the bundle until 2026-11-27); the anchored prompt encoder; the same U-Net continued
# at 96 px with that encoder for thirteen joint stages, an anneal and two SFT stages (recipes/shapes-base-96-cpu.yaml;
# its final stage ships); the VAE's decoder retrained at 96 px, its encoder frozen (so the U-Net's latents stay valid);
# ShapesBench on the public eval split; the copy into the package.
# Every command resumes if re-run after an interruption, also on another machine: the 64-px run trained on an H100
# in two calls of a 15-minute lease, the 96-px stages on 2 CPU cores over several sessions (see the model card).
# Run from the repository root: bash scripts/build_shapes_base.sh
# Time: 64 px on a GPU (H100: VAE 134 s, U-Net ~8 min of training plus ~4 min of caches) or a CPU (VAE: many
# hours; U-Net ~10 h on 2 cores); the prompt encoder ~20 min on CPU; 96 px ~13 h on 2 CPU cores (~20 samples/s);
# the 96-px decoder ~50 min on 2 CPU cores.
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

dreamlite train-prompt-encoder --out runs/shapes-prompt-encoder-anchored --anchor 1.0

# model.init: the 64-px U-Net just trained (the recipe's `shapes-base` named it while it was the bundle).
dreamlite train shapes-base-96-cpu --out runs/shapes-base-96-cpu "${ENGINE[@]}" \
  --set model.init=runs/shapes-base/final

# The VAE (runs/shapes-vae, carried along from the 64-px model) was trained on 64-px images; its decoder learns to
# draw 96-px ones from the same (frozen) encoder's latents.
dreamlite train-vae --out runs/shapes-vae-96 --init runs/shapes-base-96-cpu/final/vae --decoder-only \
  --size 96 --batch 32 --steps 1200 --lr 5e-4 --save-every 200

rm -rf runs/shapes-base-bundle
cp -r runs/shapes-base-96-cpu/final runs/shapes-base-bundle
rm -rf runs/shapes-base-bundle/lora  # keep train_recipe.yaml and train_state.json: provenance
cp runs/shapes-vae-96/{config.json,diffusion_pytorch_model.safetensors,train_config.json} runs/shapes-base-bundle/vae/

dreamlite eval shapes --model runs/shapes-base-bundle --out runs/shapes-base-bundle-eval

rm -rf dreamlite/assets/shapes-base.new
mkdir -p dreamlite/assets
cp -r runs/shapes-base-bundle dreamlite/assets/shapes-base.new
cp dreamlite/assets/shapes-base/README.md dreamlite/assets/shapes-base.new/ 2>/dev/null || true
rm -rf dreamlite/assets/shapes-base
mv dreamlite/assets/shapes-base.new dreamlite/assets/shapes-base
du -sh dreamlite/assets/shapes-base
