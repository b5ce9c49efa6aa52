"""`dreamlite shapes render` and `dreamlite eval shapes`, run through dreamlite.shapes.cli."""

import argparse
import json
import subprocess
import sys

import pytest
from PIL import Image

from dreamlite.shapes.cli import main, register
from dreamlite.shapes.layout import read_index


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "eval"
    assert main(["shapes", "render", "--split", "eval", "--out", str(out), "--count", "2"]) == 0
    return out


def test_render_writes_the_documented_layout(rendered):
    records = read_index(rendered)
    assert len(records) == 2 * 15
    for record in records:
        assert {"id", "task", "category", "prompt", "image", "spec"} <= set(record)
        assert (rendered / record["image"]).is_file()
        assert record["task"] == "generation" or (rendered / record["source"]).is_file()


def test_render_is_reproducible_and_seed_makes_another_split(tmp_path, rendered):
    assert main(["shapes", "render", "--out", str(tmp_path / "again"), "--count", "2"]) == 0
    assert (tmp_path / "again" / "index.jsonl").read_text() == (rendered / "index.jsonl").read_text()
    assert main(["shapes", "render", "--out", str(tmp_path / "other"), "--count", "2", "--seed", "9",
                 "--tasks", "generation", "--size", "96"]) == 0
    other = read_index(tmp_path / "other")
    assert len(other) == 12 and {r["width"] for r in other} == {96}
    assert [r["prompt"] for r in other] != [r["prompt"] for r in read_index(rendered)][:12]


def test_eval_images_prints_a_table_and_writes_json(rendered, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main(["eval", "shapes", "--images", str(rendered), "--json", str(out)]) == 0
    assert "| generation | counting |" in capsys.readouterr().out
    scores = json.loads(out.read_text())
    assert set(scores) == {"generation", "editing", "editing_kept", "editing_applied", "overall"}
    assert scores["overall"] == 1.0 and scores["editing"]["move"] == 1.0 and scores["editing_kept"]["move"] == 1.0


@pytest.mark.parametrize("argv,message", [
    (["eval", "shapes", "--images", "/nonexistent/dir"], "index.jsonl not found"),
    (["eval", "shapes", "--model", "whatever"], "--model needs --out"),
    (["eval", "shapes", "--model", "/nonexistent/model", "--out", "/tmp/x", "--items", "/nonexistent"], "no index.jsonl"),
])
def test_bad_input_gives_one_line_and_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_eval_images_limit_scores_the_first_items_of_each_category(rendered, tmp_path):
    import shutil

    split = tmp_path / "split"
    shutil.copytree(rendered, split)
    for record in read_index(split):  # only each category's first item keeps its ground-truth image
        if not record["id"].endswith("-0000"):
            Image.new("RGB", (record["width"], record["height"]), (245, 245, 245)).save(split / record["image"])
    whole, first = tmp_path / "whole.json", tmp_path / "first.json"
    assert main(["eval", "shapes", "--images", str(split), "--json", str(whole)]) == 0
    assert main(["eval", "shapes", "--images", str(split), "--limit", "1", "--json", str(first)]) == 0
    assert json.loads(first.read_text())["overall"] == 1.0
    assert json.loads(whole.read_text())["generation"]["overall"] == 0.5


def test_missing_or_broken_images_are_reported(rendered, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "index.jsonl").write_text((rendered / "index.jsonl").read_text())
    assert main(["eval", "shapes", "--images", str(broken)]) == 2
    assert "are missing" in capsys.readouterr().err
    (broken / "index.jsonl").write_text("{not json\n")
    assert main(["eval", "shapes", "--images", str(broken)]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_register_adds_both_commands_to_a_parser():
    parser = argparse.ArgumentParser(prog="dreamlite")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", "shapes", "--images", "somewhere"])
    assert callable(args.func) and args.images == "somewhere"
    args = parser.parse_args(["shapes", "render", "--out", "x"])
    assert callable(args.func) and args.count == 64 and args.split == "eval"


def test_module_runs_standalone(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dreamlite.shapes.cli", "shapes", "render", "--out",
                             str(tmp_path), "--count", "1", "--tasks", "editing"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(read_index(tmp_path)) == 9
    result = subprocess.run([sys.executable, "-m", "dreamlite.shapes.cli", "shapes", "render", "--out",
                             str(tmp_path), "--count", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
