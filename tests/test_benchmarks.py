"""Benchmark scripts kept in the repository still run (tiny inputs: what they print is checked, not timed)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True,
                            text=True, timeout=timeout, check=False,
                            env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_edit_source_use_reports_the_three_conditions_and_the_split_by_cell(tiny_model_dir):
    result = run_benchmark("edit_source_use.py", str(tiny_model_dir), "--items", "2", "--times", "0.5,0.9")
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("0.")]
    assert [row[0] for row in rows] == ["0.50", "0.90"]
    assert all(len(row) == 7 and all(float(v) >= 0 for v in row[1:4]) for row in rows)
    assert all(v == "nan" or float(v) >= 0 for row in rows for v in row[4:])
    assert "kept obj" in result.stdout and "% changed" in result.stdout


def test_prompt_binding_reports_the_encoder_and_the_loss_gap(tiny_model_dir):
    result = run_benchmark("prompt_binding.py", str(tiny_model_dir), "--items", "3", "--readout-prompts", "40",
                           "--readout-steps", "20", "--losses", timeout=300)
    values = {k.strip(): v for k, v in (line.split(":", 1) for line in result.stdout.splitlines()
                                         if ":" in line and "U-Net" not in line)}
    assert {"colour swap", "relation swap", "image change"} <= set(values)
    assert all(0 <= float(values[f"readout {c}"]) <= 1 for c in ("color_attr", "position"))
    assert all(float(values[k].split("/")[0]) >= 0 for k in values)
    assert set(values) & {"color_attr", "position"}  # the loss-gap rows


def test_edit_attention_weights_are_the_ones_the_layer_uses():
    """With one head, the layer's output is exactly its output projection of (weights @ values)."""
    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from edit_attention import attention_probabilities

    from dreamlite.models.layers import Attention, in_context_position_code

    torch.manual_seed(0)
    layer = Attention(16, heads=1, kv_heads=1, qk_norm="rms_norm").eval()
    x = torch.randn(2, 12, 16)
    for position in (None, in_context_position_code(2, 6, 16)):
        probs = attention_probabilities(layer, x, position)
        assert torch.allclose(probs.sum(-1), torch.ones(2, 12))
        expected = layer.to_out[0](probs @ layer.to_v(x))
        assert torch.allclose(layer(x, position=position), expected, atol=1e-5)


def test_edit_attention_reports_every_self_attention_layer(tiny_model_dir):
    result = run_benchmark("edit_attention.py", str(tiny_model_dir), "--items", "3", "--times", "0.5")
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(" 0.5")]
    assert rows and all(row[1].endswith(".attn1") and len(row) == 7 for row in rows)
    for row in rows:
        source, same, uniform, top = (float(v) for v in row[3:])
        assert 0 <= same <= source <= 1 and 0 < uniform < 1 and 0 <= top <= 1


def test_edit_pool_split_draws_the_training_pool_and_the_items_past_it(tmp_path):
    import json

    from dreamlite.shapes.dataset import TASK_CATEGORIES
    from dreamlite.shapes.layout import read_index
    from dreamlite.shapes.score import score_record
    from dreamlite.train.data.shapes import ShapesSource, ShapesSpec

    pool, fresh = tmp_path / "pool", tmp_path / "fresh"
    run_benchmark("edit_pool_split.py", "--count", "1", "--items", "400", "--size", "64", "--out", str(pool),
                  str(fresh))
    source = ShapesSource(ShapesSpec(size=64, items=400), "edit", 0)
    for folder, inside in ((pool, True), (fresh, False)):
        records = [json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines()]
        assert sorted(r["category"] for r in records) == sorted(TASK_CATEGORIES["edit"])  # one of each
        for record in records:
            k = int(record["id"].rsplit("-", 1)[1])
            assert (k < 400) == inside
            assert record["prompt"] == source.item(k)["prompt"]  # the very item the training stream gives
        # the ground-truth targets pass: the specs are the ones the scorer judges these items by
        assert all(score_record(r, folder).passed for r in read_index(folder))
