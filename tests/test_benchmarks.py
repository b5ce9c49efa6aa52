"""Benchmark scripts kept in the repository still run (tiny inputs: what they print is checked, not timed)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_edit_source_use_reports_the_three_conditions_and_the_split_by_cell(tiny_model_dir):
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "edit_source_use.py"), str(tiny_model_dir),
                             "--items", "2", "--times", "0.5,0.9"], capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("0.")]
    assert [row[0] for row in rows] == ["0.50", "0.90"]
    assert all(len(row) == 7 and all(float(v) >= 0 for v in row[1:4]) for row in rows)
    assert all(v == "nan" or float(v) >= 0 for row in rows for v in row[4:])
    assert "kept obj" in result.stdout and "% changed" in result.stdout


def test_prompt_binding_reports_the_encoder_and_the_loss_gap(tiny_model_dir):
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "prompt_binding.py"), str(tiny_model_dir),
                             "--items", "3", "--readout-prompts", "40", "--readout-steps", "20",
                             "--losses"], capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    values = {k.strip(): v for k, v in (line.split(":", 1) for line in result.stdout.splitlines()
                                         if ":" in line and "U-Net" not in line)}
    assert {"colour swap", "relation swap", "image change"} <= set(values)
    assert all(0 <= float(values[f"readout {c}"]) <= 1 for c in ("color_attr", "position"))
    assert all(float(values[k].split("/")[0]) >= 0 for k in values)
    assert set(values) & {"color_attr", "position"}  # the loss-gap rows
