"""`dreamlite bench` on a tiny random model: every runtime asked for is timed per component, with peak memory, and
the table and JSON agree."""

import json

from dreamlite.cli import main


def test_bench_runs_on_a_tiny_random_model(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--random-config", "tiny", "--encoder-layers", "1", "--vision-layers", "1", "--size", "64",
                 "--steps", "2", "--task", "edit", "--runtimes", "onnx", "diffusers", "--threads", "1",
                 "--seq-len", "64", "--work", str(tmp_path / "work"), "--json", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    assert results["size"] == "64x64" and results["steps"] == 2 and results["variant"] == "mobile"
    assert [r["runtime"] for r in results["runtimes"]] == ["onnx", "diffusers"]
    for row in results["runtimes"]:
        assert row["unet_calls"] == 2, row  # one call per step (the mobile model has one branch)
        assert all(row["seconds"][k] > 0 for k in ("prompt_encoder", "vae_encode", "unet", "vae_decode")), row
        assert row["end_to_end_s"] >= sum(row["seconds"].values()) * 0.99 and row["peak_rss_mib"] > 100
    assert results["export_seconds"]["onnx"] > 0
    table = capsys.readouterr().out
    assert "| onnx |" in table and "speed-up vs diffusers" in table
