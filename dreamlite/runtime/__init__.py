"""Exported U-Net and VAE graphs as drop-in components: a folder written by `dreamlite export` is a model.

`unet/export.json` and `vae/export.json` say which runtime runs the graphs (OpenVINO, onnxruntime, ExecuTorch)
and what static shapes they were built for; parts not exported (the prompt encoder, the scheduler) load as usual.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import CheckpointError
from .adapters import ExportedUNet, ExportedVAE, ExportSizeError

EXPORT_FILE = "export.json"


def is_exported(part: Path) -> bool:
    return (part / EXPORT_FILE).is_file()


def open_session(fmt: str, path: Path, hint: str | None = None, threads: int | None = None):
    """A callable {input name: array} -> output array for one exported file."""
    try:
        if fmt == "openvino":
            from .openvino import OpenVINOSession as Session
        elif fmt == "onnx":
            from .onnx import ONNXSession as Session
        elif fmt == "executorch":
            from .executorch import ExecuTorchSession as Session
        else:
            raise CheckpointError(f"{path.parent}: format {fmt!r} has no runtime on this machine (Core ML runs on "
                                  "Apple devices only)")
    except ModuleNotFoundError as err:
        raise CheckpointError(f"running a {fmt} export needs the `{err.name}` package: pip install "
                              "'dreamlite[runtime]'") from None
    if not path.is_file():
        raise CheckpointError(f"exported file {path} is missing")
    threads = threads or int(os.environ.get("DREAMLITE_RUNTIME_THREADS", "0")) or None  # set by `dreamlite bench`
    return Session(path, hint=hint, threads=threads)


def read_export(part: Path) -> dict:
    try:
        return json.loads((part / EXPORT_FILE).read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{part / EXPORT_FILE} is not valid JSON: {err}") from None


def load_exported_unet(part: Path) -> ExportedUNet:
    from ..models.config import UNetConfig

    export = read_export(part)
    config = UNetConfig.from_dict(json.loads((part / "config.json").read_text()))
    session = open_session(export["format"], part / export["files"]["unet"], export.get("inference_precision"))
    return ExportedUNet(session, config, export)


def load_exported_vae(part: Path) -> ExportedVAE:
    export = read_export(part)
    config = {k: v for k, v in json.loads((part / "config.json").read_text()).items() if not k.startswith("_")}
    hint = export.get("inference_precision")
    encoder = open_session(export["format"], part / export["files"]["vae_encoder"], hint)
    decoder = open_session(export["format"], part / export["files"]["vae_decoder"], hint)
    return ExportedVAE(encoder, decoder, config, export)


__all__ = ["ExportSizeError", "ExportedUNet", "ExportedVAE", "is_exported", "load_exported_unet",
           "load_exported_vae", "open_session"]
