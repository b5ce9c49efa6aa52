"""PyTorch graph -> ONNX, optionally int8 by onnxruntime's static QDQ quantisation (dynamic int8 made this U-Net
2.3x slower than fp32 in onnxruntime, so it is not offered)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .graphs import TEXT_AXES
from .quantize import excluded

OPSET = 17


def export_fp(graph, example: dict[str, torch.Tensor], path: Path, half: bool = False) -> None:
    graph = graph.half() if half else graph
    args = tuple(t.half() if half and t.is_floating_point() and name != "timestep" else t
                 for name, t in example.items())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, args, str(path), input_names=list(example), output_names=["output"],
                          opset_version=OPSET, dynamo=False, do_constant_folding=True,
                          dynamic_axes={k: {axis: "text_len"} for k, axis in TEXT_AXES.items() if k in example})


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over recorded inputs."""

    def __init__(self, items):
        self.items = iter(items)

    def get_next(self):
        return next(self.items, None)


def quantize_static_qdq(fp32_path: Path, out_path: Path, calibration: list[dict[str, np.ndarray]], exclusions,
                        activations: str = "asymmetric"):
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    nodes = [n.name for n in onnx.load(str(fp32_path), load_external_data=False).graph.node]
    skip = [n for n in nodes if excluded(n, exclusions)]
    quantize_static(str(fp32_path), str(out_path), _Reader(calibration), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    op_types_to_quantize=["Conv", "MatMul", "Gemm"], nodes_to_exclude=skip,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"WeightSymmetric": True, "ActivationSymmetric": activations == "symmetric"})


def export(graph, example, folder: Path, name: str, precision: str, calibration=None, exclusions=(),
           activations: str = "asymmetric") -> str:
    path = folder / f"{name}.onnx"
    if precision == "int8" and calibration is not None:
        fp32 = folder / f"{name}.fp32.onnx"
        export_fp(graph, example, fp32)
        quantize_static_qdq(fp32, path, calibration, exclusions, activations)
        fp32.unlink()
    else:
        export_fp(graph, example, path, half=precision == "fp16")
    return path.name
