"""Jobs: a queue and one worker thread per loaded model. Each job records its progress as a list of events
(read by the server-sent-event stream) and stops within one denoising step when cancelled."""

from __future__ import annotations

import base64
import io
import queue
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..images import to_pil
from . import metadata

STATES = ("queued", "running", "done", "failed", "cancelled")
PREVIEW_SIDE = 256  # previews are scaled down to at most this many pixels a side


class Cancelled(Exception):
    """Raised from the step callback to stop a cancelled job."""


@dataclass
class Job:
    task: str  # "generate" or "edit"
    params: dict  # what the pipeline is called with, besides the source image
    source: object = None  # PIL image for edits
    parent_sha256: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "queued"
    step: int = 0
    total: int = 0
    error: str | None = None
    files: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    events: list[dict] = field(default_factory=list)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    def emit(self, event: str, **data) -> None:
        self.events.append({"event": event, **data})

    def summary(self, file_url) -> dict:
        return {"id": self.id, "task": self.task, "state": self.state, "step": self.step, "total": self.total,
                "error": self.error, "params": self.params, "parent_sha256": self.parent_sha256,
                "images": [file_url(f) for f in self.files], "sha256": self.hashes, "created": self.created,
                "finished": self.finished}


class Worker:
    """Runs jobs one at a time on one pipeline; outputs go to `out_dir` as `<job>-<n>.png`."""

    def __init__(self, pipe, model_name: str, out_dir: Path, preview_every: int = 4):
        self.pipe, self.model_name, self.out_dir = pipe, model_name, Path(out_dir)
        self.preview_every = preview_every
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()  # guards the queued -> running / cancelled transition
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"dreamlite-worker-{model_name}", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Job:
        job.total = job.params["steps"]
        self.jobs[job.id] = job
        job.emit("queued", position=self.queue.qsize())
        self.queue.put(job)
        return job

    def cancel(self, job: Job) -> None:
        with self.lock:
            job.cancel_requested.set()
            if job.state == "queued":  # the worker skips it when it comes up
                self._finish(job, "cancelled")

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            with self.lock:
                if job.state != "queued":
                    continue
                job.state = "running"
            job.emit("running")
            try:
                self._sample(job)
            except Cancelled:
                self._finish(job, "cancelled")
            except Exception as err:  # a failed job is reported; the worker keeps serving
                traceback.print_exc()
                job.error = f"{type(err).__name__}: {err}"
                self._finish(job, "failed", error=job.error)

    def _sample(self, job: Job) -> None:
        pipe, p = self.pipe, job.params

        def on_step(i: int, x: torch.Tensor) -> None:
            if job.cancel_requested.is_set():
                raise Cancelled
            job.step = i + 1
            event = {"step": job.step, "total": job.total}
            if job.step < job.total and job.step % self.preview_every == 0:
                event["preview"] = self._preview(x)
            job.emit("progress", **event)

        common = dict(height=p["height"], width=p["width"], steps=p["steps"], guidance_scale=p["guidance"],
                      seed=p["seed"], num_images=p["num_images"], negative_prompt=p["negative_prompt"],
                      callback=on_step)
        if job.task == "generate":
            images = pipe.generate(p["prompt"], **common)
        else:
            images = pipe.edit(job.source, p["prompt"], image_guidance_scale=p["image_guidance"], **common)
        for n, image in enumerate(images):
            stored = {"model": self.model_name, "task": job.task, **p, "index": n,
                      "parent_sha256": job.parent_sha256}
            data = metadata.png_bytes(image, stored)
            name = f"{job.id}-{n}.png"
            (self.out_dir / name).write_bytes(data)
            job.files.append(name)
            job.hashes.append(metadata.sha256(data))
        self._finish(job, "done")

    def _preview(self, latents: torch.Tensor) -> str:
        """The current latents of the first image through the (tiny) VAE decoder, as a PNG data URL."""
        decoded = self.pipe.vae.decode(latents[:1].to(self.pipe.dtype)).sample
        image = to_pil(decoded)[0]
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    def _finish(self, job: Job, state: str, **data) -> None:
        job.state, job.finished = state, time.time()
        job.emit(state, **data)
