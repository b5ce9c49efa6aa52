"""CLI smoke tests: generate and edit write PNGs; user errors are one line with exit code 2."""

import subprocess
import sys

import pytest
from PIL import Image

from dreamlite.cli import main

from .helpers import random_image


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return str(tiny_model_dir)


def test_generate_writes_pngs(model, tmp_path, capsys):
    out = tmp_path / "gen.png"
    code = main(["generate", "--model", model, "a red circle", "-o", str(out), "--size", "64x32", "--steps", "2",
                 "--seed", "1", "--num", "2"])
    assert code == 0
    paths = [tmp_path / "gen-0.png", tmp_path / "gen-1.png"]
    for path in paths:
        assert Image.open(path).size == (64, 32)
    assert capsys.readouterr().out.split() == [str(p) for p in paths]


def test_same_seed_same_image(model, tmp_path):
    for name in ("a", "b"):
        assert main(["generate", "--model", model, "x", "-o", str(tmp_path / f"{name}.png"), "--size", "32",
                     "--steps", "2", "--seed", "5"]) == 0
    assert Image.open(tmp_path / "a.png").tobytes() == Image.open(tmp_path / "b.png").tobytes()


def test_edit_writes_png(model, tmp_path):
    source = tmp_path / "in.png"
    random_image(48, 32).save(source)
    out = tmp_path / "edit.png"
    code = main(["edit", "--model", model, "--image", str(source), "make it blue", "-o", str(out),
                 "--steps", "2", "--seed", "0", "--guidance", "2", "--image-guidance", "1.2"])
    assert code == 0 and Image.open(out).size == (48, 32)
    kept = tmp_path / "kept.png"
    assert main(["edit", "--model", model, "--image", str(source), "make it blue", "-o", str(kept),
                 "--steps", "2", "--seed", "0", "--keep-source", "0.5"]) == 0
    assert Image.open(kept).tobytes() != Image.open(out).tobytes()


def test_user_errors_are_one_line(model, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("hello")
    assert main(["edit", "--model", model, "--image", str(bad), "x", "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable image" in err[0]
    assert main(["generate", "--model", model, "x", "-o", str(tmp_path / "o.png"), "--size", "30"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    random_image(32, 32).save(tmp_path / "in.png")
    assert main(["edit", "--model", model, "--image", str(tmp_path / "in.png"), "x", "-o", str(tmp_path / "o.png"),
                 "--keep-source", "2"]) == 2
    assert "threshold in (0, 1]" in capsys.readouterr().err
    assert main(["generate", "--model", str(tmp_path / "nope"), "x", "-o", str(tmp_path / "o.png")]) == 2


def test_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dreamlite.cli", "generate", "--model", str(tmp_path / "none"),
                           "x", "-o", str(tmp_path / "o.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "no such model folder" in proc.stderr
