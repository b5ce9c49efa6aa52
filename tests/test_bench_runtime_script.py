"""benchmarks/bench_runtime_unet.py still runs, every path in one run (tiny config: printed rows are checked, not
the times). Slow: run it with `-m slow`."""

import pytest

from .test_benchmarks import run_benchmark


@pytest.mark.slow  # about 80 s on an idle core (three exports, two NNCF runs), minutes under load
def test_bench_runtime_unet_times_every_path(tmp_path):
    result = run_benchmark("bench_runtime_unet.py", "--config", "tiny", "--size", "64", "--runs", "1",
                           "--threads", "1", "--calibration-prompts", "1", "--work", str(tmp_path), timeout=400)
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| path")}
    assert set(rows) == {"diffusers bf16 eager", "dreamlite fast PyTorch (bf16)",
                         "dreamlite OpenVINO fp32 (from_pretrained)", "dreamlite OpenVINO bf16 (from_pretrained)",
                         "dreamlite OpenVINO int8 W8A8 (from_pretrained)", "diffusers OpenVINO bf16",
                         "diffusers OpenVINO W8A8 (NNCF)"}
    assert all(float(v) > 0 for v in rows.values())
    assert (tmp_path / "openvino-int8" / "unet" / "parity.json").is_file()
