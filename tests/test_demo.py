"""A reduced `dreamlite demo` runs end to end and writes a contact sheet."""

import pytest
from PIL import Image

from dreamlite.cli import main


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    return str(tiny_model_dir)


def test_demo_with_a_tiny_model(tiny_model, tmp_path, capsys):
    assert main(["demo", "--model", tiny_model, "--out", str(tmp_path), "--per-category", "1", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "generation pass rate by category" in out and "edit chain" in out
    sheet = Image.open(tmp_path / "demo.png")
    assert sheet.width >= 5 * 128 and sheet.height > 3 * 128  # the chain row: start + four edits
    assert out.count("FAIL") + out.count("PASS") == 4  # four chained edits, each judged


def test_demo_times_a_mobile_model_against_a_base_one(tiny_model, tmp_path, capsys):
    from dreamlite.build import tiny_components
    from dreamlite.loading import save_components

    mobile = tmp_path / "mobile"
    save_components(tiny_components(variant="mobile"), mobile)
    argv = ["demo", "--model", str(mobile), "--out", str(tmp_path / "demo"), "--per-category", "1"]
    assert main([*argv, "--compare-with", tiny_model]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("time per image")]
    assert len(lines) == 2 and f"({mobile}, mobile, default steps)" in lines[0]
    assert f"({tiny_model}, base, its default steps)" in lines[1] and "x as fast" in lines[1]
    assert main([*argv, "--compare-with", ""]) == 0  # no comparison
    assert sum(line.startswith("time per image") for line in capsys.readouterr().out.splitlines()) == 1


def test_demo_with_the_bundled_model(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--per-category", "1", "--steps", "8"]) == 0
    assert (tmp_path / "demo.png").is_file()
