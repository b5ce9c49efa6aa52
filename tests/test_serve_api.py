"""`dreamlite serve` over real HTTP on localhost, with the bundled model."""

from __future__ import annotations

import io
import threading

import httpx
import pytest
from PIL import Image

from dreamlite.serve.app import create_app
from dreamlite.serve.metadata import read_params, sha256

from .serve_helpers import Server, b64, events, free_port, png, wait

STEPS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from dreamlite.pipeline import DreamLite

    pipe = DreamLite.from_pretrained("shapes-base")
    out = tmp_path_factory.mktemp("serve-out")
    with Server(create_app(pipe, "shapes-base", out, preview_every=2), free_port()) as s:
        s.out = out
        yield s


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def test_page_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "<textarea id=\"prompt\"" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing loaded from elsewhere
    spec = client.get("/openapi.json").json()
    for path in ("/api/generate", "/api/edit", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events",
                 "/api/jobs/{job_id}/cancel"):
        assert path in spec["paths"]
    assert client.get("/docs").status_code == 404  # it would load a CDN
    model = client.get("/api/model").json()
    assert model["steps"] == 28 and model["guidance"] == 3.5 and model["image_guidance"] == 1.5


def test_generate_then_edit_its_result(client, server):
    job = client.post("/api/generate", json={"prompt": "a red circle", "seed": 3, "steps": STEPS}).json()
    done = wait(client, job["id"])
    assert done["state"] == "done" and done["step"] == STEPS and len(done["images"]) == 1
    data = client.get(done["images"][0]).content
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (96, 96)
    params = read_params(image)
    assert params["prompt"] == "a red circle" and params["seed"] == 3 and params["steps"] == STEPS
    assert params["task"] == "generate" and params["model"] == "shapes-base" and params["parent_sha256"] is None
    assert done["sha256"][0] == sha256(data)
    assert client.post("/api/inspect", json={"image": b64(data)}).json()["params"] == params

    edit = client.post("/api/edit", json={"prompt": "make the circle blue", "image": b64(data), "seed": 1,
                                          "steps": STEPS}).json()
    edited = wait(client, edit["id"])
    assert edited["state"] == "done"
    child = read_params(Image.open(io.BytesIO(client.get(edited["images"][0]).content)))
    assert child["task"] == "edit" and child["parent_sha256"] == sha256(data)
    assert child["image_guidance"] is None  # the model default was used
    ids = [j["id"] for j in client.get("/api/jobs").json()]
    assert job["id"] in ids and edit["id"] in ids


def test_same_seed_same_image_as_the_pipeline(client, server):
    from dreamlite.pipeline import DreamLite

    job = wait(client, client.post("/api/generate", json={"prompt": "two blue squares", "seed": 7,
                                                             "steps": STEPS}).json()["id"])
    served = Image.open(io.BytesIO(client.get(job["images"][0]).content)).convert("RGB")
    direct = DreamLite.from_pretrained("shapes-base").generate("two blue squares", seed=7, steps=STEPS)[0]
    assert served.tobytes() == direct.tobytes()


def test_progress_events_arrive_before_the_result(client):
    job = client.post("/api/generate", json={"prompt": "a green triangle", "steps": 6}).json()
    stream = events(client, job["id"])
    names = [n for n, _ in stream]
    assert names[-1] == "done" and names.count("progress") == 6
    assert names.index("progress") < names.index("done")
    steps = [d["step"] for n, d in stream if n == "progress"]
    assert steps == [1, 2, 3, 4, 5, 6]
    previews = [d["preview"] for n, d in stream if n == "progress" and "preview" in d]
    assert previews and previews[0].startswith("data:image/png;base64,")
    assert stream[-1][1]["images"] and isinstance(job["seed"], int)


def test_cancel_stops_a_job_early(client):
    job = client.post("/api/generate", json={"prompt": "a yellow star", "steps": 200}).json()
    queued = client.post("/api/generate", json={"prompt": "queued behind it", "steps": 200}).json()
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as response:
        for line in response.iter_lines():
            if line == "event: progress":
                break
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert client.post(f"/api/jobs/{queued['id']}/cancel").json()["state"] == "cancelled"
    done = wait(client, job["id"])
    assert done["state"] == "cancelled" and done["step"] < 50 and done["images"] == []
    assert wait(client, queued["id"])["step"] == 0


def bad_requests():
    good = png(Image.new("RGB", (96, 96), "white"))
    huge = png(Image.new("RGB", (4096, 4096), "white"))
    return [
        ("/api/edit", {"prompt": "x", "image": b64(b"not an image at all")}, 422),
        ("/api/edit", {"prompt": "x", "image": "@@not base64@@"}, 422),
        ("/api/edit", {"prompt": "x", "image": b64(good[: len(good) // 2])}, 422),  # truncated
        ("/api/edit", {"prompt": "x", "image": b64(huge)}, 413),
        ("/api/generate", {"prompt": "x", "width": 100, "height": 96}, 422),
        ("/api/generate", {"prompt": "x", "width": 99999}, 422),
        ("/api/generate", {"prompt": "   "}, 422),
        ("/api/generate", {"prompt": ""}, 422),
        ("/api/generate", {"prompt": "x", "steps": 0}, 422),
        ("/api/generate", {"prompt": "x", "steps": 10_000}, 422),
        ("/api/generate", {"prompt": "x", "num_images": 1000}, 422),
        ("/api/generate", {"prompt": "x", "guidance": -1}, 422),
        ("/api/generate", {"prompt": "x", "seed": -5}, 422),
        ("/api/generate", {"steps": 4}, 422),
        ("/api/generate", {"prompt": 5}, 422),
    ]


def test_bad_inputs_get_a_4xx_and_the_server_keeps_serving(client):
    for path, body, status in bad_requests():
        response = client.post(path, json=body)
        assert response.status_code == status, (body.get("image", body)[:40] if "image" in body else body,
                                                response.text)
        assert response.json()["error"]
    assert client.post("/api/generate", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 422
    for path in ("/files/..%2F..%2Fetc%2Fpasswd", "/files/../../etc/passwd", "/files/%2Fetc%2Fpasswd",
                 "/api/jobs/..%2F..", "/api/jobs/nope", "/static/..%2F..%2Fapp.py"):
        assert client.get(path).status_code == 404, path
    job = client.post("/api/generate", json={"prompt": "a red circle", "steps": 2}).json()
    assert wait(client, job["id"])["state"] == "done"


def test_eight_concurrent_requests_all_complete(server):
    results, errors = [], []

    def one(i):
        try:
            with httpx.Client(base_url=server.url, timeout=120) as c:
                job = c.post("/api/generate", json={"prompt": f"{i + 1} red circles", "seed": i, "steps": 2})
                job.raise_for_status()
                results.append(wait(c, job.json()["id"]))
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors and len(results) == 8
    assert all(r["state"] == "done" and len(r["images"]) == 1 for r in results)
    assert len({r["sha256"][0] for r in results}) == 8
