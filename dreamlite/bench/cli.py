"""`dreamlite bench --model M | --random-config NAME [--size --steps --task --runtimes ...] [--json OUT]`.

Each runtime runs in its own process (so peak memory is its own) on the same weights: PyTorch (`torch`,
`torch-bf16`, `torch-fast`, `torch-fast-compile`), exported folders made first in this run (`openvino`,
`openvino-bf16`, `openvino-int8`, `onnx`, `onnx-int8`, `executorch`), and diffusers' pipeline (`diffusers`,
`diffusers-bf16`). One warm-up call at 1 step, then one timed call at `--steps`; the prompt cache is off. In
exported runtimes the parts left in PyTorch (the prompt encoder) run in bf16 where the CPU has it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

EXPORTED = {"openvino": ("openvino", "fp32"), "openvino-bf16": ("openvino", "bf16"),
            "openvino-int8": ("openvino", "int8"), "onnx": ("onnx", "fp32"), "onnx-int8": ("onnx", "int8"),
            "executorch": ("executorch", "fp32")}
DEFAULT_RUNTIMES = ("torch", "torch-fast", "openvino-bf16", "openvino-int8", "diffusers-bf16")


def register(sub) -> None:
    from ..cli import parse_size
    from .worker import DIFFUSERS_RUNTIMES, TORCH_RUNTIMES

    known = [*TORCH_RUNTIMES, *EXPORTED, *DIFFUSERS_RUNTIMES]
    p = sub.add_parser("bench", help="time each component and peak memory per runtime, beside diffusers")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default=None, help="pipeline folder, short name or hub id")
    src.add_argument("--random-config", default=None, metavar="NAME",
                     help="random weights from a named U-Net config (e.g. dreamlite-0.39b)")
    p.add_argument("--variant", choices=("mobile", "base"), default="mobile", help="with --random-config")
    p.add_argument("--encoder-layers", type=int, default=4, help="with --random-config: Qwen3-VL text layers")
    p.add_argument("--vision-layers", type=int, default=2, help="with --random-config: Qwen3-VL vision layers")
    p.add_argument("--size", type=parse_size, default=None, help="WxH (default: the model's native size)")
    p.add_argument("--steps", type=int, default=None, help="default: 4 mobile, 28 base")
    p.add_argument("--task", choices=("generate", "edit"), default="edit")
    p.add_argument("--runtimes", nargs="+", default=list(DEFAULT_RUNTIMES), choices=known)
    p.add_argument("--seq-len", type=int, default=128, help="prompt-length unit of the exports")
    p.add_argument("--calibration-prompts", type=int, default=2,
                   help="int8 exports: generation and editing prompts sampled for calibration")
    p.add_argument("--threads", type=int, default=None, help="threads per runtime (default: all cores)")
    p.add_argument("--encoder-int8", action="store_true",
                   help="our runtimes run the prompt encoder's linear layers in dynamic int8")
    p.add_argument("--work", type=Path, default=None, help="folder for the models and exports (default: temp)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import CheckpointError

    if args.steps is not None and args.steps < 1:
        raise CheckpointError(f"--steps must be positive, got {args.steps}")
    with tempfile.TemporaryDirectory(prefix="dreamlite-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = bench(args, work)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(args.json)
    return 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench(args, work: Path) -> dict:
    from ..loading import read_json, resolve_model_path

    if args.random_config:
        from .random_model import random_pipeline

        folder = work / "model"
        if not (folder / "model_index.json").is_file():
            log(f"building a random {args.random_config} pipeline in {folder}")
            random_pipeline(args.random_config, folder, args.variant, args.encoder_layers, args.vision_layers)
    else:
        from ..assets import DEFAULT_MODEL

        folder = resolve_model_path(args.model or DEFAULT_MODEL)
    unet_config = read_json(folder / "unet" / "config.json")
    mobile = read_json(folder / "model_index.json")["_class_name"] == "DreamLiteMobilePipeline"
    steps = args.steps or (4 if mobile else 28)
    width, height = args.size or (unet_config["sample_size"] * 8,) * 2
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), DREAMLITE_RUNTIME_THREADS=str(args.threads))
    rows, exports = [], {}
    for runtime in args.runtimes:
        model = folder
        if runtime in EXPORTED:
            model, seconds = export_for(runtime, folder, work, width, height, args, env)
            exports[runtime] = seconds
        log(f"timing {runtime}")
        out = work / f"{runtime}.json"
        subprocess.run([sys.executable, "-m", "dreamlite.bench.worker", runtime, str(model), "--task", args.task,
                        "--width", str(width), "--height", str(height), "--steps", str(steps), "--out", str(out),
                        *(["--encoder-int8"] if args.encoder_int8 else [])], check=True, env=env)
        rows.append(json.loads(out.read_text()))
    return {"model": args.random_config or str(args.model), "task": args.task, "size": f"{width}x{height}",
            "steps": steps, "variant": "mobile" if mobile else "base", "threads": args.threads or os.cpu_count(),
            "encoder": encoder_description(args) + (" (int8 linear layers in ours)" if args.encoder_int8 else ""),
            "export_seconds": exports, "runtimes": rows}


def encoder_description(args) -> str:
    if not args.random_config:
        return "the model's own"
    return f"Qwen3-VL-2B widths, {args.encoder_layers} text + {args.vision_layers} vision layers, random"


def export_for(runtime, folder, work, width, height, args, env):
    import time

    fmt, precision = EXPORTED[runtime]
    out = work / f"export-{runtime}"
    if (out / "export_report.json").is_file():
        return out, None
    argv = [sys.executable, "-m", "dreamlite.cli", "export", "--model", str(folder), "--format", fmt, "--out",
            str(out), "--size", f"{width}x{height}", "--seq-len", str(args.seq_len), "--precision", precision]
    if precision == "int8":
        from ..export.calibration import BUILTIN_PROMPTS

        prompts = work / "calibration.txt"
        n = args.calibration_prompts
        prompts.write_text("\n".join(BUILTIN_PROMPTS["generate"][:n] + [f"edit: {p}" for p in
                                                                        BUILTIN_PROMPTS["edit"][:n]]) + "\n")
        argv += ["--calibration", str(prompts)]
    log(f"exporting {runtime}")
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return out, time.perf_counter() - start


def format_table(results: dict) -> str:
    rows = results["runtimes"]
    ref = next((r for r in rows if r["runtime"] == "diffusers-bf16"), None) or next(
        (r for r in rows if r["runtime"].startswith("diffusers")), None)
    head = (f"{results['model']}: {results['task']} {results['size']}, {results['steps']} steps "
            f"({results['variant']}), {results['threads']} threads; prompt encoder: {results['encoder']}")
    columns = ("runtime", "prompt encoder (s)", "VAE encode (s)", "U-Net per step (s)", "VAE decode (s)",
               "end to end (s)", f"speed-up vs {ref['runtime'] if ref else '-'}", "peak RSS (MiB)")
    lines = [head, "", "| " + " | ".join(columns) + " |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r["seconds"]
        ratio = f"{ref['end_to_end_s'] / r['end_to_end_s']:.2f}x" if ref else "-"
        lines.append(f"| {r['runtime']} | {s['prompt_encoder']:.3f} | {s['vae_encode']:.3f} | "
                     f"{r['unet_per_step_s']:.3f} | {s['vae_decode']:.3f} | {r['end_to_end_s']:.2f} | {ratio} | "
                     f"{r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)
