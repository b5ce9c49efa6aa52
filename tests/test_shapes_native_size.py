"""ShapesBench on a checkpoint refuses, in one line, items whose size is not the model's native size, unless
--force is given (a 64-px split scored with the 96-px bundled model once gave 0.27 / 0.00 without a word)."""

from dreamlite.shapes.cli import main


def test_a_foreign_item_size_is_refused_in_one_line(tmp_path, capsys):
    items = tmp_path / "items64"
    assert main(["shapes", "render", "--out", str(items), "--count", "1", "--size", "64"]) == 0
    capsys.readouterr()
    assert main(["eval", "shapes", "--model", "shapes-base", "--items", str(items), "--out",
                 str(tmp_path / "out"), "--limit", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "64x64 px" in err and "native at 96x96 px" in err and "--force" in err
    assert not (tmp_path / "out" / "scores.json").exists()


def test_force_runs_anyway_with_a_warning_and_the_native_size_runs_silently(tmp_path, capsys, tiny_model_dir):
    items = tmp_path / "items32"  # the tiny model is native at 128 px
    assert main(["shapes", "render", "--out", str(items), "--count", "1", "--size", "32", "--tasks", "generation"]) == 0
    capsys.readouterr()
    args = ["eval", "shapes", "--model", str(tiny_model_dir), "--items", str(items), "--limit", "1", "--steps", "1"]
    assert main([*args, "--out", str(tmp_path / "forced"), "--force"]) == 0
    err = capsys.readouterr().err
    assert "warning: items in" in err and "native at 128x128 px" in err and "running anyway" in err
    assert (tmp_path / "forced" / "scores.json").is_file()


def test_items_at_the_native_size_pass_the_check(tmp_path):
    from types import SimpleNamespace

    from dreamlite.shapes.cli import _check_native_size

    items = tmp_path / "items96"
    assert main(["shapes", "render", "--out", str(items), "--count", "1", "--size", "96", "--tasks", "generation"]) == 0
    args = SimpleNamespace(items=str(items), model="m", force=False)
    assert _check_native_size(args, SimpleNamespace(default_size=96)) == 0
    assert _check_native_size(args, SimpleNamespace(default_size=128)) == 2
