"""Sampling in the benchmarks' layouts with a tiny random DreamLite: one process, two (torchrun, gloo on CPU)
and a killed-then-resumed CLI run write the same images; ImgEdit and GEdit layouts, judged through the CLI."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from PIL import Image

from dreamlite import DreamLite
from dreamlite.evals import gedit
from dreamlite.evals.editing import EditProtocol
from dreamlite.evals.geneval.layout import check_layout
from dreamlite.evals.identity import sha256_file
from dreamlite.evals.geneval.sampling import GenEvalProtocol, geneval_jobs, read_metadata, write_metadata
from dreamlite.evals.shard import Shard, run_jobs

from .test_evals_judges import FakeChatServer, answer, imgedit_data

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    {"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"},
    {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"},
    {"tag": "counting", "include": [{"class": "cat", "count": 2}], "exclude": [{"class": "cat", "count": 3}],
     "prompt": "a photo of two cats"},
    {"tag": "position", "include": [{"class": "dog", "count": 1},
                                    {"class": "cat", "count": 1, "position": ["left of", 0]}],
     "prompt": "a photo of a cat left of a dog"},
]
SAMPLES = 2


def env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def geneval_args(model, prompts, out):
    return ["-m", "dreamlite.cli", "eval", "geneval", "--model", str(model), "--prompts", str(prompts),
            "--out", str(out), "--size", "32", "--steps", "2", "--samples", str(SAMPLES)]


def run(args, timeout=240):
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=env(), capture_output=True, text=True,
                            timeout=timeout, start_new_session=True)
    assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def finished(root: Path) -> list[Path]:
    """The images in place; pathlib's glob also matches the dot-named temporary files of a write in progress."""
    return sorted(p for p in root.glob("*/samples/*.png") if not p.name.startswith("."))


def images(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in finished(root)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_geneval_one_process_two_processes_and_a_resumed_run_agree(tmp_path, tiny_model_dir):
    prompts = tmp_path / "evaluation_metadata.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    total = len(PROMPTS) * SAMPLES

    one = tmp_path / "one"  # one process, in this one
    records = read_metadata(prompts)
    write_metadata(one, records)
    model = DreamLite.from_pretrained(tiny_model_dir, device="cpu")
    protocol = GenEvalProtocol(samples=SAMPLES, size=32, steps=2)
    assert protocol.seeds() == [2024, 2025]
    assert run_jobs(geneval_jobs(model, records, one, protocol), Shard()) == (total, 0)
    assert check_layout(one, records, SAMPLES) == {"prompts": 4, "images": total}
    reference = images(one)
    assert len(set(reference.values())) == total  # every prompt and seed gives its own image

    two = tmp_path / "two"
    out = run(["-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(free_port()), *geneval_args(tiny_model_dir, prompts, two)])
    assert "process 0/2: wrote 4 images" in out and "process 1/2: wrote 4 images" in out
    assert images(two) == reference

    resumed = tmp_path / "resumed"
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen([sys.executable, *geneval_args(tiny_model_dir, prompts, resumed)], cwd=REPO, env=env(),
                            stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 180
    while len(finished(resumed)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    exit_code = proc.poll()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    kept = len(finished(resumed))
    assert exit_code is None and 2 <= kept < total, (
        f"the run should have been killed midway: {kept} of {total} images, exit {exit_code}\n"
        f"{(tmp_path / 'killed.log').read_text()[-2000:]}")
    out = run(geneval_args(tiny_model_dir, prompts, resumed))
    assert f"wrote {total - kept} images, kept {kept} already there" in out
    assert "layout ok: 4 prompt folders, 8 images" in out
    assert images(resumed) == reference
    assert not list(resumed.glob("*/samples/.*"))  # no temporary file is left behind


def test_imgedit_through_the_cli_with_an_endpoint_judge(tmp_path, tiny_model_dir):
    data = tmp_path / "data"
    items = imgedit_data(data, {"1": ("make it red", "adjust"), "2": ("add a hat", "add")})
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatServer)
    FakeChatServer.replies, FakeChatServer.requests = [(200, answer(4, 4, 5)), (200, answer(2, 3, 4))], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "edited"
        stdout = run(["-m", "dreamlite.cli", "eval", "imgedit", "--model", str(tiny_model_dir), "--data", str(data),
                      "--out", str(out), "--size", "32", "--steps", "2", "--judge",
                      f"http://127.0.0.1:{server.server_address[1]}/v1", "--judge-model", "gpt-4o"])
    finally:
        server.shutdown()
        server.server_close()
    for item in items:  # {key}.png, resized back to the source's size
        assert Image.open(out / f"{item['key']}.png").size == (24, 16)
    scores = json.loads((out / "scores.json").read_text())
    assert scores["types"]["adjust"]["score"] == 4.33 and scores["types"]["add"]["score"] == 3.0
    assert scores["judge"]["id"] == "gpt-4o" and scores["judge"]["reported_model"] == "served-judge-2025"
    assert "ImgEdit overall 3.665" in stdout
    assert (out / "grid.png").is_file() and (out / "result.json").is_file()
    sampling = json.loads((out / "sampling.json").read_text())
    assert sampling["protocol"] == {"size": 32, "guidance": 3.5, "image_guidance": 1.0, "seed": 42, "steps": 2}
    assert sampling["inputs"]["basic_edit.json"] == sha256_file(data / "basic_edit.json")


def test_gedit_layout_and_resume(tmp_path, tiny_model_dir):
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (40, 24), (200, 30, 30)).save(data / "src.png")
    rows = [{"key": "k1", "task_type": "color_alter", "instruction": "make it blue", "instruction_language": "en",
             "image": "src.png"},
            {"key": "k2", "task_type": "subject-add", "instruction": "add a ball", "instruction_language": "en",
             "image": "src.png"}]
    (data / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = gedit.read_items(data)
    model = DreamLite.from_pretrained(tiny_model_dir, device="cpu")
    out = tmp_path / "out"
    jobs = gedit.edit_jobs(model, items, out, EditProtocol(size=32, steps=2))
    assert run_jobs(jobs, Shard()) == (2, 0)
    first = out / "fullset" / "color_alter" / "en" / "k1.png"
    assert Image.open(first).size == (40, 24)
    before = first.read_bytes()
    first.unlink()
    assert run_jobs(jobs, Shard()) == (1, 1)  # only the missing image is made again, identically
    assert first.read_bytes() == before
    assert run_jobs(jobs, Shard(rank=1, world=2)) == (0, 1)  # rank 1 of 2 owns the second item only
