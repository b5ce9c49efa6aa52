"""Running an ONNX graph with onnxruntime's CPU execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class ONNXSession:
    def __init__(self, path: Path, hint: str | None = None, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i.type for i in self.session.get_inputs()}

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {k: inputs[k].astype(np.float16 if "float16" in t else np.float32) for k, t in self.inputs.items()}
        return self.session.run(None, feed)[0].astype(np.float32)
