"""`dreamlite export --format coreml` on a tiny random pipeline. Core ML runs only on Apple systems, so the
packages are checked structurally (inputs with static shapes, one output, weights, operations), not run.

Skipped unless coremltools is installed (`pip install -e '.[mobile]'`)."""

import json

import pytest

from dreamlite import DreamLite

from .helpers import EXPORT_SIZE as SIZE
from .helpers import export_tiny as export

pytest.importorskip("coremltools")


def test_coreml_export_is_checked_structurally(perturbed_model_dir, tmp_path):
    out = export(perturbed_model_dir, tmp_path / "cm", "coreml", "fp16", seq_len=64)
    unet = json.loads((out / "unet" / "parity.json").read_text())["unet.mlpackage"]
    assert unet["passed"] and unet["runtime"] is None and "structure only" in unet["checked"]
    assert unet["inputs"]["sample"] == [1, 4, SIZE // 8, SIZE // 4]
    assert unet["inputs"]["encoder_attention_mask"] == [1, 64]
    vae = json.loads((out / "vae" / "parity.json").read_text())
    assert vae["encoder.mlpackage"]["inputs"]["pixels"] == [1, 3, SIZE, SIZE] and vae["decoder.mlpackage"]["passed"]
    with pytest.raises(ValueError, match="Apple"):
        DreamLite.from_pretrained(out)
