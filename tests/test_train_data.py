"""Data sources (files, WebDataset, Hugging Face, ShapesWorld), buckets and the batch plan."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from dreamlite.train.config import RecipeError
from dreamlite.train.data import build_source
from dreamlite.train.data.base import EpochOrder
from dreamlite.train.data.buckets import bucket_items, nearest_bucket
from dreamlite.train.data.plan import BatchPlan, PlannedBatches, PlannedItems
from dreamlite.train.data.webdataset import expand_braces


def image(width: int, height: int, color) -> Image.Image:
    return Image.new("RGB", (width, height), color)


def png(width: int, height: int, color) -> bytes:
    buf = io.BytesIO()
    image(width, height, color).save(buf, format="PNG")
    return buf.getvalue()


def test_files_jsonl_t2i_and_edit(tmp_path):
    image(32, 48, (255, 0, 0)).save(tmp_path / "a.png")
    image(48, 32, (0, 0, 255)).save(tmp_path / "b.png")
    (tmp_path / "t2i.jsonl").write_text(json.dumps({"image": "a.png", "caption": "red"}) + "\n\n"
                                        + json.dumps({"image": "b.png", "caption": "blue", "width": 48,
                                                      "height": 32}) + "\n")
    source = build_source({"kind": "files", "path": str(tmp_path / "t2i.jsonl")}, "t2i", 0, "s")
    assert len(source) == 2 and source.finite
    item = source.item(0)
    assert item["prompt"] == "red" and item["target"].size == (32, 48) and item["source"] is None
    assert source.size(1) == (48, 32) and source.size(0) == (32, 48)

    (tmp_path / "edit.jsonl").write_text(json.dumps({"source": "a.png", "instruction": "make it blue",
                                                     "target": "b.png"}) + "\n")
    edit = build_source({"kind": "files", "path": str(tmp_path / "edit.jsonl"), "task": "edit"}, "edit", 0, "s")
    item = edit.item(0)
    assert item["prompt"] == "make it blue" and item["source"].getpixel((0, 0)) == (255, 0, 0)
    with pytest.raises(ValueError, match="gives"):
        build_source({"kind": "files", "path": str(tmp_path / "edit.jsonl"), "task": "edit"}, "t2i", 0, "s")


def test_files_folder_of_captioned_images_and_errors(tmp_path):
    image(16, 16, (0, 255, 0)).save(tmp_path / "x.jpg")
    (tmp_path / "x.txt").write_text("a green square\n")
    image(16, 16, (0, 0, 0)).save(tmp_path / "uncaptioned.png")
    source = build_source({"kind": "files", "path": str(tmp_path)}, "t2i", 0, "s")
    assert len(source) == 1 and source.item(0)["prompt"] == "a green square"
    (tmp_path / "bad.jsonl").write_text('{"image": "x.jpg"}\n')
    with pytest.raises(RecipeError, match="bad.jsonl:1: a t2i record needs image, caption; missing caption"):
        build_source({"kind": "files", "path": str(tmp_path / "bad.jsonl")}, "t2i", 0, "s")
    with pytest.raises(RecipeError, match="no such file"):
        build_source({"kind": "files", "path": str(tmp_path / "nope.jsonl")}, "t2i", 0, "s")


def write_shard(path, samples):
    with tarfile.open(path, "w") as tar:
        for key, fields in samples:
            for ext, data in fields.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_webdataset_random_access(tmp_path):
    write_shard(tmp_path / "t2i-000.tar", [("s/0", {"png": png(8, 8, (255, 0, 0)), "txt": b"red"}),
                                            ("s/1", {"png": png(16, 8, (0, 0, 255)), "txt": b"blue",
                                                     "json": b'{"width": 16, "height": 8}'})])
    write_shard(tmp_path / "t2i-001.tar", [("s/2", {"jpg": png(8, 8, (0, 255, 0)), "txt": b"green"}),
                                            ("s/3", {"txt": b"no image"})])
    assert expand_braces("a-{000..002}.tar") == ["a-000.tar", "a-001.tar", "a-002.tar"]
    source = build_source({"kind": "webdataset", "shards": [str(tmp_path / "t2i-{000..001}.tar")]}, "t2i", 0, "s")
    assert len(source) == 3  # the sample without an image is skipped
    assert [source.item(i)["prompt"] for i in (2, 0, 1)] == ["green", "red", "blue"]
    assert source.item(1)["target"].size == (16, 8) and source.size(1) == (16, 8)

    write_shard(tmp_path / "edit.tar", [("e0", {"src.png": png(8, 8, (255, 0, 0)), "tgt.png": png(8, 8, (0, 0, 255)),
                                                "json": b'{"instruction": "recolour"}'})])
    edit = build_source({"kind": "webdataset", "task": "edit", "shards": [str(tmp_path / "edit.tar")],
                         "instruction": "json:instruction"}, "edit", 0, "s")
    item = edit.item(0)
    assert item["prompt"] == "recolour" and item["source"].getpixel((0, 0)) == (255, 0, 0)
    with pytest.raises(RecipeError, match="not found"):
        build_source({"kind": "webdataset", "shards": [str(tmp_path / "missing.tar")]}, "t2i", 0, "s")


def test_hugging_face_dataset_from_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {"image": [image(8, 8, (255, 0, 0)), image(8, 16, (0, 0, 255))], "text": ["red", "blue"]}
    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")})
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "ds"))
    source = build_source({"kind": "hf", "name": str(tmp_path / "ds"), "caption": "text"}, "t2i", 0, "s")
    assert len(source) == 2 and source.item(1)["prompt"] == "blue" and source.size(1) == (8, 16)
    with pytest.raises(RecipeError, match="no column 'caption'"):
        build_source({"kind": "hf", "name": str(tmp_path / "ds")}, "t2i", 0, "s")


def test_shapes_source_is_a_function_of_the_index():
    a = build_source({"kind": "shapes", "size": 32}, "edit", 0, "s")
    b = build_source({"kind": "shapes", "size": 32}, "edit", 0, "s")
    assert not a.finite and a.item(5)["prompt"] == b.item(5)["prompt"]
    assert np.array_equal(np.asarray(a.item(5)["target"]), np.asarray(b.item(5)["target"]))
    assert a.item(5)["source"] is not None and a.item(5)["target"].size == (32, 32)
    t2i = build_source({"kind": "shapes", "size": 32}, "t2i", 0, "s")
    assert t2i.item(0)["source"] is None
    pool = build_source({"kind": "shapes", "size": 32, "items": 10}, "t2i", 0, "s")
    assert pool.finite and len(pool) == 10


def test_epoch_order_visits_every_item_once_per_epoch():
    order = EpochOrder(np.arange(10, 20), seed=3)
    first, second = [order(p) for p in range(10)], [order(p) for p in range(10, 20)]
    assert sorted(first) == sorted(second) == list(range(10, 20)) and first != second
    assert order(3) == first[3]  # any position is reachable in any order


def test_buckets_assign_by_aspect_ratio(tmp_path):
    sizes = [(32, 32), (48, 32), (32, 48)]
    assert nearest_bucket(100, 100, sizes) == 0 and nearest_bucket(300, 180, sizes) == 1
    assert nearest_bucket(10, 30, sizes) == 2
    for i, (w, h) in enumerate([(40, 40), (90, 60), (60, 90), (64, 64)]):
        image(w, h, (i * 50, 0, 0)).save(tmp_path / f"{i}.png")
        (tmp_path / f"{i}.txt").write_text(f"image {i}")
    source = build_source({"kind": "files", "path": str(tmp_path)}, "t2i", 0, "s")
    assert {b: sorted(v.tolist()) for b, v in bucket_items(source, sizes).items()} == {0: [0, 3], 1: [1], 2: [2]}

    plan = BatchPlan([("files", source, 1.0)], sizes, batch=2, seed=0, stage=0)
    items = PlannedItems(plan)
    for step in range(6):
        bucket, slots = plan.step_slots(step)
        for slot, (stream, position) in enumerate(slots):
            sample = items[(step, slot, stream, position)]
            assert sample["size"] == sizes[bucket] and tuple(sample["target"].shape[1:]) == sizes[bucket][::-1]


def shapes_plan(batch=8, seed=0):
    t2i = build_source({"kind": "shapes", "size": 32}, "t2i", seed, "s")
    edit = build_source({"kind": "shapes", "size": 32}, "edit", seed, "s")
    return BatchPlan([("shapes", t2i, 0.25), ("shapes", edit, 0.75)], [(32, 32)], batch, seed, stage=1)


def test_plan_is_deterministic_resumable_and_shards_exactly():
    whole = [shapes_plan().step_slots(s) for s in range(1)]
    plan = shapes_plan()
    steps = [plan.step_slots(s) for s in range(20)]
    assert steps[0] == whole[0]
    tasks = [plan.streams[stream].source for _, slots in steps for stream, _ in slots]
    assert 0.6 < np.mean(tasks) < 0.9  # mixture weights 0.25 / 0.75
    # Resuming from saved counts gives the same later steps.
    resumed = shapes_plan()
    for s in range(10):
        resumed.step_slots(s)
    state = resumed.state_dict()
    fresh = shapes_plan()
    fresh.load_state_dict(state)
    assert [fresh.step_slots(s) for s in range(10, 20)] == steps[10:]
    # Two processes with micro-batches of 2 see exactly the single process's global batches, split.
    single = list(PlannedBatches(shapes_plan(), 0, 3, rank=0, world=1, micro=8))
    split = [list(PlannedBatches(shapes_plan(), 0, 3, rank=r, world=2, micro=2)) for r in (0, 1)]
    for step in range(3):
        mine = [k for r in (0, 1) for batch in split[r][step * 2:(step + 1) * 2] for k in batch]
        assert sorted(mine) == sorted(single[step])


def test_cache_holds_what_the_conditioner_computes(tmp_path):
    import torch

    from dreamlite.build import tiny_components
    from dreamlite.train.data.base import fit, to_pixels
    from dreamlite.train.data.cache import SourceCache, fill_shard
    from dreamlite.train.encode import Conditioner

    components = tiny_components(corpus=["a red circle", "make it blue"], text_hidden=32)
    conditioner = Conditioner(components.vae, components.prompt_encoder, torch.device("cpu"), torch.float32)
    source = build_source({"kind": "shapes", "size": 32, "items": 3}, "edit", 0, "s")
    cache = SourceCache(tmp_path, [(32, 32)])
    cache.shard_path(0, 0).parent.mkdir(parents=True)
    fill_shard(cache.shard_path(0, 0), source, np.arange(3), (32, 32), conditioner, torch.float32, empty_edit=True)
    cached = cache.load(1, 0)
    item = source.item(1)
    latent = conditioner.latents(to_pixels(fit(item["target"], 32, 32))[None])[0]
    assert torch.allclose(cached["latent"], latent, atol=1e-5)
    assert torch.equal(cached["embeds"], conditioner.edit(item["prompt"], item["source"]))
    assert torch.equal(cached["empty_embeds"], conditioner.edit(None, item["source"]))
    assert cached["source_latent"].shape == latent.shape == (4, 4, 4)
    # Past its memory budget the cache reads item by item from the file: the same tensors.
    from_file = SourceCache(tmp_path, [(32, 32)], memory_bytes=0).load(1, 0)
    assert from_file.keys() == cached.keys() and all(torch.equal(from_file[k], cached[k]) for k in cached)
