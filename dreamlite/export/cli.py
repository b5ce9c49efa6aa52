"""`dreamlite export --model M --format openvino|onnx|coreml|executorch --out DIR [--size --seq-len --precision]`."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    from ..cli import parse_size
    from .quantize import DEFAULT_EXCLUSIONS
    from .run import FORMATS, PRECISIONS

    p = sub.add_parser("export", help="export the U-Net and VAE for OpenVINO, onnxruntime, Core ML or ExecuTorch",
                       description="Export the U-Net, VAE encoder and VAE decoder as static graphs; the output "
                                   "folder loads with DreamLite.from_pretrained and `dreamlite generate --model`.")
    p.add_argument("--model", default=None, help="pipeline folder, short name or hub id (default: shapes-mobile)")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, type=Path, help="output folder (new or empty)")
    p.add_argument("--size", type=parse_size, default=None,
                   help="the one image size the export runs at, WxH or N (default: the model's native size)")
    p.add_argument("--seq-len", type=int, default=128, help="prompt length in tokens (default 128, as the "
                                                             "official Android export)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--calibration", type=Path, default=None,
                   help="int8: prompt file (one a line; `edit: ...` lines are instructions); default: the model "
                        "folder's calibration_prompts.txt, else a built-in set")
    p.add_argument("--calibration-samples", type=int, default=300,
                   help="int8: U-Net inputs kept for calibration, spread over steps, tasks and branches")
    p.add_argument("--calibration-steps", type=int, default=None,
                   help="int8: sampling steps while calibrating (default: the model's own)")
    p.add_argument("--exclude", nargs="*", default=list(DEFAULT_EXCLUSIONS), metavar="MODULE",
                   help="int8: modules kept in float (regex on the module name; default: "
                        f"{' '.join(DEFAULT_EXCLUSIONS)}); `--exclude` alone quantises everything")
    p.add_argument("--int8-float", choices=("bf16", "fp32"), default="bf16",
                   help="OpenVINO int8: precision of the layers left in float (default bf16)")
    p.add_argument("--int8-activations", choices=("asymmetric", "symmetric"), default="asymmetric",
                   help="int8: activation quantisation (default asymmetric)")
    p.add_argument("--int8-smooth-quant", type=float, default=None, metavar="ALPHA",
                   help="OpenVINO int8: SmoothQuant alpha of the MatMuls (default: NNCF's, 0.95; -1 turns it off)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..assets import DEFAULT_MODEL
    from ..cli import load_model
    from ..loading import resolve_model_path
    from .calibration import MODEL_PROMPTS
    from .run import ExportSettings, export_pipeline

    width, height = args.size or (None, None)
    args.device, args.dtype = "cpu", "float32"
    own = resolve_model_path(args.model or DEFAULT_MODEL) / MODEL_PROMPTS
    if args.precision == "int8" and args.calibration is None and own.is_file():
        args.calibration = own  # prompts the model was trained on calibrate far better than generic ones
    pipe = load_model(args)
    settings = ExportSettings(args.format, args.out, width, height, args.seq_len, args.precision,
                              args.calibration, args.calibration_samples, args.calibration_steps,
                              tuple(args.exclude), args.int8_float, args.int8_activations, args.int8_smooth_quant,
                              log=lambda m: print(m, file=sys.stderr))
    report = export_pipeline(pipe, settings)
    for part in ("unet", "vae"):
        for name, entry in report["parity"][part].items():
            print(f"{part}/{name}: " + ", ".join(f"{k} {v:.2e}" if isinstance(v, float) else f"{k} {v}"
                                                for k, v in entry.items() if k in ("max_rel_error", "passed",
                                                                                   "runtime", "checked")))
    print(args.out)
    return 0
