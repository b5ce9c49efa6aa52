"""The FastAPI application: the page, the JSON API and the result files, on one port.

FastAPI (with uvicorn) rather than gradio: the API is a contract of its own (A1111/ComfyUI-style jobs, progress
as server-sent events, cancel), which gradio's queue API does not give in that shape, and a small page of our own
loads nothing from outside. `/docs` and `/redoc` are off because they load assets from a CDN; `/openapi.json`
stays.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image

from ..pipeline import InputError
from . import metadata
from .jobs import Job, Worker
from .requests import EditRequest, GenerateRequest, InspectRequest, Limits, RequestError, check_sampling, decode_image

STATIC = Path(__file__).parent / "static"
FILE_NAME = re.compile(r"^[0-9a-f]{32}-\d+\.png$")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
FINAL = ("done", "failed", "cancelled")


def create_app(pipe, model_name: str, out_dir: str | Path, limits: Limits = Limits(), preview_every: int = 4) -> FastAPI:
    """The app for one loaded pipeline. Results are written to, and served only from, `out_dir`."""
    out_dir = Path(out_dir).resolve()
    worker = Worker(pipe, model_name, out_dir, preview_every)
    app = FastAPI(title="dreamlite", version="1", docs_url=None, redoc_url=None,
                  description="Generate and edit images with a DreamLite model; jobs are queued.")
    app.state.worker = worker
    defaults = pipe_defaults(pipe, model_name, limits)

    @app.exception_handler(RequestError)
    async def refused(_, err: RequestError):
        return JSONResponse({"error": str(err)}, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid")
        return JSONResponse({"error": message.replace("Value error, ", ""), "detail": jsonable(err.errors())},
                            status_code=422)

    def file_url(name: str) -> str:
        return f"/files/{name}"

    def job_or_404(job_id: str) -> Job:
        job = worker.jobs.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    def queue_job(task: str, req: GenerateRequest, source=None, parent=None) -> dict:
        check_sampling(req, limits, defaults["size_multiple"])
        width, height = req.width, req.height
        if width is None or height is None:
            width, height = default_size(pipe, source, width, height)
        params = {"prompt": req.prompt, "seed": req.seed if req.seed is not None else fresh_seed(),
                  "steps": req.steps or defaults["steps"], "guidance": req.guidance, "num_images": req.num_images,
                  "width": width, "height": height, "negative_prompt": req.negative_prompt}
        if task == "edit":
            params["image_guidance"] = req.image_guidance
        try:  # the pipeline's own checks, before the job is queued
            pipe._check_size(height, width)
        except InputError as err:
            raise RequestError(str(err)) from None
        job = worker.submit(Job(task, params, source=source, parent_sha256=parent))
        return {"id": job.id, "seed": params["seed"]}

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/model", summary="the loaded model, its defaults and the server's limits")
    async def model():
        return defaults

    @app.post("/api/generate", summary="queue a text-to-image job")
    async def generate(req: GenerateRequest):
        return queue_job("generate", req)

    @app.post("/api/edit", summary="queue an editing job on a base64 PNG or JPEG")
    async def edit(req: EditRequest):
        source, raw = decode_image(req.image, limits)
        return queue_job("edit", req, source, metadata.sha256(raw))

    @app.post("/api/inspect", summary="the generation parameters stored in a PNG")
    async def inspect(req: InspectRequest):
        _, raw = decode_image(req.image, limits)
        return {"params": metadata.read_params(Image.open(io.BytesIO(raw)))}

    @app.get("/api/jobs", summary="every job of this server, newest first")
    async def jobs():
        return [j.summary(file_url) for j in sorted(worker.jobs.values(), key=lambda j: -j.created)]

    @app.get("/api/jobs/{job_id}", summary="a job's state, step and total, and its images when done")
    async def job(job_id: str):
        return job_or_404(job_id).summary(file_url)

    @app.post("/api/jobs/{job_id}/cancel", summary="cancel a queued or running job")
    async def cancel(job_id: str):
        job = job_or_404(job_id)
        if job.state not in FINAL:
            worker.cancel(job)
        return job.summary(file_url)

    @app.get("/api/jobs/{job_id}/events", summary="server-sent events: queued, running, progress (with "
             "previews), then done, failed or cancelled")
    async def events(job_id: str, request: Request):
        job = job_or_404(job_id)

        async def stream():
            sent = 0
            while True:
                while sent < len(job.events):
                    event = dict(job.events[sent])
                    sent += 1
                    name = event.pop("event")
                    if name in FINAL:
                        event = job.summary(file_url)
                    yield f"event: {name}\ndata: {json.dumps(event)}\n\n"
                    if name in FINAL:
                        return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.get("/files/{name}", summary="a result PNG")
    async def files(name: str):
        path = out_dir / name
        if not FILE_NAME.match(name) or not path.is_file():
            raise HTTPException(404, f"no file {name!r}")
        return FileResponse(path, media_type="image/png")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def pipe_defaults(pipe, model_name: str, limits: Limits) -> dict:
    from ..pipeline import DEFAULTS

    d = DEFAULTS[pipe.variant]
    return {"model": model_name, "variant": pipe.variant, "steps": d["steps"], "guidance": d["guidance_scale"],
            "image_guidance": d["image_guidance_scale"], "size": pipe.default_size,
            "size_multiple": pipe.size_multiple, "max_side": limits.max_side, "max_images": limits.max_images,
            "max_steps": limits.max_steps, "max_upload_pixels": limits.max_upload_pixels}


def default_size(pipe, source, width, height) -> tuple[int, int]:
    """The model's native size; for an edit, the source's aspect with its longer side at that size."""
    size, m = pipe.default_size, pipe.size_multiple
    if source is None:
        return width or size, height or size
    scale = size / max(source.width, source.height)
    return (width or max(m, int(source.width * scale) // m * m),
            height or max(m, int(source.height * scale) // m * m))


def fresh_seed() -> int:
    import secrets

    return secrets.randbelow(2**31)


def jsonable(errors: list) -> list:
    return json.loads(json.dumps(errors, default=str))
