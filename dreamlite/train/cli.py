"""`dreamlite train`, `dreamlite train-vae`, `dreamlite train-prompt-encoder` and `dreamlite ablation` (registered by
dreamlite/cli.py)."""

from __future__ import annotations

import argparse

from .config import RecipeError

__all__ = ["RecipeError", "register"]


def cmd_train(args) -> int:
    from .loop import train
    from .recipe import load_recipe

    recipe = load_recipe(args.recipe, args.set or [], args.max_steps)
    stage_folder = None
    if args.stage_folder is not None:
        name, sep, folder = args.stage_folder.partition("=")
        if not sep or not name or not folder:
            raise RecipeError(f"--stage-folder {args.stage_folder!r}: expected STAGE=FOLDER, e.g. "
                              "joint-07=dreamlite/assets/shapes-base")
        stage_folder = (name, folder)
    train(recipe, args.out, save_every=args.save_every, stop_after=args.stop_after, until=args.until,
          stage_folder=stage_folder)
    return 0


def cmd_train_vae(args) -> int:
    from .vae import VAETrainConfig, train_vae

    config = VAETrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, size=args.size, channels=args.channels,
                            blocks=args.blocks, seed=args.seed, save_every=args.save_every,
                            foreground_weight=args.foreground_weight, latent_noise=args.latent_noise,
                            device=args.device, workers=args.workers, init=args.init,
                            decoder_only=args.decoder_only)
    train_vae(config, args.out)
    return 0


def cmd_train_prompt_encoder(args) -> int:
    from .prompt_encoder import PromptEncoderTrainConfig, train_prompt_encoder

    config = PromptEncoderTrainConfig(hidden_size=args.hidden_size, layers=args.layers, vocab_size=args.vocab_size,
                                      seed=args.seed, steps=args.steps, batch=args.batch, edit_share=args.edit_share,
                                      lr=args.lr, anchor=args.anchor)
    try:
        config.check()
    except ValueError as err:
        raise RecipeError(f"train-prompt-encoder: {err}") from None
    train_prompt_encoder(config, args.out)
    return 0


def cmd_ablation(args) -> int:
    from .ablation import run_ablation

    run_ablation(args.out, recipe=args.recipe, steps=args.steps, bench_items=args.bench_items,
                 sample_steps=args.sample_steps, overrides=args.set or [])
    return 0


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser("train", help="train DreamLite stage by stage from a YAML recipe (resumable)",
                       description="Run a recipe's stages in order (each from the previous stage's weights). "
                                   "Re-running the same command resumes from the newest checkpoint. Multi-process: "
                                   "accelerate launch [--config_file recipes/accelerate/fsdp-0.39b.yaml] -m "
                                   "dreamlite.cli train ...")
    p.add_argument("recipe", help="recipe YAML, or a name in recipes/ (smoke, shapes-tiny, dreamlite-0.39b)")
    p.add_argument("--out", required=True, help="run directory: OUT/<stage>/ pipelines, OUT/final/, checkpoints, logs")
    p.add_argument("--max-steps", type=positive, default=None,
                   help="cap every stage at N steps (quick tries; part of the run's recipe)")
    p.add_argument("--save-every", type=positive, default=None,
                   help="checkpoint every N steps (recipe: run.save_every)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a recipe field, e.g. --set stages.0.steps=100 --set run.num_workers=4")
    p.add_argument("--stop-after", type=positive, default=None, metavar="SECONDS",
                   help="checkpoint and exit once this much wall time has passed (a time-limited job or machine); "
                        "the same command resumes")
    p.add_argument("--until", default=None, metavar="STAGE",
                   help="exit once this stage's pipeline folder is written (the same command without it goes on)")
    p.add_argument("--stage-folder", default=None, metavar="STAGE=FOLDER",
                   help="take FOLDER (a pipeline folder: a shipped model, a stage copied from another machine) as "
                        "STAGE's result and go on from there; earlier stages are not run. The stages after it "
                        "train exactly as in the whole run when FOLDER is that run's STAGE")
    p.set_defaults(func=cmd_train)

    v = sub.add_parser("train-vae", help="train a small AutoencoderTiny on ShapesWorld images",
                       description="Writes a diffusers AutoencoderTiny folder (4 latent channels, 8x, scaling "
                                   "factor 1) for a recipe's model.vae.path.")
    v.add_argument("--out", required=True, help="output folder (config.json + diffusion_pytorch_model.safetensors)")
    v.add_argument("--steps", type=positive, default=4000)
    v.add_argument("--batch", type=positive, default=16)
    v.add_argument("--lr", type=float, default=2e-3)
    v.add_argument("--size", type=positive, default=64, help="ShapesWorld image size")
    v.add_argument("--channels", type=positive, default=32, help="width of every encoder/decoder block")
    v.add_argument("--blocks", type=positive, default=2, help="resnet blocks per level")
    v.add_argument("--foreground-weight", type=float, default=10.0,
                   help="loss weight of object pixels relative to background pixels")
    v.add_argument("--latent-noise", type=float, default=0.05, help="std of the noise added to latents in training")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--device", default="auto", help="auto (cuda when available, else cpu), cpu, cuda, cuda:1...")
    v.add_argument("--workers", type=int, default=0, help="processes rendering training images (0: in the trainer)")
    v.add_argument("--save-every", type=positive, default=500)
    v.add_argument("--init", metavar="FOLDER", help="start from this AutoencoderTiny folder (its channels and "
                   "blocks are kept) instead of a fresh one")
    v.add_argument("--decoder-only", action="store_true",
                   help="with --init: freeze the encoder, so its latents and any U-Net trained on them stay valid")
    v.set_defaults(func=cmd_train_vae)

    e = sub.add_parser("train-prompt-encoder", help="train a tiny Qwen3-VL prompt encoder on ShapesWorld text",
                       description="Trains a tiny Qwen3-VL's language model so that every token state the U-Net "
                                   "sees names its neighbouring words (which colour goes with which shape) and "
                                   "keeps the edit source image out; writes text_encoder/, tokenizer/ and "
                                   "processor/ for a recipe's model.prompt_encoder.path.")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--steps", type=positive, default=1000)
    e.add_argument("--batch", type=positive, default=64, help="prompts per step")
    e.add_argument("--edit-share", type=float, default=0.25, help="share of edit-mode prompts (with a source image)")
    e.add_argument("--lr", type=float, default=3e-3)
    e.add_argument("--anchor", type=float, default=0.0,
                   help="pull the states towards the untrained (random) encoder's, so a U-Net trained on that one "
                        "can switch with less re-learning; 0: off")
    e.add_argument("--hidden-size", type=positive, default=64, help="the U-Net's encoder_hid_dim must match")
    e.add_argument("--layers", type=positive, default=2)
    e.add_argument("--vocab-size", type=positive, default=512)
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=cmd_train_prompt_encoder)

    a = sub.add_parser("ablation", help="progressive (t2i, edit, joint) vs joint-from-scratch on ShapesWorld",
                       description="Trains both schedules at equal total steps from the same initial pipeline and "
                                   "writes a table of ShapesBench generation and editing scores.")
    a.add_argument("--out", required=True)
    a.add_argument("--recipe", default="shapes-tiny", help="recipe whose model, data and optimizer are used")
    a.add_argument("--steps", type=positive, default=3000, help="total steps of each schedule")
    a.add_argument("--bench-items", type=positive, default=8, help="ShapesBench items per category")
    a.add_argument("--sample-steps", type=positive, default=20, help="denoising steps when scoring")
    a.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe field")
    a.set_defaults(func=cmd_ablation)
