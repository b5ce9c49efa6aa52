"""One U-Net step, every fast path in one run: diffusers bf16 eager, our fast PyTorch path, our exported OpenVINO
folders (fp32, bf16, int8) loaded with `DreamLite.from_pretrained`, and diffusers' U-Net converted to OpenVINO
(bf16, and W8A8 by NNCF, calibrated on the same sampling inputs as ours).

The 0.39B config with random weights, one step at 512x512 in-context (latent 1x4x64x128), 128 text tokens. Both
OpenVINO paths compile with the same settings (latency hint, one stream, bf16 for unquantised layers); timings
are medians over --runs after one warm-up, alternating the paths so that load from other processes hits all alike.

    python benchmarks/bench_runtime_unet.py [--config dreamlite-0.39b] [--size 512] [--runs 3] [--threads N]
        [--compile]
    python benchmarks/bench_runtime_unet.py --config tiny --size 64 --runs 1   # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def diffusers_twin(ours):
    from diffusers.models.unets.unet_dreamlite import DreamLiteUNetModel

    theirs = DreamLiteUNetModel.from_config(ours.config.to_dict())
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return theirs.eval().requires_grad_(False)


class DiffusersGraph(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, encoder_attention_mask, time_ids):
        return self.unet(sample, timestep, encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
                         added_cond_kwargs={"time_ids": time_ids}).sample


def step_inputs(config, size: int, text_len: int = 128) -> dict:
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(1, text_len)
    mask[:, text_len - 16:] = 0  # a padded prompt, as the pipeline gives
    h = size // 8
    return {"sample": torch.randn(1, 4, h, 2 * h, generator=g), "timestep": torch.tensor([500.0]),
            "encoder_hidden_states": torch.randn(1, text_len, config.encoder_hid_dim, generator=g),
            "encoder_attention_mask": mask, "time_ids": torch.tensor([[float(size), float(size)]])}


def openvino_diffusers(theirs, example, calibration, int8: bool):
    import nncf
    import openvino as ov

    # As for ours: the prompt length stays open while calibrating (edit prompts are longer), then every shape is
    # fixed before compiling.
    text_axis = {"encoder_hidden_states": 1, "encoder_attention_mask": 1}
    model = ov.convert_model(DiffusersGraph(theirs).float(), example_input=example, input=[
        (k, [-1 if text_axis.get(k) == i else n for i, n in enumerate(v.shape)], ov.Type.f32)
        for k, v in example.items()])
    if int8:
        model = nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration),
                              model_type=nncf.ModelType.TRANSFORMER)
    model.reshape({k: list(v.shape) for k, v in example.items()})
    compiled = ov.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                                                      "INFERENCE_PRECISION_HINT": "bf16"})
    request = compiled.create_infer_request()
    arrays = [v.numpy() for v in example.values()]
    return lambda: request.infer(arrays)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="dreamlite-0.39b")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--calibration-prompts", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also time the fast path with torch.compile (minutes "
                                                          "to compile)")
    p.add_argument("--work", type=Path, default=None, help="keep the model and exports here")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    import os

    os.environ["DREAMLITE_RUNTIME_THREADS"] = str(args.threads)
    from dreamlite import DreamLite
    from dreamlite.bench.random_model import random_pipeline
    from dreamlite.export import calibration as calib
    from dreamlite.export.run import ExportSettings, export_pipeline
    from dreamlite.loading import quiet_libraries

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    folder = work / "model"
    with quiet_libraries():
        if not (folder / "model_index.json").is_file():
            random_pipeline(args.config, folder, "mobile", text_layers=1, vision_layers=1)
        prompts = {k: v[: args.calibration_prompts] for k, v in calib.BUILTIN_PROMPTS.items()}
        prompt_file = work / "calibration.txt"
        prompt_file.write_text("\n".join(prompts["generate"] + [f"edit: {x}" for x in prompts["edit"]]) + "\n")
        exported = {}
        for precision in ("fp32", "bf16", "int8"):
            out = work / f"openvino-{precision}"
            if not (out / "export_report.json").is_file():
                export_pipeline(DreamLite.from_pretrained(folder, device="cpu"), ExportSettings(
                    "openvino", out, args.size, args.size, 128, precision, prompt_file, log=lambda m: None))
            exported[precision] = DreamLite.from_pretrained(out).unet
        reference = DreamLite.from_pretrained(folder, device="cpu")
        calibration = [x for _, x in calib.collect(reference, prompts, args.size, args.size, 128)]
        calibration = calib.spread_evenly(calibration, 300)
        fast = DreamLite.from_pretrained(folder, device="cpu", dtype="bfloat16", fast=True).unet
        compiled = DreamLite.from_pretrained(folder, device="cpu", dtype="bfloat16", fast=True,
                                             compile=True).unet if args.compile else None
        theirs = diffusers_twin(reference.unet)
        theirs_bf16 = diffusers_twin(reference.unet).to(torch.bfloat16)
        del reference

    x = step_inputs(fast.config, args.size)
    bf16 = {k: (v.bfloat16() if k in ("sample", "encoder_hidden_states") else v) for k, v in x.items()}
    paths = {
        "diffusers bf16 eager": lambda: DiffusersGraph(theirs_bf16)(**bf16),
        "dreamlite fast PyTorch (bf16)": lambda: fast(**bf16),
        **({"dreamlite fast PyTorch + torch.compile (bf16)": lambda: compiled(**bf16)} if compiled else {}),
        "dreamlite OpenVINO fp32 (from_pretrained)": lambda: exported["fp32"](**x),
        "dreamlite OpenVINO bf16 (from_pretrained)": lambda: exported["bf16"](**x),
        "dreamlite OpenVINO int8 W8A8 (from_pretrained)": lambda: exported["int8"](**x),
        "diffusers OpenVINO bf16": openvino_diffusers(theirs, x, calibration, int8=False),
        "diffusers OpenVINO W8A8 (NNCF)": openvino_diffusers(theirs, x, calibration, int8=True),
    }
    del theirs
    times = {name: [] for name in paths}
    with torch.inference_mode():
        for fn in paths.values():
            fn()  # warm-up
        for i in range(args.runs):
            for name, fn in (list(paths.items()) if i % 2 == 0 else list(paths.items())[::-1]):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    base, w8a8 = median["diffusers bf16 eager"], median["diffusers OpenVINO W8A8 (NNCF)"]
    print(f"{args.config}, {args.size}x{args.size} in-context (latent 1x4x{args.size // 8}x{args.size // 4}), "
          f"128 text tokens, {args.threads} threads, median of {args.runs}")
    print("\n| path | s/step | speed-up vs diffusers bf16 | time / diffusers OV W8A8 |\n|---|---:|---:|---:|")
    for name, t in median.items():
        print(f"| {name} | {t:.3f} | {base / t:.2f}x | {t / w8a8:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"config": args.config, "size": args.size, "threads": args.threads,
                                         "runs": times, "median_s": median}, indent=2) + "\n")


if __name__ == "__main__":
    main()
