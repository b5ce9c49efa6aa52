"""`dreamlite export --format executorch` on a tiny random pipeline, checked with ExecuTorch's own runtime.

Skipped unless `executorch` is installed (`pip install -e '.[executorch]'`; not in the test extra: it brings
torchao, whose import messages would print on every diffusers import). About 3 minutes at one thread: XNNPACK
lowering is slow even for a tiny graph.
"""

import json

import numpy as np
import pytest

from dreamlite import DreamLite

from .helpers import EXPORT_SIZE as SIZE
from .helpers import export_tiny as export
from .helpers import pixels

pytest.importorskip("executorch.runtime")


def test_executorch_export_matches_pytorch(perturbed_model_dir, tmp_path):
    out = export(perturbed_model_dir, tmp_path / "et", "executorch", seq_len=64)  # fully static: room for the whole prompt
    for part in ("unet", "vae"):
        for entry in json.loads((out / part / "parity.json").read_text()).values():
            assert entry["runtime"] == "executorch" and entry["passed"] and entry["max_rel_error"] <= 1e-3
    a = DreamLite.from_pretrained(perturbed_model_dir, device="cpu").generate("a red circle", steps=2, seed=1, height=SIZE,
                                                               width=SIZE)[0]
    b = DreamLite.from_pretrained(out).generate("a red circle", steps=2, seed=1)[0]
    assert np.abs(pixels(a) - pixels(b)).max() <= 2
