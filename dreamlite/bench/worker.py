"""One runtime of `dreamlite bench`, in its own process so that its peak memory is its own.

    python -m dreamlite.bench.worker RUNTIME FOLDER --task edit --width 1024 --height 1024 --steps 4 --out X.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .timing import COMPONENTS, Timers, attach_diffusers, attach_ours

# Runtimes that run a PyTorch folder, and how; the exported ones load the folder `dreamlite export` wrote.
TORCH_RUNTIMES = {"torch": {}, "torch-bf16": {"dtype": "bfloat16"}, "torch-fast": {"fast": True},
                  "torch-fast-compile": {"fast": True, "compile": True}}
DIFFUSERS_RUNTIMES = {"diffusers": torch.float32, "diffusers-bf16": torch.bfloat16}


def source_image(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.BILINEAR)


def load(runtime: str, folder: Path, encoder_int8: bool = False):
    if runtime in DIFFUSERS_RUNTIMES:
        from .diffusers_pipe import load_diffusers_pipeline

        return load_diffusers_pipeline(folder, DIFFUSERS_RUNTIMES[runtime])
    from ..fast import fast_dtype
    from ..pipeline import DreamLite

    # Exported folders: the parts left in PyTorch (the prompt encoder) run in bf16 where the CPU has it.
    kwargs = TORCH_RUNTIMES.get(runtime, {"dtype": fast_dtype(torch.device("cpu"))})
    return DreamLite.from_pretrained(folder, device="cpu", prompt_cache=0, encoder_int8=encoder_int8, **kwargs)


def run_once(pipe, diffusers: bool, task: str, width: int, height: int, steps: int, source):
    prompt = "a red fox sitting in fresh snow" if task == "generate" else "make it night"
    if diffusers:
        kwargs = {"image": source} if task == "edit" else {}
        return pipe(prompt=prompt, height=height, width=width, num_inference_steps=steps,
                    generator=torch.Generator("cpu").manual_seed(0), **kwargs).images
    if task == "edit":
        return pipe.edit(source, prompt, height=height, width=width, steps=steps, seed=0)
    return pipe.generate(prompt, height=height, width=width, steps=steps, seed=0)


def measure(runtime, folder, task, width, height, steps, encoder_int8=False) -> dict:
    start = time.perf_counter()
    pipe = load(runtime, folder, encoder_int8 and runtime not in DIFFUSERS_RUNTIMES)
    load_s = time.perf_counter() - start
    diffusers = runtime in DIFFUSERS_RUNTIMES
    timers = Timers()
    (attach_diffusers if diffusers else attach_ours)(pipe, timers)
    source = source_image(width, height)
    with torch.inference_mode():
        run_once(pipe, diffusers, task, width, height, 1, source)  # warm-up: compiles, allocates, fills caches
        timers.reset()
        start = time.perf_counter()
        run_once(pipe, diffusers, task, width, height, steps, source)
        total = time.perf_counter() - start
    seconds = {name: timers.seconds.get(name, 0.0) for name in COMPONENTS}
    return {"runtime": runtime, "load_s": load_s, "end_to_end_s": total, "seconds": seconds,
            "unet_per_step_s": seconds["unet"] / steps, "unet_calls": timers.calls.get("unet", 0),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("runtime")
    p.add_argument("folder", type=Path)
    p.add_argument("--task", choices=("generate", "edit"), default="edit")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--encoder-int8", action="store_true")
    args = p.parse_args(argv)
    from ..loading import quiet_libraries

    with quiet_libraries():
        result = measure(args.runtime, args.folder, args.task, args.width, args.height, args.steps,
                         args.encoder_int8)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
