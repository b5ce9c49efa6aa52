"""A disk cache of VAE latents and prompt embeddings for finite sources.

At full scale the 2B prompt encoder should run once per item, not once per step; on a CPU the tiny encoder's edit
mode (which looks at the source image at 512x512) costs more than a U-Net step. Before a stage trains, every item
of each cached source is encoded at each bucket it trains at: target and source latents, the prompt's
embedding and (edit, unless `empty_edit: false`) the empty instruction's embedding with the same image, which
condition dropout needs (without it, dropped edit samples are encoded on the fly).

Layout: `<dir>/<source>-<models>/<W>x<H>/shard-00000.safetensors`, each shard holding items
[k * SHARD, (k + 1) * SHARD) of that bucket as tensors named `<index>.<field>`. A shard is written to a temporary
name and renamed, so a killed run leaves only complete shards; processes split the shards between them. The
folder name hashes the source and the VAE, prompt encoder and tokenizer files, so a cache is reused across runs
and stages exactly when its inputs are the same.

With `workers: N` each training process hands the prompt half of its shards to N CPU worker processes (one
thread each, the prompt encoder loaded from the stage's input folder in float32) and runs the VAE itself, on the
training device: on a GPU machine the CPU cores are idle while the small prompt encoder's per-item calls would
keep the GPU waiting on launches, and a VAE on a CPU core is slow.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .base import fit
from .buckets import bucket_items

SHARD = 256
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def models_key(folder: Path) -> str:
    """Hash of the frozen parts of a pipeline folder (size and first 16 MiB of each weight/tokenizer file)."""
    digest = hashlib.sha256()
    for part in ("vae", "text_encoder", "tokenizer"):
        for path in sorted((folder / part).glob("*")):
            if path.suffix in (".safetensors", ".json"):
                digest.update(f"{part}/{path.name}:{path.stat().st_size}".encode())
                with open(path, "rb") as f:
                    digest.update(f.read(16 << 20))
    return digest.hexdigest()[:16]


class SourceCache:
    """Cached items of one source: `load(index, bucket)` -> latents and embeddings, in the cache's dtype.

    A shard is read whole on its first use and kept in memory (a large batch touches most shards every step, and
    a per-item read from the file costs more than the GPU step of a small model), until `memory_bytes` are held;
    shards beyond that are read item by item from the file, so a cache larger than memory still works."""

    FIELDS = ("latent", "source_latent", "embeds", "empty_embeds")

    def __init__(self, folder: Path, sizes: list[tuple[int, int]], memory_bytes: int = 4 << 30):
        self.folder, self.sizes, self.memory_bytes = folder, sizes, memory_bytes
        self._shards: dict[tuple[int, int], dict[str, torch.Tensor]] = {}  # (bucket, shard) -> read whole
        self._handles: dict[tuple[int, int], tuple] = {}  # (bucket, shard) -> (safe_open handle, its keys)
        self._resident = 0

    def shard_path(self, bucket: int, shard: int) -> Path:
        width, height = self.sizes[bucket]
        return self.folder / f"{width}x{height}" / f"shard-{shard:05d}.safetensors"

    def load(self, index: int, bucket: int) -> dict:
        key = (bucket, index // SHARD)
        shard = self._shards.get(key)
        if shard is None and key not in self._handles:
            path = self.shard_path(*key)
            size = path.stat().st_size
            if self._resident + size <= self.memory_bytes:
                shard = self._shards[key] = load_file(str(path))
                self._resident += size
            else:
                handle = safe_open(str(path), framework="pt")
                self._handles[key] = (handle, set(handle.keys()))  # keys() builds a list on every call
        if shard is None:
            handle, keys = self._handles[key]
            shard = {name: handle.get_tensor(name) for name in (f"{index}.{f}" for f in self.FIELDS) if name in keys}
        return {f: shard[f"{index}.{f}"] for f in self.FIELDS if f"{index}.{f}" in shard}

    def __getstate__(self):  # DataLoader workers read their own copies
        return {**self.__dict__, "_shards": {}, "_handles": {}, "_resident": 0}


@torch.no_grad()
def encode_shard_prompts(source, indices, size: tuple[int, int], conditioner, empty_edit: bool
                         ) -> tuple[dict, dict]:
    """The prompt half of a shard: its embeddings by tensor name, and its fitted images as uint8 (N, H, W, 3)
    arrays under "target" (and "source" for edits), for the VAE."""
    tensors, images = {}, {"target": [], "source": []}
    edit = source.task == "edit"
    for index in (int(i) for i in indices):
        item = source.item(index)
        images["target"].append(np.asarray(fit(item["target"], *size), dtype=np.uint8))
        if edit:
            images["source"].append(np.asarray(fit(item["source"], *size), dtype=np.uint8))
            tensors[f"{index}.embeds"] = conditioner.edit(item["prompt"], item["source"])
            if empty_edit:
                tensors[f"{index}.empty_embeds"] = conditioner.edit(None, item["source"])
        else:
            tensors[f"{index}.embeds"] = conditioner.generate(item["prompt"])
    # Own storage: a row is a slice of the encoder's padded output (pickling a slice to the trainer would send all
    # of it), and LRU hits are one tensor under several names.
    tensors = {k: v.to(device="cpu", copy=True) for k, v in tensors.items()}
    return tensors, {k: np.stack(v) for k, v in images.items() if v}


@torch.no_grad()
def write_shard(path: Path, indices, tensors: dict, images: dict, conditioner, dtype) -> None:
    """Add the VAE latents of `images` to `tensors` and write the shard (temporary name, then rename)."""
    indices = [int(i) for i in indices]
    for name, field in (("target", "latent"), ("source", "source_latent")):
        if name not in images:
            continue
        for start in range(0, len(indices), 32):
            chunk = torch.from_numpy(images[name][start:start + 32])
            pixels = (chunk.float() / 255.0).permute(0, 3, 1, 2) * 2.0 - 1.0  # as `to_pixels`
            for index, latent in zip(indices[start:start + 32], conditioner.latents(pixels)):
                tensors[f"{index}.{field}"] = latent
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    save_file({k: v.to(device="cpu", dtype=dtype, copy=True).contiguous() for k, v in tensors.items()}, tmp)
    os.replace(tmp, path)


def fill_shard(path: Path, source, indices, size: tuple[int, int], conditioner, dtype, empty_edit: bool) -> None:
    tensors, images = encode_shard_prompts(source, indices, size, conditioner, empty_edit)
    write_shard(path, indices, tensors, images, conditioner, dtype)


# CPU workers for the prompt half of shards. One pool serves every stage of a run (starting a process that
# imports torch and transformers costs seconds); each worker keeps the prompt encoder it last loaded.
_pool: tuple[int, object] | None = None  # (processes, multiprocessing pool)
_worker_conditioner: tuple[str, object] | None = None  # (models key, prompt-only Conditioner)


def _start_worker() -> None:
    torch.set_num_threads(1)


def _worker_prompts(job) -> tuple[int, dict, dict]:
    global _worker_conditioner
    number, source, indices, size, folder, key, empty_edit = job
    if _worker_conditioner is None or _worker_conditioner[0] != key:
        from ...loading import quiet_libraries, read_json
        from ...text import load_prompt_encoder
        from ..encode import Conditioner

        with quiet_libraries():
            encoder = load_prompt_encoder(Path(folder), read_json(Path(folder) / "model_index.json"))
        _worker_conditioner = (key, Conditioner(None, encoder, torch.device("cpu"), torch.float32, cache_size=0))
    tensors, images = encode_shard_prompts(source, indices, size, _worker_conditioner[1], empty_edit)
    # numpy arrays travel by value; torch tensors would go as shared memory, one file descriptor per row, and a
    # shard of them can pass the open-file limit (the worker then fails to send, and the pool waits for ever)
    return number, {k: v.numpy() for k, v in tensors.items()}, images


def worker_pool(workers: int):
    global _pool
    if _pool is None or _pool[0] != workers:
        import multiprocessing

        close_worker_pool()
        context = multiprocessing.get_context("spawn")  # no fork of a process holding CUDA or OpenMP threads
        _pool = (workers, context.Pool(workers, initializer=_start_worker))
    return _pool[1]


def close_worker_pool() -> None:
    global _pool
    if _pool is not None:
        _pool[1].terminate()
        _pool[1].join()
        _pool = None


def fill_shards(jobs: list, conditioner, dtype, empty_edit: bool, workers: int, folder: Path, desc: str,
                show: bool) -> None:
    """Write every (path, source, indices, size) shard. With `workers`, CPU processes encode the prompts while
    this process renders nothing and runs only the VAE (on the training device)."""
    if not jobs:
        return
    bar = tqdm(total=len(jobs), desc=desc, unit="shard", disable=not show)
    if workers <= 0:
        for path, source, indices, size in jobs:
            fill_shard(path, source, indices, size, conditioner, dtype, empty_edit)
            bar.update(1)
    else:
        key = models_key(folder)
        work = [(n, source, indices, size, str(folder), key, empty_edit)
                for n, (_, source, indices, size) in enumerate(jobs)]
        for number, arrays, images in worker_pool(workers).imap_unordered(_worker_prompts, work):
            tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
            write_shard(jobs[number][0], jobs[number][2], tensors, images, conditioner, dtype)
            bar.update(1)
    bar.close()


def prepare_caches(accelerator, recipe, plan, conditioner, out: Path, say, input_folder: Path) -> dict:
    """Fill (or reuse) the caches of this stage's sources; returns {plan source index: SourceCache}."""
    spec = recipe.run.cache
    root = Path(spec.dir).expanduser() if spec.dir else out / "cache"
    key = models_key(input_folder)
    dtype = DTYPES[spec.dtype]
    caches = {}
    for i, (name, source) in enumerate(zip(plan.names, plan.sources)):
        if not source.finite or (spec.sources is not None and name not in spec.sources):
            continue
        extra = "" if spec.empty_edit or source.task != "edit" else "-noempty"
        cache = SourceCache(root / f"{name}-{source.task}-{source.fingerprint()}-{key}{extra}", plan.sizes,
                            int(spec.memory_gb * 2**30))
        jobs = []
        for bucket, indices in sorted(bucket_items(source, plan.sizes, out / "cache" / "buckets").items()):
            for shard in np.unique(indices // SHARD):
                path = cache.shard_path(bucket, int(shard))
                if not path.is_file():
                    mine = indices[(indices >= shard * SHARD) & (indices < (shard + 1) * SHARD)]
                    jobs.append((path, mine, plan.sizes[bucket]))
        if jobs:
            say(f"caching latents and prompt embeddings of {name} ({source.task}): {len(jobs)} shard(s) in "
                f"{cache.folder}")
        mine = [(path, source, indices, size)
                for path, indices, size in jobs[accelerator.process_index::accelerator.num_processes]]
        fill_shards(mine, conditioner, dtype, spec.empty_edit, spec.workers, input_folder, f"cache {name}",
                    accelerator.is_main_process)
        accelerator.wait_for_everyone()
        caches[i] = cache
    return caches
