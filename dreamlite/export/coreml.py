"""PyTorch graph -> Core ML ML Program (`.mlpackage`, fp16 or fp32 compute).

Core ML runs only on Apple systems, so on Linux the package is checked structurally instead of run: it must load
as a spec, name the graph's inputs with their static shapes and one output, and hold its weights. Conversion goes
through torch.export (coremltools' TorchScript path fails on this graph with torch 2.13).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointError


def _coremltools():
    try:
        import coremltools as ct
    except ModuleNotFoundError:
        raise CheckpointError("Core ML export needs coremltools: pip install coremltools") from None
    return ct


def export(graph, example, folder: Path, name: str, precision: str, calibration=None, exclusions=()) -> str:
    ct = _coremltools()
    with torch.no_grad():
        program = torch.export.export(graph.eval(), tuple(example.values())).run_decompositions({})
    try:
        model = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                           compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32)
    except Exception as err:  # coremltools' converter lags torch releases; say which pair failed, in one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"Core ML conversion failed (coremltools {ct.__version__}, torch {torch.__version__}):"
                              f" {first}") from None
    path = folder / f"{name}.mlpackage"
    model.save(str(path))
    return path.name


def structural_check(path: Path) -> dict:
    """What can be checked of a Core ML package without Apple's runtime."""
    ct = _coremltools()
    spec = ct.utils.load_spec(str(path))
    inputs = {i.name: list(i.type.multiArrayType.shape) for i in spec.description.input}
    outputs = [o.name for o in spec.description.output]
    weight_bytes = sum(p.stat().st_size for p in (path / "Data").rglob("weight*.bin"))
    ops = sum(len(block.operations) for f in spec.mlProgram.functions.values()
              for block in f.block_specializations.values())
    ok = bool(inputs) and all(inputs.values()) and len(outputs) == 1 and weight_bytes > 0 and ops > 0
    return {"runtime": None, "checked": "structure only (Core ML runs on Apple systems, not on Linux)",
            "inputs": inputs, "outputs": outputs, "operations": ops, "weight_bytes": weight_bytes, "passed": ok}
