"""`dreamlite export --precision int8` on a tiny random pipeline: W8A8 that still follows the prompt."""

import json
import shutil

import numpy as np
import pytest

from dreamlite import DreamLite

from .helpers import EXPORT_SIZE as SIZE
from .helpers import export_tiny as export
from .helpers import pixels


@pytest.mark.parametrize("fmt", ["openvino", "onnx"])
def test_int8_export_keeps_guidance(perturbed_model_dir, tmp_path, fmt):
    model = perturbed_model_dir
    if fmt == "onnx":  # a model folder's own calibration prompts are used when present
        model = tmp_path / "model"
        shutil.copytree(perturbed_model_dir, model)
        (model / "calibration_prompts.txt").write_text("# shapes\na red circle\nedit: make it blue\n")
    out = export(model, tmp_path / fmt, fmt, "int8")
    (entry,) = json.loads((out / "unet" / "parity.json").read_text()).values()
    assert entry["precision"] == "int8" and entry["max_rel_error"] < 0.5
    spread = entry["guidance_spread"]
    assert spread["std_cond_minus_uncond_fp32"] > 0 and 0.5 < spread["ratio"] < 2, spread
    calibration = json.loads((out / "export_report.json").read_text())["calibration"]
    # 1 prompt each, 2 steps: 2 x 2 generation branches + 2 x 3 editing ones; else 24 of the many recorded
    assert calibration["samples"] == (10 if fmt == "onnx" else 24) and "time_embedding" in calibration["exclusions"]
    if fmt == "onnx":
        assert calibration["source"].endswith("calibration_prompts.txt")
        assert calibration["prompts"] == {"generate": 1, "edit": 1}
    else:
        assert calibration["source"] == "built-in" and calibration["prompts"]["edit"] == 8
    ref = DreamLite.from_pretrained(model, device="cpu").generate("a red circle", steps=3, seed=1, height=SIZE,
                                                                  width=SIZE)[0]
    image = DreamLite.from_pretrained(out).generate("a red circle", steps=3, seed=1)[0]
    assert np.abs(pixels(ref) - pixels(image)).mean() < 8


def test_smooth_quant_can_be_turned_off(perturbed_model_dir, tmp_path):
    """`--int8-smooth-quant -1` reaches NNCF: no SmoothQuant scales in the graph, and export.json says so."""
    from dreamlite.cli import main

    def export_with(name, *extra):
        out = tmp_path / name
        assert main(["export", "--model", str(perturbed_model_dir), "--format", "openvino", "--out", str(out),
                     "--size", str(SIZE), "--seq-len", "32", "--precision", "int8", "--calibration-steps", "1",
                     "--calibration-samples", "8", *extra]) == 0
        return json.loads((out / "unet" / "export.json").read_text()), (out / "unet" / "unet.xml").read_text()

    on, on_xml = export_with("default")
    off, off_xml = export_with("off", "--int8-smooth-quant", "-1")
    assert on["smooth_quant"] is None and off["smooth_quant"] == -1
    assert on_xml.count("nncf_smooth_quant\"") > 0 and off_xml.count("nncf_smooth_quant\"") == 0
