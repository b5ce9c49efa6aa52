"""The ShapesWorld training stream: item format, determinism, sharding, resuming and mixtures."""

import itertools
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dreamlite.shapes.dataset import ShapesStream, collate_shapes
from dreamlite.shapes.edits import CATEGORIES as EDIT_CATEGORIES


def take(stream, n):
    return list(itertools.islice(iter(stream), n))


def test_items_have_the_documented_format():
    items = take(ShapesStream(seed=3), 40)
    assert {i["task"] for i in items} == {"t2i", "edit"}
    for item in items:
        assert isinstance(item["prompt"], str) and item["prompt"]
        assert item["target"].shape == (3, 64, 64) and item["target"].dtype == torch.float32
        assert -1.0 <= item["target"].min() and item["target"].max() <= 1.0
        if item["task"] == "t2i":
            assert item["source"] is None
        else:
            assert item["source"].shape == (3, 64, 64) and item["category"] in EDIT_CATEGORIES
    numpy_item = take(ShapesStream(seed=3, format="numpy", size=32), 1)[0]
    assert numpy_item["target"].shape == (32, 32, 3) and numpy_item["target"].dtype == np.uint8


def test_stream_is_deterministic_and_seeded():
    a, b = take(ShapesStream(seed=5), 10), take(ShapesStream(seed=5), 10)
    assert [x["prompt"] for x in a] == [x["prompt"] for x in b]
    assert all(torch.equal(x["target"], y["target"]) for x, y in zip(a, b))
    c = take(ShapesStream(seed=6), 10)
    assert [x["prompt"] for x in a] != [x["prompt"] for x in c]


def test_ranks_split_the_global_stream_without_overlap():
    whole = [x["index"] for x in take(ShapesStream(seed=1), 12)]
    shards = [[x["index"] for x in take(ShapesStream(seed=1, rank=r, world_size=3), 4)] for r in range(3)]
    assert sorted(sum(shards, [])) == whole
    assert shards[1] == [1, 4, 7, 10]
    # An item depends on its global index only, not on the sharding.
    full = {x["index"]: x["prompt"] for x in take(ShapesStream(seed=1), 12)}
    assert all(full[x["index"]] == x["prompt"] for x in take(ShapesStream(seed=1, rank=2, world_size=3), 4))


def test_start_index_resumes_where_a_rank_stopped():
    stream = ShapesStream(seed=2, rank=1, world_size=2)
    first = [x["index"] for x in take(stream, 10)]
    resumed = [x["index"] for x in take(ShapesStream(seed=2, rank=1, world_size=2, start_index=6), 4)]
    assert resumed == first[6:10]


def test_dataloader_workers_deliver_the_rank_stream_in_order():
    batch = 3
    stream = ShapesStream(seed=4, block=batch, start_index=5, format="numpy", size=16)
    loader = DataLoader(stream, batch_size=batch, num_workers=2, collate_fn=lambda b: [x["index"] for x in b])
    seen = list(itertools.chain.from_iterable(itertools.islice(loader, 4)))
    assert seen == list(range(5, 5 + 4 * batch))


def test_mixture_weights_steer_tasks_and_categories():
    edits = take(ShapesStream(seed=0, task_weights={"t2i": 0}), 30)
    assert {x["task"] for x in edits} == {"edit"}
    only_counting = take(ShapesStream(seed=0, task_weights={"edit": 0}, category_weights={
        c: 0 for c in ("single_object", "two_object", "colors", "position", "color_attr")}), 20)
    assert {x["category"] for x in only_counting} == {"counting"}
    skewed = Counter(x["task"] for x in take(ShapesStream(seed=0, task_weights={"t2i": 1, "edit": 9}, size=16), 200))
    assert skewed["edit"] > 150


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="rank"):
        ShapesStream(rank=2, world_size=2)
    with pytest.raises(ValueError, match="unknown task or category"):
        ShapesStream(category_weights={"juggling": 1})
    with pytest.raises(ValueError, match="positive sum"):
        ShapesStream(task_weights={"t2i": 0, "edit": 0})


def test_collate_stacks_and_marks_missing_sources():
    items = take(ShapesStream(seed=3), 8)
    batch = collate_shapes(items)
    assert batch["target"].shape == (8, 3, 64, 64) and batch["source"].shape == (8, 3, 64, 64)
    assert batch["has_source"].tolist() == [x["source"] is not None for x in items]
    t2i = [k for k, x in enumerate(items) if x["source"] is None]
    assert t2i and torch.all(batch["source"][t2i[0]] == 0.0)
