"""How far an exported file's outputs are from PyTorch float32's on the same inputs, and whether a quantised U-Net
still follows the prompt."""

from __future__ import annotations

import numpy as np

# Largest max-relative error (max |ours - torch| / max |torch|) each precision is held to. bf16 (OpenVINO runs
# norms and softmax in bf16 too: 0.13 on the tiny random test U-Net) and int8 are judged on final images and
# ShapesBench instead, so their errors are reported, not gated.
TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2, "bf16": None, "int8": None}


def compare(reference: np.ndarray, output: np.ndarray) -> dict:
    ref, out = reference.astype(np.float64), output.astype(np.float64)
    scale = max(np.abs(ref).max(), 1e-12)
    return {"max_rel_error": float(np.abs(out - ref).max() / scale),
            "mean_abs_error": float(np.abs(out - ref).mean()),
            "reference_max_abs": float(scale)}


def file_parity(run, reference, inputs: list[dict[str, np.ndarray]], precision: str, runtime: str) -> dict:
    """Compare `run(inputs)` with `reference(inputs)` over every input set; the worst case is reported."""
    rows = [compare(reference(x), run(x)) for x in inputs]
    worst = max(r["max_rel_error"] for r in rows)
    tolerance = TOLERANCE[precision]
    return {"runtime": runtime, "reference": "pytorch float32", "precision": precision, "inputs": len(rows),
            "max_rel_error": worst, "mean_abs_error": float(np.mean([r["mean_abs_error"] for r in rows])),
            "tolerance": tolerance, "passed": None if tolerance is None else bool(worst <= tolerance)}


def guidance_spread(run, cond_inputs: list[dict], uncond_text: np.ndarray, uncond_mask: np.ndarray) -> float:
    """Mean over inputs of std(prediction with the prompt - prediction with the empty prompt): what classifier-free
    guidance amplifies. A quantised model whose value falls far below float32's has let cond and uncond collapse
    together (seen in a public w8a16 export), and no longer follows the prompt."""
    spreads = []
    for x in cond_inputs:
        uncond = dict(x, encoder_hidden_states=uncond_text, encoder_attention_mask=uncond_mask)
        spreads.append(float(np.std(run(x).astype(np.float64) - run(uncond).astype(np.float64))))
    return float(np.mean(spreads))
