"""Peak memory of one DreamLite 0.39B training step, with and without gradient checkpointing.

Each setting runs in a fresh child process: build the published U-Net (float32 master weights), AdamW, take one
warm-up step (which allocates the optimizer state), then measure a second step: flow-matching loss on the
in-context latent (target | condition) of a WxH image, backward, clipping, AdamW. Random 2048-d prompt embeddings
stand in for Qwen3-VL (the text encoder is frozen and not part of the step).

CPU: peak resident memory (VmHWM, reset before the measured step) and the resident memory before it, so the
difference is what the step itself adds (activations, gradients' transients). CUDA: torch's peak allocation.

    python benchmarks/bench_train_memory.py                 # 512x512, batch 1, CPU (or CUDA if present)
    python benchmarks/bench_train_memory.py --size 1024 --batch 4 --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def rss_gib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def measure(size: int, batch: int, checkpointing: bool, device: str, dtype: str, text_tokens: int) -> dict:
    import torch

    from dreamlite.models.config import get_unet_config
    from dreamlite.models.unet import DreamLiteUNet
    from dreamlite.train.loss import flow_matching_loss

    torch.manual_seed(0)
    unet = DreamLiteUNet(get_unet_config("dreamlite-0.39b")).to(device).train()
    unet.enable_gradient_checkpointing(checkpointing)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=dtype == "bf16")
    h = w = size // 8
    cuda = torch.device(device).type == "cuda"

    def step():
        target, noise = torch.randn(batch, 4, h, w, device=device), torch.randn(batch, 4, h, w, device=device)
        with autocast:
            loss = flow_matching_loss(unet, target, torch.zeros_like(target), noise, torch.rand(batch, device=device),
                                      torch.randn(batch, text_tokens, 2048, device=device),
                                      torch.ones(batch, text_tokens, device=device),
                                      torch.tensor([[size, size]] * batch, dtype=torch.float32, device=device)).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # allocates the AdamW state
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**30
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
        before = rss_gib("VmRSS")
    tick = time.perf_counter()
    step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - tick
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else rss_gib("VmHWM")
    return {"size": size, "batch": batch, "checkpointing": checkpointing, "device": device, "dtype": dtype,
            "in_context_latent": [h, 2 * w], "params": unet.num_parameters(), "before_step_gib": round(before, 2),
            "peak_gib": round(peak, 2), "step_adds_gib": round(peak - before, 2), "step_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="autocast dtype of the step")
    parser.add_argument("--text-tokens", type=int, default=128)
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        print(json.dumps(measure(args.size, args.batch, args.child == "on", args.device, args.dtype, args.text_tokens)))
        return
    rows = []
    for flag in ("off", "on"):
        command = [sys.executable, __file__, "--child", flag, "--size", str(args.size), "--batch", str(args.batch),
                   "--device", args.device, "--dtype", args.dtype, "--text-tokens", str(args.text_tokens)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n0.39B U-Net, {args.size}x{args.size} (in-context latent {rows[0]['in_context_latent']}), batch "
          f"{args.batch}, {args.device}, {args.dtype}, AdamW")
    print("| gradient checkpointing | before step (GiB) | peak (GiB) | step adds (GiB) | step (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {'on' if r['checkpointing'] else 'off'} | {r['before_step_gib']} | {r['peak_gib']} | "
              f"{r['step_adds_gib']} | {r['step_seconds']} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
