"""`dreamlite export`: the U-Net, the VAE encoder and the VAE decoder of a pipeline as static graphs for one
runtime, a parity report against PyTorch for each file, and the rest of the pipeline beside them, so that the
output folder loads with `DreamLite.from_pretrained(DIR)`."""

from __future__ import annotations

import copy
import importlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from ..runtime.adapters import padded_length
from . import calibration as calib
from .graphs import (
    StaticShape,
    UNetGraph,
    VAEDecoderGraph,
    VAEEncoderGraph,
    export_ready_unet,
    unet_example,
    vae_examples,
)
from .parity import file_parity, guidance_spread
from .quantize import DEFAULT_EXCLUSIONS

FORMATS = ("openvino", "onnx", "coreml", "executorch")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# What each format can hold; int8 is W8A8 where the runtime supports it (OpenVINO, onnxruntime QDQ).
SUPPORTED = {"openvino": PRECISIONS, "onnx": ("fp32", "int8"), "coreml": ("fp32", "fp16"),
             "executorch": ("fp32",)}
# The OpenVINO inference precision of layers left in floating point.
OPENVINO_HINT = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "bf16"}


@dataclass
class ExportSettings:
    format: str
    out: Path
    width: int | None = None
    height: int | None = None
    seq_len: int = 128
    precision: str = "fp32"
    calibration: Path | None = None
    calibration_samples: int = 300
    calibration_steps: int | None = None
    exclusions: tuple[str, ...] = DEFAULT_EXCLUSIONS
    int8_float: str = "bf16"
    int8_activations: str = "asymmetric"
    int8_smooth_quant: float | None = None  # OpenVINO: SmoothQuant alpha of the MatMuls; None: NNCF's; -1: off
    parity_inputs: int = 3
    log: object = field(default=print, repr=False)


def check_settings(s: ExportSettings) -> None:
    if s.format not in FORMATS:
        raise CheckpointError(f"unknown format {s.format!r}; choose from {', '.join(FORMATS)}")
    if s.precision not in SUPPORTED[s.format]:
        raise CheckpointError(f"{s.format} export supports {', '.join(SUPPORTED[s.format])}; got {s.precision}")
    if s.out.exists() and any(s.out.iterdir()):
        raise CheckpointError(f"{s.out} exists and is not empty; choose a new --out")
    if s.seq_len < 1:
        raise CheckpointError(f"--seq-len must be positive, got {s.seq_len}")


def exporter(fmt: str):
    return importlib.import_module(f"dreamlite.export.{fmt}")


def export_pipeline(pipe, s: ExportSettings) -> dict:
    """Export `pipe` (a float32 CPU DreamLite) as `s` asks; returns the summary also written to export_report.json."""
    check_settings(s)
    width, height = pipe._check_size(s.height or pipe.default_size, s.width or pipe.default_size)[::-1]
    shape = StaticShape(width, height, s.seq_len, pipe.vae_scale_factor)
    module = exporter(s.format)
    s.out.mkdir(parents=True, exist_ok=True)
    (s.out / "unet").mkdir(), (s.out / "vae").mkdir()
    report = {"format": s.format, "precision": s.precision, "size": shape.describe(), "seq_len": s.seq_len,
              "seconds": {}}

    items = generation_items = None
    if s.precision == "int8":
        start = time.perf_counter()
        prompts = calib.read_prompt_file(s.calibration) if s.calibration else calib.BUILTIN_PROMPTS
        s.log(f"calibrating: sampling {len(prompts['generate'])} generation and {len(prompts['edit'])} editing "
              f"prompts at {shape.describe()}")
        tagged = calib.spread_evenly(calib.collect(pipe, prompts, width, height, s.seq_len, s.calibration_steps),
                                     s.calibration_samples)
        items = [x for _, x in tagged]
        generation_items = [x for task, x in tagged if task == "generate"]
        report["calibration"] = {"samples": len(items), "prompts": {k: len(v) for k, v in prompts.items()},
                                 "source": str(s.calibration) if s.calibration else "built-in",
                                 "exclusions": list(s.exclusions)}
        report["seconds"]["calibration"] = time.perf_counter() - start

    unet = pipe.unet.float().eval()
    text_dim = unet.config.encoder_hid_dim or unet.config.cross_attention_dim
    unet_inputs = {k: v for k, v in unet_example(unet.config, shape, text_dim).items()}
    start = time.perf_counter()
    s.log(f"exporting the U-Net to {s.format} ({s.precision})")
    int8 = int8_options(s)
    unet_file = module.export(UNetGraph(export_ready_unet(unet)), unet_inputs, s.out / "unet", "unet", s.precision,
                              items, s.exclusions, **int8)
    report["seconds"]["unet"] = time.perf_counter() - start

    vae = copy.deepcopy(pipe.vae).float().eval()
    examples = vae_examples(vae.config, shape)
    vae_precision = "fp32" if s.precision == "int8" else s.precision  # the VAE is cheap and quantises badly
    start = time.perf_counter()
    s.log(f"exporting the VAE encoder and decoder to {s.format} ({vae_precision})")
    vae_files = {"vae_encoder": module.export(VAEEncoderGraph(vae), examples["vae_encoder"], s.out / "vae",
                                              "encoder", vae_precision),
                 "vae_decoder": module.export(VAEDecoderGraph(vae), examples["vae_decoder"], s.out / "vae",
                                              "decoder", vae_precision)}
    report["seconds"]["vae"] = time.perf_counter() - start

    common = {"format": s.format, "width": width, "height": height, "seq_len": s.seq_len,
              "dynamic_text": s.format in ("openvino", "onnx"), "vae_factor": pipe.vae_scale_factor}
    unet_export = dict(common, precision=s.precision, files={"unet": unet_file},
                       inference_precision=hint(s.format, s.precision, s.int8_float))
    if s.precision == "int8":
        unet_export["exclusions"] = list(s.exclusions)
        unet_export.update(int8)
    vae_export = dict(common, precision=vae_precision, files=vae_files,
                      inference_precision=hint(s.format, vae_precision, s.int8_float))
    write_json(s.out / "unet" / "export.json", unet_export)
    write_json(s.out / "vae" / "export.json", vae_export)
    (s.out / "unet" / "config.json").write_text(json.dumps(unet.config.to_dict(), indent=2) + "\n")
    vae.save_config(s.out / "vae")
    write_pipeline_rest(pipe, s.out)

    s.log("checking parity against PyTorch")
    report["parity"] = {"unet": unet_parity(unet, s, unet_export, unet_inputs, items, generation_items, pipe),
                        "vae": vae_parity(vae, s, vae_export, examples)}
    write_json(s.out / "export_report.json", report)
    return report


def int8_options(s: ExportSettings) -> dict:
    """The int8 settings the format's exporter takes (and export.json records)."""
    if s.precision != "int8":
        return {}
    options = {"activations": s.int8_activations}
    if s.format == "openvino":
        options["smooth_quant"] = s.int8_smooth_quant
    return options


def hint(fmt: str, precision: str, int8_float: str) -> str | None:
    if fmt != "openvino":
        return None
    return int8_float.replace("fp32", "f32") if precision == "int8" else OPENVINO_HINT[precision]


def unet_parity(unet, s, export, example, items, generation_items, pipe) -> dict:
    if s.format == "coreml":
        return write_json(s.out / "unet" / "parity.json",
                          {export["files"]["unet"]: exporter("coreml").structural_check(s.out / "unet" /
                                                                                       export["files"]["unet"])})
    from ..runtime import open_session

    run = open_session(s.format, s.out / "unet" / export["files"]["unet"], export["inference_precision"])

    def reference(x):
        with torch.inference_mode():
            return unet(**{k: torch.from_numpy(v) for k, v in x.items()}).numpy()

    inputs = [{k: v.numpy() for k, v in example.items()}]
    if items:
        inputs += calib.spread_evenly(items, s.parity_inputs)
    else:
        inputs += [{k: v.numpy() for k, v in unet_example(unet.config, StaticShape(
            export["width"], export["height"], export["seq_len"], export["vae_factor"]),
            example["encoder_hidden_states"].shape[-1], seed=i).items()} for i in range(1, s.parity_inputs)]
    entry = file_parity(run, reference, inputs, s.precision, s.format)
    if s.precision == "int8":
        entry["guidance_spread"] = spread_check(run, reference, generation_items, pipe, export["seq_len"])
    return write_json(s.out / "unet" / "parity.json", {export["files"]["unet"]: entry})


def spread_check(run, reference, items, pipe, seq_len) -> dict:
    """std(cond - uncond) before and after quantisation on generation inputs (time_ids and zero condition half)."""
    with torch.inference_mode():
        text, mask = pipe.prompt_encoder.encode([""], "generate")
    pad = padded_length(text.shape[1], seq_len, True) - text.shape[1]
    text = torch.nn.functional.pad(text.float(), (0, 0, 0, pad)).numpy()
    mask = torch.nn.functional.pad(mask.float(), (0, pad)).numpy()
    cond = calib.spread_evenly(items, 4)
    before, after = guidance_spread(reference, cond, text, mask), guidance_spread(run, cond, text, mask)
    return {"std_cond_minus_uncond_fp32": before, "std_cond_minus_uncond_int8": after,
            "ratio": after / max(before, 1e-12), "inputs": len(cond)}


def vae_parity(vae, s, export, examples) -> dict:
    entries = {}
    for part, graph in (("vae_encoder", VAEEncoderGraph(vae)), ("vae_decoder", VAEDecoderGraph(vae))):
        path = s.out / "vae" / export["files"][part]
        if s.format == "coreml":
            entries[path.name] = exporter("coreml").structural_check(path)
            continue
        from ..runtime import open_session

        run = open_session(s.format, path, export["inference_precision"])

        def reference(x, graph=graph):
            with torch.inference_mode():
                return graph(*[torch.from_numpy(v) for v in x.values()]).numpy()

        inputs = [{k: v.numpy() for k, v in examples[part].items()}]
        entries[path.name] = file_parity(run, reference, inputs, export["precision"], s.format)
    return write_json(s.out / "vae" / "parity.json", entries)


def write_pipeline_rest(pipe, out: Path) -> None:
    """Everything but the exported graphs, as in a diffusers-layout folder: prompt encoder, scheduler, index."""
    from ..loading import DIFFUSERS_VERSION, PIPELINE_VARIANTS, quiet_libraries, scheduler_config

    with quiet_libraries():
        entries = pipe.prompt_encoder.save_pretrained(out)
    pipeline_class = {v: k for k, v in PIPELINE_VARIANTS.items()}[pipe.variant]
    index = {"_class_name": pipeline_class, "_diffusers_version": DIFFUSERS_VERSION, **entries,
             "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
             "unet": ["dreamlite", "ExportedUNet"], "vae": ["dreamlite", "ExportedVAE"]}
    (out / "scheduler").mkdir(exist_ok=True)
    write_json(out / "scheduler" / "scheduler_config.json", scheduler_config(pipe.schedule))
    write_json(out / "model_index.json", dict(sorted(index.items())))


def write_json(path: Path, data: dict) -> dict:
    def plain(x):
        return float(x) if isinstance(x, (np.floating, np.integer)) else str(x)

    path.write_text(json.dumps(data, indent=2, default=plain) + "\n")
    return data
