"""RL parts on hand-made numbers: the ShapesBench reward, weighted sums and plugins, group advantages (also
gathered across processes), the NFT and AWM losses, the old policy's decay ramp, eval-split exclusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamlite.rewards import build_reward
from dreamlite.rewards.shapes import ShapesBenchReward, generation_checks
from dreamlite.shapes.detect import find_objects
from dreamlite.shapes.layout import iter_split
from dreamlite.shapes.render import render_scene
from dreamlite.train.rl.advantages import gather_groups, group_advantages, members_of
from dreamlite.train.rl.losses import awm_loss, drift, nft_loss
from dreamlite.train.rl.stage import OldPolicy


def items(seed=5, per_category=1):
    return list(iter_split(seed, per_category))


def test_shapes_reward_full_marks_for_ground_truth_and_partial_credit_below():
    reward = ShapesBenchReward()
    cases = items()
    truth, sources, specs = [], [], []
    for task, _, _, item in cases:
        if task == "generation":
            truth.append(render_scene(item.scene, 96))
            sources.append(None)
        else:
            truth.append(render_scene(item.target, 96))
            sources.append(render_scene(item.source, 96))
        specs.append({"spec": item.spec})
    prompts = [item.prompt for *_, item in cases]
    assert torch.equal(reward(truth, prompts, sources, items=specs), torch.ones(len(cases)))
    assert reward.components["passed"].tolist() == [1.0] * len(cases)

    grey = [np.full((96, 96, 3), 128, np.uint8)] * len(cases)
    blank = reward(grey, prompts, sources, items=specs)
    assert (blank < 0.5).all()  # nothing passes: at most the shares, half weighted
    # An edit that returns the source unchanged keeps everything but applies nothing (unless nothing was asked).
    unchanged = reward([s if s is not None else g for s, g in zip(sources, grey)], prompts, sources, items=specs)
    edits = [i for i, s in enumerate(sources) if s is not None]
    kept = reward.components["kept"][edits]
    assert torch.nan_to_num(kept, nan=1.0).min() == 1.0
    assert (unchanged[edits] < 1).all() and (unchanged[edits] >= 0.25).all()


def test_generation_partial_credit_counts_each_check():
    item = next(item for _, category, _, item in items(7, 4) if category == "counting")
    detections = find_objects(render_scene(item.scene, 96))[1]
    assert generation_checks(item.spec, detections) == 1.0
    need = item.spec["include"][0]
    doubled = {"include": [{**need, "count": 2 * need["count"]}]}  # finds half of what it asks for
    assert generation_checks(doubled, detections) == pytest.approx(0.5)
    spec = {"include": [{"shape": "circle", "count": 2}], "exclude": [{"shape": "circle", "count": 3}]}
    assert generation_checks(spec, []) == pytest.approx(0.5)  # no circle: include 0 of 2, exclude holds


def test_weighted_sum_of_a_plugin_and_a_builtin_and_errors():
    reward = build_reward([{"name": "tests.rl_plugins:Brightness", "weight": 2.0},
                           {"name": "tests.rl_plugins:Brightness", "weight": -1.0, "args": {"scale": 0.5}}])
    white, black = np.full((8, 8, 3), 255, np.uint8), np.zeros((8, 8, 3), np.uint8)
    assert reward([white, black], ["a", "b"]).tolist() == pytest.approx([1.5, 0.0])
    assert set(reward.components) == {"tests.rl_plugins:Brightness"}  # same name: the last part's values
    with pytest.raises(ValueError, match="unknown reward 'nope'"):
        build_reward([{"name": "nope"}])
    with pytest.raises(ValueError, match="cannot import"):
        build_reward([{"name": "tests.rl_plugins:Missing"}])
    with pytest.raises(ValueError, match="needs each sample's ShapesBench item"):
        build_reward([{"name": "shapes"}])([white], ["a"])


def test_group_advantages_on_hand_made_rewards():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5], [0.2, 0.4, 0.6, 0.8]])
    advantages, signal = group_advantages(rewards, min_std=0.01)
    assert signal.tolist() == [True, False, True]
    assert advantages[0].tolist() == pytest.approx([1.0, -1.0, -1.0, 1.0], abs=1e-5)  # std 0.5, mean 0.5
    assert advantages[1].tolist() == [0.0] * 4
    std = float(np.std([0.2, 0.4, 0.6, 0.8]))
    assert advantages[2].tolist() == pytest.approx([(-0.3) / std, (-0.1) / std, 0.1 / std, 0.3 / std], abs=1e-5)


class FakeAccelerator:
    """Two processes' gather, played in one: `gather` returns both processes' tensors stacked."""

    def __init__(self, others: list[torch.Tensor], rank: int):
        self.others, self.process_index, self.num_processes = others, rank, len(others)

    def gather(self, local):
        return torch.cat(self.others)


def test_groups_gathered_across_processes_are_the_one_process_groups():
    full = torch.arange(12, dtype=torch.float32).view(3, 4)  # 3 prompts, group of 4
    shares = [full[:, members_of(r, 2, 4)] for r in range(2)]
    assert members_of(0, 2, 4) == [0, 2] and members_of(1, 2, 4) == [1, 3]
    for rank in range(2):
        assert torch.equal(gather_groups(shares[rank], FakeAccelerator(shares, rank), 4), full)


def test_nft_and_awm_losses_on_hand_made_velocities():
    target = torch.zeros(2, 1, 1, 2)
    v_old = torch.tensor([[1.0, 1.0], [1.0, 1.0]]).view(2, 1, 1, 2)
    v = torch.tensor([[2.0, 0.0], [1.0, 1.0]]).view(2, 1, 1, 2)
    adv = torch.tensor([2.0, -2.0])  # r = 1 and r = 0 with adv_clip 2
    # r = 1: ||v - target||^2 = (4 + 0) / 2; r = 0: ||2 v_old - v - target||^2 = (1 + 1) / 2
    assert nft_loss(v, v_old, target, adv, beta=1.0, adv_clip=2.0).tolist() == pytest.approx([2.0, 1.0])
    # beta 0.5, advantage 0 (r = 1/2): v+ = (1.5, 0.5), v- = (0.5, 1.5) for sample 0
    half = nft_loss(v, v_old, target, torch.zeros(2), beta=0.5)
    assert half[0].item() == pytest.approx(0.5 * (2.25 + 0.25) / 2 + 0.5 * (0.25 + 2.25) / 2)
    # AWM: A (||v - t||^2 - ||v_old - t||^2) = 2 (2 - 1) and -2 (1 - 1)
    assert awm_loss(v, v_old, target, adv, adv_clip=2.0).tolist() == pytest.approx([2.0, 0.0])
    assert drift(v, v_old).tolist() == pytest.approx([1.0, 0.0])

    # The NFT gradient at v = v_old points toward the sample for A > 0 and away for A < 0.
    for a, sign in ((1.0, 1.0), (-1.0, -1.0)):
        w = v_old.clone().requires_grad_(True)
        nft_loss(w, v_old, target, torch.tensor([a, a])).sum().backward()
        step = -w.grad  # descent direction; toward the target means toward 0 from v_old = 1
        assert (torch.sign(step) == -sign).all()


def test_old_policy_decay_ramps_from_zero():
    p = torch.nn.Parameter(torch.zeros(3))
    old = OldPolicy([("p", p)], decay=0.5, ramp=4)
    decays = []
    for value in (1.0, 2.0, 3.0):
        decays.append(old.current_decay())
        p.data.fill_(value)
        old.update()
    assert decays == [0.0, 0.125, 0.25]
    # 1.0 (decay 0), then 0.125 * 1 + 0.875 * 2, then 0.25 * that + 0.75 * 3
    assert old.shadow["p"].tolist() == pytest.approx([0.25 * (0.125 * 1.0 + 0.875 * 2.0) + 0.75 * 3.0] * 3)


def test_rl_items_exclude_the_public_eval_split():
    from dreamlite.train.data.shapes import ShapesSource, ShapesSpec, _in_eval_split

    raw = ShapesSource(ShapesSpec(size=32, seed=101), "t2i", 0)
    clean = ShapesSource(ShapesSpec(size=32, seed=101, exclude_eval=True), "t2i", 0)
    overlap = [k for k in range(120) if _in_eval_split("t2i", raw.stream.item(k))]
    assert overlap, "some stream prompts occur in the eval split (so the exclusion is exercised)"
    for k in range(120):
        item = clean.item(k)
        assert not _in_eval_split("t2i", {"prompt": item["prompt"], "spec": item["spec"]})
        if k not in overlap:
            assert item["prompt"] == raw.item(k)["prompt"]
    again = ShapesSource(ShapesSpec(size=32, seed=101, exclude_eval=True), "t2i", 0)
    assert again.item(overlap[0])["prompt"] == clean.item(overlap[0])["prompt"]  # a function of the index
