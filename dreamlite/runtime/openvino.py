"""Running an OpenVINO IR on the CPU: one compiled model, inputs and output as numpy arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# OpenVINO's names for the inference precisions an export can ask for.
PRECISION_HINTS = {"f32": "f32", "bf16": "bf16", "fp32": "f32"}


class OpenVINOSession:
    """A compiled IR (`*.xml` + `*.bin`); `hint` is the inference precision of the layers left unquantised."""

    def __init__(self, path: Path, hint: str | None = None, threads: int | None = None):
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
        if hint:
            config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[hint]
        if threads:
            config["INFERENCE_NUM_THREADS"] = str(threads)
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.input_names = [p.get_any_name() for p in self.compiled.inputs]

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        result = self.request.infer({k: inputs[k] for k in self.input_names})
        return np.array(result[self.compiled.output(0)], copy=True)
