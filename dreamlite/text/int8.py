"""Int8 linear layers for the Qwen3-VL prompt encoder on CPU, which dominates a 4-step edit.

PyTorch's dynamic quantisation: int8 per-channel weights, activations quantised per call from their own range,
int8 GEMMs (fbgemm/oneDNN). Measured on this project's 2-core CPU for one 2048x6144 MLP on 300 tokens: fp32
0.57 s, bf16 0.16 s, int8 0.09 s. Embeddings and norms stay in float.
"""

from __future__ import annotations

import warnings

import torch


def quantize_linear_int8(encoder) -> None:
    """Replace every nn.Linear of the encoder's model (text and vision towers) by a dynamic-int8 one, in place."""
    from torch.ao.quantization import quantize_dynamic

    model = encoder.model.float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice: the API still ships and works on CPU
        encoder.model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
