"""Forward latency of the 0.39B DreamLite U-Net: this project against diffusers' DreamLiteUNetModel.

Both models hold the same random weights and run in one process on the same inputs: a 512x512 in-context
latent (1x4x64x128) and 128 text tokens of 2048-d. Runs alternate between the two models so that load from
other processes hits both alike; the table reports the median over `--runs` after one warm-up each.

    python benchmarks/bench_unet.py [--runs 3] [--dtypes fp32 bf16] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from diffusers.models.unets.unet_dreamlite import DreamLiteUNetModel
from diffusers.utils import logging as diffusers_logging

from dreamlite.models import DreamLiteUNet, get_unet_config

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def random_pair(name: str) -> tuple[DreamLiteUNet, DreamLiteUNetModel]:
    """Both models on one set of random weights (filled directly: the stock initialisers are slow at 0.39B)."""
    cfg = get_unet_config(name)
    with torch.device("meta"):
        theirs = DreamLiteUNetModel.from_config(cfg.to_dict())
        ours = DreamLiteUNet(cfg)
    theirs.to_empty(device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        for pname, p in theirs.named_parameters():
            if p.ndim == 1:
                p.normal_(1.0 if "norm" in pname and pname.endswith("weight") else 0.0, 0.02)
            else:
                p.uniform_(-1, 1).mul_(math.sqrt(3 / p[0].numel()))
    ours.load_state_dict({k: v.clone() for k, v in theirs.state_dict().items()}, strict=True, assign=True)
    return ours.eval(), theirs.eval()


def make_inputs(dtype: torch.dtype, text_len: int = 128) -> dict:
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(1, text_len)
    mask[:, text_len - 16:] = 0  # a padded prompt, as the pipeline produces
    return dict(
        sample=torch.randn(1, 4, 64, 128, generator=g).to(dtype),
        timestep=torch.tensor([500.0]),
        encoder_hidden_states=torch.randn(1, text_len, 2048, generator=g).to(dtype),
        encoder_attention_mask=mask,
        time_ids=torch.tensor([[512.0, 512.0]]),
    )


def call_ours(model, x):
    return model(**x)


def call_theirs(model, x):
    return model(x["sample"], x["timestep"], x["encoder_hidden_states"],
                 encoder_attention_mask=x["encoder_attention_mask"],
                 added_cond_kwargs={"time_ids": x["time_ids"]}).sample


def timed(fn, *args) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dreamlite-0.39b")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    diffusers_logging.set_verbosity_error()  # its model.to(bf16) warns about fp32-pinned modules it has none of

    ours, theirs = random_pair(args.config)
    print(f"{args.config}: {ours.num_parameters():,} parameters; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; input 1x4x64x128, text 128x2048")
    rows = []
    with torch.inference_mode():
        for name in args.dtypes:
            dtype = DTYPES[name]
            ours.to(dtype), theirs.to(dtype)
            x = make_inputs(dtype)
            _, a = timed(call_ours, ours, x)  # warm-up
            _, b = timed(call_theirs, theirs, x)
            err = ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()
            t_ours, t_theirs = [], []
            for i in range(args.runs):
                order = [(t_ours, call_ours, ours), (t_theirs, call_theirs, theirs)]
                for times, fn, model in order if i % 2 == 0 else order[::-1]:
                    times.append(timed(fn, model, x)[0])
            rows.append((name, statistics.median(t_ours), statistics.median(t_theirs), err))

    print("\n| dtype | ours (s) | diffusers (s) | ours/diffusers | max rel diff |")
    print("|---|---|---|---|---|")
    for name, mine, ref, err in rows:
        print(f"| {name} | {mine:.3f} | {ref:.3f} | {mine / ref:.2f} | {err:.1e} |")


if __name__ == "__main__":
    main()
