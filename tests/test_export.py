"""`dreamlite export` on a tiny random pipeline: parity per format that runs here, the exported folder as a model,
int8 with its guidance check, and the one-line error for a size the static export was not built for."""

import json

import numpy as np
import pytest

from dreamlite import DreamLite
from dreamlite.cli import main

from .helpers import EXPORT_SIZE as SIZE
from .helpers import export_tiny as export
from .helpers import pixels


@pytest.fixture(scope="module")
def exported(perturbed_model_dir, tmp_path_factory):
    """fp32 exports of the tiny pipeline, one per format, made once for the module."""
    folders = {}

    def get(fmt):
        if fmt not in folders:
            folders[fmt] = export(perturbed_model_dir, tmp_path_factory.mktemp(fmt) / "out", fmt)
        return folders[fmt]

    return get


@pytest.mark.parametrize("fmt", ["openvino", "onnx"])
def test_fp32_export_matches_pytorch(perturbed_model_dir, exported, fmt):
    out = exported(fmt)
    for part, files in (("unet", 1), ("vae", 2)):
        parity = json.loads((out / part / "parity.json").read_text())
        assert len(parity) == files
        for entry in parity.values():
            assert entry["runtime"] == fmt and entry["passed"] and entry["max_rel_error"] <= 1e-3
    ref = DreamLite.from_pretrained(perturbed_model_dir, device="cpu")
    exported = DreamLite.from_pretrained(out)
    assert type(exported.unet).__name__ == "ExportedUNet" and exported.default_size == SIZE
    a = ref.generate("a red circle", steps=3, seed=1, height=SIZE, width=SIZE)[0]
    b = exported.generate("a red circle", steps=3, seed=1)[0]
    assert np.abs(pixels(a) - pixels(b)).max() <= 2 and pixels(a).std() > 1
    source = ref.generate("a red circle", steps=2, seed=2, height=SIZE, width=SIZE)[0]
    a = ref.edit(source, "make it blue", steps=2, seed=3)[0]
    b = exported.edit(source, "make it blue", steps=2, seed=3)[0]
    assert np.abs(pixels(a) - pixels(b)).max() <= 2


def test_static_size_error_names_the_exported_size(exported, tmp_path, capsys):
    out = exported("openvino")
    with pytest.raises(ValueError, match=f"built for {SIZE}x{SIZE} only"):
        DreamLite.from_pretrained(out).generate("a red circle", height=2 * SIZE, width=SIZE, steps=1)
    capsys.readouterr()
    code = main(["generate", "a red circle", "--model", str(out), "--size", "32", "-o", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{SIZE}x{SIZE}" in err[0], err


def test_export_refuses_bad_settings(perturbed_model_dir, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    for argv, needle in ((["--format", "openvino", "--out", str(tmp_path / "full")], "not empty"),
                         (["--format", "executorch", "--out", str(tmp_path / "e"), "--precision", "int8"],
                          "supports")):
        assert main(["export", "--model", str(perturbed_model_dir), *argv]) == 2
        assert needle in capsys.readouterr().err


SIGNAL_AFTER_OPENVINO = """
import gc, os, signal, sys
from dreamlite import DreamLite
from dreamlite.runtime import signal_stack
before = signal_stack.current()
a = DreamLite.from_pretrained(sys.argv[1]); a.generate("a red circle", steps=1, seed=0)
b = DreamLite.from_pretrained(sys.argv[1]); b.generate("a red circle", steps=1, seed=0)
del a; gc.collect()  # freed in the order they were made, not the reverse
del b; gc.collect()
print("same stack", signal_stack.current() == before, flush=True)
got = []
signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
os.kill(os.getpid(), signal.SIGUSR1)
print("handled", len(got), flush=True)
"""


def test_openvino_models_leave_the_signal_stack_as_it_was(exported):
    """OpenVINO's CPU plugin swaps the thread's signal stack and, with models freed out of order, left it on an
    unmapped one: the next signal with a Python handler (SIGCHLD after DataLoader workers) was a SIGSEGV."""
    import subprocess
    import sys

    out = exported("openvino")
    result = subprocess.run([sys.executable, "-c", SIGNAL_AFTER_OPENVINO, str(out)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"rc {result.returncode}:\n{result.stdout}\n{result.stderr[-2000:]}"
    assert "same stack True" in result.stdout and "handled 1" in result.stdout, result.stdout
