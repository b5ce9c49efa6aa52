"""PyTorch graph -> OpenVINO IR (`.xml` + `.bin`), optionally W8A8 with NNCF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runtime.signal_stack import kept_signal_stack
from .graphs import TEXT_AXES
from .quantize import exclusion_patterns


def convert(graph: torch.nn.Module, example: dict[str, torch.Tensor]):
    """Static shapes except the prompt length, which the runtime fixes per length before compiling."""
    import openvino as ov

    def shape(name, t):
        return [-1 if TEXT_AXES.get(name) == i else n for i, n in enumerate(t.shape)]

    with torch.no_grad():
        model = ov.convert_model(graph, example_input=example,
                                 input=[(name, shape(name, t), ov.Type.f32) for name, t in example.items()])
    for port, name in zip(model.inputs, example):
        port.get_tensor().set_names({name})
    model.outputs[0].get_tensor().set_names({"output"})
    return model


def quantize_w8a8(model, calibration: list[dict[str, np.ndarray]], exclusions, activations: str = "asymmetric",
                  smooth_quant: float | None = None):
    """NNCF post-training quantisation: int8 per-channel symmetric weights, int8 activations (calibrated on
    `calibration`; asymmetric suits the SiLU/GELU outputs most GEMMs read), GEMMs and convolutions only,
    `exclusions` left in full precision. `smooth_quant`: the SmoothQuant alpha of the MatMuls (None: NNCF's
    default for transformers, 0.95; -1 turns it off)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    ignored = nncf.IgnoredScope(patterns=exclusion_patterns(exclusions), validate=False) if exclusions else None
    kwargs = {"ignored_scope": ignored} if ignored else {}
    if smooth_quant is not None:
        kwargs["advanced_parameters"] = AdvancedQuantizationParameters(
            smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=smooth_quant))
    preset = nncf.QuantizationPreset.MIXED if activations == "asymmetric" else nncf.QuantizationPreset.PERFORMANCE
    with kept_signal_stack(collect=True):  # NNCF compiles and drops models of its own while calibrating
        return nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration), preset=preset,
                             model_type=nncf.ModelType.TRANSFORMER, **kwargs)


def export(graph, example, folder: Path, name: str, precision: str, calibration=None, exclusions=(),
           activations: str = "asymmetric", smooth_quant: float | None = None) -> str:
    """Write `name.xml`/`name.bin`; return the .xml file name. fp16 stores fp16 weights (computed in fp32 or bf16
    on CPUs); bf16 and int8 leave the precision of unquantised layers to the runtime hint in export.json."""
    import openvino as ov

    model = convert(graph, example)
    if precision == "int8" and calibration is not None:
        model = quantize_w8a8(model, calibration, exclusions, activations, smooth_quant)
    ov.save_model(model, str(folder / f"{name}.xml"), compress_to_fp16=precision == "fp16")
    return f"{name}.xml"
