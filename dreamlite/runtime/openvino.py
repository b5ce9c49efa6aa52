"""Running an OpenVINO IR on the CPU: one compiled model, inputs and output as numpy arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .signal_stack import kept_signal_stack

# OpenVINO's names for the inference precisions an export can ask for.
PRECISION_HINTS = {"f32": "f32", "bf16": "bf16", "fp32": "f32"}


class OpenVINOSession:
    """An IR (`*.xml` + `*.bin`) compiled with fully static shapes, once per input shape met (only the prompt
    length can vary); `hint` is the inference precision of the layers left unquantised."""

    def __init__(self, path: Path, hint: str | None = None, threads: int | None = None):
        import openvino as ov

        self.core = ov.Core()
        self.model = self.core.read_model(str(path))
        self.config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
        if hint:
            self.config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[hint]
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = str(threads)
        self.input_names = [p.get_any_name() for p in self.model.inputs]
        self.compiled = {}
        if self.model.is_dynamic() is False:
            self._compiled(tuple(tuple(p.get_shape()) for p in self.model.inputs))

    def _compiled(self, shapes):
        if shapes not in self.compiled:
            model = self.model.clone()
            if model.is_dynamic():
                model.reshape(dict(zip(self.input_names, [list(s) for s in shapes])))
            with kept_signal_stack():  # see signal_stack.py: OpenVINO swaps the thread's signal stack
                compiled = self.core.compile_model(model, "CPU", self.config)
            self.compiled[shapes] = (compiled, compiled.create_infer_request())
        return self.compiled[shapes]

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        compiled, request = self._compiled(tuple(inputs[k].shape for k in self.input_names))
        result = request.infer({k: inputs[k] for k in self.input_names})
        return np.array(result[compiled.output(0)], copy=True)
