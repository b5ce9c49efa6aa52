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
from dreamlite.train.rl.advantages import balanced, gather_groups, group_advantages, members_of
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


def test_balanced_advantages_stay_zero_sum_inside_the_clip():
    # Seven failures and one success: A = -1/sqrt(7) (x7) and sqrt(7) = 2.65, which a clip of 2 cuts.
    advantages, _ = group_advantages(torch.tensor([[0.2] * 7 + [0.8], [0.1, 0.3, 0.5, 0.7] * 2]))
    assert advantages[0, -1].item() == pytest.approx(7 ** 0.5, rel=1e-4)
    assert advantages.clamp(-2, 2)[0].sum().item() < -0.3  # clipped alone: a net push away from the group
    a = balanced(advantages, 2.0)
    assert a.sum(dim=1).abs().max().item() < 1e-6 and a.abs().max().item() <= 2.0 + 1e-6
    assert a[0, -1].item() == pytest.approx(2.0) and (a[0, :7] < 0).all()  # the order within the group is kept
    assert torch.allclose(a[1], advantages[1])  # a group inside the clip is left as it was


def test_shared_noise_cancels_where_a_group_agrees():
    """A group's samples that agree at a pixel, noised alike (rl.shared_noise), give the NFT loss no gradient there:
    the zero-sum advantage weights cancel. Noised independently, they leave a zero-mean but nonzero gradient."""
    torch.manual_seed(0)
    x0 = torch.randn(1, 1, 2, 2).repeat(4, 1, 1, 1)
    x0[:, :, 0, 0] = torch.tensor([1.0, -1.0, 0.5, -0.5]).view(4, 1)  # the one pixel where the members differ
    advantages = torch.tensor([1.5, -1.5, 0.5, -0.5])  # zero-sum, unclipped
    linear = torch.nn.Conv2d(1, 1, 1)  # a "model": its velocity at a pixel sees that pixel alone

    def gradient(noise: torch.Tensor) -> torch.Tensor:
        x_t = 0.5 * x0 + 0.5 * noise
        v_old = linear(x_t).detach()
        v = linear(x_t) + 0 * linear.weight.sum()  # v = v_old: the gradient is NFT's 2 beta (2r - 1)(v_old - target)
        v.retain_grad()
        nft_loss(v, v_old, noise - x0, advantages).sum().backward()
        return v.grad

    shared = gradient(torch.randn(1, 1, 2, 2).repeat(4, 1, 1, 1))
    summed = shared.sum(dim=0)[0]  # what a shared-weight model accumulates over the group, per pixel
    assert summed[0, 0].abs() > 1e-3  # where the members differ: the signal
    assert summed.flatten()[1:].abs().max() < 1e-6  # where they agree: nothing
    independent = gradient(torch.randn(4, 1, 2, 2)).sum(dim=0)[0]
    assert independent.flatten()[1:].abs().max() > 1e-3


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


def test_guided_training_velocity_is_the_rollouts_guided_velocity():
    """With rl.train_guided the loss's velocity of a sample is the guided sampler's (every branch of the policy,
    combined with the rollouts' scales), for generation and editing; without it, the conditional branch alone."""
    from types import SimpleNamespace

    from dreamlite.models.config import get_unet_config
    from dreamlite.models.unet import DreamLiteUNet
    from dreamlite.sampling import guided_velocity
    from dreamlite.train.rl.rollout import edit_conditioning, generation_conditioning
    from dreamlite.train.rl.stage import RLStage, Rollouts

    torch.manual_seed(0)
    unet = DreamLiteUNet(get_unet_config("tiny")).eval()
    for p in unet.parameters():  # a random model whose branches differ: zero-initialised output layers would not
        p.data.normal_(0, 0.1)
    hw, size = (4, 4), (32, 32)
    embedding = lambda n: torch.randn(n, 48)  # noqa: E731
    batch = Rollouts(start=0, tasks=["t2i", "edit"], slots=[0, 1], size=size, prompts=[embedding(3), embedding(5)],
                     negatives=[embedding(1), embedding(4)], conditions=torch.stack([torch.zeros(4, *hw),
                                                                                     torch.randn(4, *hw)]),
                     rewards=torch.zeros(2, 2), x0=torch.randn(2, 2, 4, *hw))
    pairs = [(0, 0), (1, 1)]
    x0 = torch.stack([batch.x0[p, m] for p, m in pairs])
    times, noises = [0.7, 0.4], [torch.randn(4, *hw) for _ in pairs]
    stage = SimpleNamespace(scale=3.5, image_scale=1.5, train_guided=True)
    inputs = RLStage._training_inputs(stage, x0, pairs, batch, times, noises)
    with torch.no_grad():
        v = RLStage._velocity(unet, inputs)
        t2i = generation_conditioning([batch.prompts[0]], batch.negatives[0], (1, 4, *hw), size, "cpu")
        edit = edit_conditioning([batch.prompts[1]], [batch.negatives[1]], batch.conditions[1:], size, "cpu")
        for i, cond in enumerate((t2i, edit)):
            expected = guided_velocity(unet, cond, 3.5, 1.5)(inputs["noisy"][i:i + 1], torch.tensor(times[i]))
            assert torch.allclose(v[i:i + 1], expected, atol=1e-5)
        plain = RLStage._velocity(unet, RLStage._training_inputs(SimpleNamespace(scale=3.5, image_scale=1.5,
                                                                                 train_guided=False),
                                                                 x0, pairs, batch, times, noises), [1])
        conditional = guided_velocity(unet, edit_conditioning([batch.prompts[1]], [batch.negatives[1]],
                                                              batch.conditions[1:], size, "cpu", guided=False))
        assert torch.allclose(plain, conditional(inputs["noisy"][1:], torch.tensor(times[1])), atol=1e-5)
        assert not torch.allclose(plain, v[1:], atol=1e-3)
