"""The `rl` stage: online RL on a flow-matching DreamLite, generation prompts and edit items in one run.

An iteration takes the batch plan's items (prompts or (source, instruction) edits), has the old policy sample
`group` images of each (members dealt round robin over the processes), scores them with the recipe's rewards,
normalises the rewards within each group across processes, and trains the policy with the chosen loss
(losses.py) on its own clean samples at a random time: in one optimizer step, or in `minibatches` x `epochs`
steps (the loop's next steps, whose planned items it leaves unused). Everything an iteration draws (rollout
noise, training time and noise, the parts' order) is seeded by (stage, step, slot, member, epoch), so a resumed
run, or one on more processes, draws the same; the old policy (an EMA of the weights, moved once an iteration),
the curves and, mid-iteration, the rollout batch are checkpointed with the stage.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import torch

from ...pipeline import DEFAULTS
from ...rewards import build_reward
from ...rewards.base import as_arrays
from ...sampling import pack_in_context, unpack_target
from ..data.base import stable_seed
from ..ema import EMA
from ..encode import pad_embeddings
from ..loss import sample_timestep
from .advantages import balanced, gather_groups, group_advantages, members_of
from .heldout import HeldOut, flat_summary
from .losses import LOSSES, drift
from .rollout import decode, edit_conditioning, encode_items, generation_conditioning, sample


class OldPolicy(EMA):
    """DiffusionNFT's old policy: an EMA of the trainable weights whose decay ramps linearly from 0."""

    def __init__(self, named_parameters, decay: float, ramp: int):
        super().__init__(named_parameters, decay, warmup=False)
        self.ramp = ramp

    def current_decay(self) -> float:
        return self.decay * min(1.0, self.updates / self.ramp) if self.ramp > 0 else self.decay


@dataclasses.dataclass
class Rollouts:
    """One rollout batch, what its optimizer steps train on: whole groups (every process's members gathered)."""

    start: int  # the loop step that sampled it
    tasks: list[str]  # per item: t2i or edit
    slots: list[int]  # per item: its slot in the batch plan (seeds the training draws)
    size: tuple[int, int]  # target (width, height) in pixels
    prompts: list[torch.Tensor]  # per item: the (L, D) prompt embedding
    negatives: list[torch.Tensor]  # per item: the guidance's negative (empty prompt; edits: with the source image)
    conditions: torch.Tensor  # (P, C, h, w): source latents (edit) or zeros (t2i)
    rewards: torch.Tensor  # (P, G)
    x0: torch.Tensor  # (P, G, C, h, w): the clean latents sampled

    def part(self, index: int, parts: int, seed: int) -> list[int]:
        """The items of part `index` of `parts`: whole groups, in a seeded order (all items when parts is 1)."""
        count = len(self.tasks)
        if parts == 1:
            return list(range(count))
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
        return sorted(order[index * count // parts:(index + 1) * count // parts])

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {"rollouts.conditions": self.conditions, "rollouts.rewards": self.rewards, "rollouts.x0": self.x0,
                   **{f"rollouts.prompt.{i}": t for i, t in enumerate(self.prompts)},
                   **{f"rollouts.negative.{i}": t for i, t in enumerate(self.negatives)}}
        return tensors, {"start": self.start, "tasks": self.tasks, "slots": self.slots, "size": list(self.size)}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], data: dict, device) -> "Rollouts":
        get = lambda name: tensors[f"rollouts.{name}"].to(device)  # noqa: E731
        return cls(start=data["start"], tasks=list(data["tasks"]), slots=list(data["slots"]), size=tuple(data["size"]),
                   prompts=[get(f"prompt.{i}") for i in range(len(data["tasks"]))],
                   negatives=[get(f"negative.{i}") for i in range(len(data["tasks"]))], conditions=get("conditions"),
                   rewards=get("rewards"), x0=get("x0"))


def as_list(samples: list[dict]) -> list[dict]:
    """The DataLoader's collate function: the stage encodes and samples itself."""
    return samples


class RLStage:
    # Every process gets the whole step's items and samples its share of each group's members.
    replicate_items = True

    def __init__(self, spec, index: int, seed: int, conditioner, schedule, pad_text_to: int = 1):
        self.spec, self.rl, self.index, self.seed = spec, spec.rl, index, seed
        self.conditioner, self.schedule = conditioner, schedule
        self.reward = build_reward([dataclasses.asdict(r) for r in self.rl.rewards])
        self.history: list[dict] = []  # one row per optimizer step (+ held-out rows), checkpointed
        self.pending: dict[str, list] = {}
        self.inner = self.rl.minibatches * self.rl.epochs  # optimizer steps per rollout batch
        self.batch: Rollouts | None = None  # the current rollout batch
        self.completed = 0  # optimizer steps done

    # ---- hooks the loop calls --------------------------------------------------------------------------
    def collate(self):
        return as_list

    def attach(self, accelerator, model, variant: str, writer=None, offset: int = 0) -> None:
        self.accelerator, self.writer, self.offset = accelerator, writer, offset
        self.unet = accelerator.unwrap_model(model)
        self.old = OldPolicy(self.unet.named_parameters(), self.rl.old_decay, self.rl.old_decay_ramp)
        # The rollout network: a copy of the old policy in the rollout dtype, refreshed before each rollout.
        self.sampler = copy.deepcopy(self.unet).to(getattr(torch, self.rl.rollout_dtype)).eval().requires_grad_(False)
        self.sampler_params = dict(self.sampler.named_parameters())
        # The reference for `rl.kl_reference`: the stage's starting weights, frozen.
        self.reference = copy.deepcopy(self.unet).eval().requires_grad_(False) if self.rl.kl_reference else None
        defaults = DEFAULTS[variant]
        self.scale = self.rl.guidance if self.rl.guidance is not None else (defaults["guidance_scale"] or 1.0)
        self.image_scale = self.rl.image_guidance if self.rl.image_guidance is not None else \
            (defaults["image_guidance_scale"] or 1.0)
        self.guided = variant == "base"
        self.train_guided = self.rl.train_guided and self.guided
        h = self.rl.held_out
        self.held_out = None
        if h.every and accelerator.is_main_process:
            self.held_out = HeldOut(h, h.size or self.spec.resolution, h.steps or defaults["steps"],
                                    defaults["guidance_scale"] or 1.0, defaults["image_guidance_scale"] or 1.0)

    def begin(self, start: int) -> None:
        if start == 0 and self.held_out is not None and self.rl.held_out.at_start and \
                not any("held_out" in r for r in self.history):
            self._evaluate(0)
        self.accelerator.wait_for_everyone()

    def after_step(self, step: int, last: bool) -> None:
        self.completed = step + 1
        if self.completed % self.inner == 0:  # the old policy moves once a rollout batch is used up
            self.old.update()
        row = {"iteration": step + 1}
        for name, values in self.pending.items():
            if values:
                row[name] = float(np.nanmean(values)) if not all(np.isnan(values)) else float("nan")
        self.pending = {}
        self.history.append(row)
        self._log(row, step + 1)
        every = self.rl.held_out.every
        if self.held_out is not None and ((step + 1) % every == 0 or last):
            self._evaluate(step + 1)
        self.accelerator.wait_for_everyone()

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors, data = self.old.state_dict(), {"history": self.history}
        if self.batch is not None and self.completed % self.inner:  # mid-batch: its later steps need it
            more, data["rollouts"] = self.batch.state()
            tensors = {**tensors, **more}
        return tensors, data

    def load_state(self, tensors: dict[str, torch.Tensor], data: dict) -> None:
        self.old.load_state_dict(tensors)
        self.history = list(data["history"])
        if "rollouts" in data:
            self.batch = Rollouts.from_state(tensors, data["rollouts"], self.conditioner.device)

    def finish(self, folder) -> None:
        from .curves import write_curves

        if self.accelerator.is_main_process:
            write_curves(self.history, folder)

    # ---- one micro-batch -------------------------------------------------------------------------------
    def loss(self, model, samples: list[dict]) -> tuple[torch.Tensor, dict]:
        step = samples[0]["step"]
        begin = step - step % self.inner
        if self.inner == 1 or step == begin:
            self.batch = self._rollouts(samples)
        elif self.batch is None or self.batch.start != begin:
            raise RuntimeError(f"rl: step {step} trains on the rollouts of step {begin}, which this process lacks")
        return self._train(model, self.batch, step - begin)

    def _rollouts(self, samples: list[dict]) -> Rollouts:
        """The old policy samples every item's group (this process its members), the rewards are gathered into
        whole groups, and so are the clean latents, so that any process (or a resumed run) can train on any part."""
        c, rl, acc = self.conditioner, self.rl, self.accelerator
        device = c.device
        members = members_of(acc.process_index, acc.num_processes, rl.group)
        width, height = samples[0]["size"]
        hw = (height // c.vae_factor, width // c.vae_factor)
        edits = [s["task"] == "edit" for s in samples]

        # Conditions of every item: prompt embeddings (cond and negative) and source latents.
        empty, prompts, negatives, conditions = encode_items(c, samples, hw)

        # This process's (item, member) pairs and their rollout noise; the old policy (its copy in the rollout
        # dtype) samples them.
        pairs = [(p, m) for p in range(len(samples)) for m in members]
        rollout_noise = []
        for p, m in pairs:
            s = samples[p]
            g = torch.Generator().manual_seed(stable_seed(self.seed, "rl-rollout", self.index, s["step"], s["slot"], m))
            rollout_noise.append(torch.randn((c.latent_channels, *hw), generator=g))
        x0 = torch.empty(len(pairs), c.latent_channels, *hw, device=device)
        dtype = next(self.sampler.parameters()).dtype
        with torch.no_grad():
            for name, shadow in self.old.shadow.items():
                self.sampler_params[name].copy_(shadow)
        for task_is_edit in (False, True):
            ids = [i for i, (p, _) in enumerate(pairs) if edits[p] == task_is_edit]
            if not ids:
                continue
            noise = torch.stack([rollout_noise[i] for i in ids]).to(device, dtype)
            text = [prompts[pairs[i][0]] for i in ids]
            if task_is_edit:
                sources = torch.stack([conditions[pairs[i][0]] for i in ids])
                cond = edit_conditioning(text, [negatives[pairs[i][0]] for i in ids], sources, (width, height),
                                         device, self.guided)
            else:
                cond = generation_conditioning(text, empty, noise.shape, (width, height), device, self.guided)
            cond = dataclasses.replace(cond, text=cond.text.to(dtype), latents=cond.latents.to(dtype),
                                       time_ids=cond.time_ids.to(dtype))
            x0[ids] = sample(self.sampler, cond, noise, rl.rollout_steps, self.schedule, self.scale,
                             self.image_scale).float()

        # Rewards, gathered into whole groups.
        images = decode(c.vae, x0)
        arrays = as_arrays(images)
        source_arrays = [as_arrays(samples[p]["source"][None])[0] if edits[p] else None for p, _ in pairs]
        reward = self.reward(arrays, [samples[p]["prompt"] for p, _ in pairs], source_arrays,
                             items=[samples[p] for p, _ in pairs], tasks=[samples[p]["task"] for p, _ in pairs])
        shape = (len(samples), len(members))
        rewards = gather_groups(reward.to(device).view(shape), acc, rl.group)
        batch = Rollouts(start=samples[0]["step"], tasks=[s["task"] for s in samples],
                         slots=[s["slot"] for s in samples], size=(width, height), prompts=prompts, negatives=negatives,
                         conditions=torch.stack(conditions).to(device), rewards=rewards,
                         x0=gather_groups(x0.view(*shape, *x0.shape[1:]), acc, rl.group))
        self._record_rollouts(batch, pairs, images, x0)
        return batch

    def _train(self, model, batch: Rollouts, inner: int) -> tuple[torch.Tensor, dict]:
        """The policy's loss on step `inner` of the rollout batch's minibatches x epochs: this process's members
        of one part of the items, at a fresh training time and noise each epoch, against the old policy."""
        c, rl, acc = self.conditioner, self.rl, self.accelerator
        world = acc.num_processes
        members = members_of(acc.process_index, world, rl.group)
        epoch, part = divmod(inner, rl.minibatches)
        items = batch.part(part, rl.minibatches, stable_seed(self.seed, "rl-order", self.index, batch.start, epoch))
        pairs = [(p, m) for p in items for m in members]
        width, height = batch.size
        hw = (height // c.vae_factor, width // c.vae_factor)
        times, train_noise = [], []
        for p, m in pairs:
            tag = (epoch,) if epoch else ()  # epoch 0 draws what a one-step iteration draws
            member = "group" if rl.shared_noise else m
            g = torch.Generator().manual_seed(stable_seed(self.seed, "rl-train", self.index, batch.start,
                                                          batch.slots[p], member, *tag))
            times.append(sample_timestep(self.spec.timesteps, g, hw, self.schedule))
            train_noise.append(torch.randn((c.latent_channels, *hw), generator=g))
        x0 = torch.stack([batch.x0[p, m] for p, m in pairs])
        inputs = self._training_inputs(x0, pairs, batch, times, train_noise)
        self.unet.eval()
        with self.old.applied(), torch.no_grad():
            v_old = self._velocity(self.unet, inputs)
        self.unet.train()

        advantages, signal = group_advantages(batch.rewards, rl.min_group_std)
        advantages = balanced(advantages, rl.adv_clip)
        mine = torch.stack([advantages[p, m] for p, m in pairs])
        keep = signal[[p for p, _ in pairs]]
        trained = int(signal[items].sum()) * rl.group  # samples trained on this step, over all processes

        # The policy's loss on this process's samples of groups with signal (one zero-weight sample otherwise,
        # so every process runs a backward pass and the gradient all-reduce lines up).
        chosen = keep.nonzero().flatten().tolist() or [0]
        weight = keep[chosen].float()
        v = self._velocity(model, inputs, chosen)
        target = inputs["target"][chosen]
        per = LOSSES[rl.algorithm](v, v_old[chosen], target, mine[chosen], **self._loss_args())
        if rl.kl:
            per = per + rl.kl * drift(v, v_old[chosen])
        if self.reference is not None:
            with torch.no_grad():
                v_ref = self._velocity(self.reference, inputs, chosen)
            per = per + rl.kl_reference * drift(v, v_ref)
            self.pending.setdefault("drift_reference", []).append(float((v.detach() - v_ref).pow(2).mean()))
        loss = (per * weight).sum() * world / max(trained, 1)

        add = lambda name, value: self.pending.setdefault(name, []).append(float(value))  # noqa: E731
        add("drift", (v.detach() - v_old[chosen]).pow(2).mean())
        add("loss", per.detach().mean())
        stats = {}
        for task in ("t2i", "edit"):
            picks = [k for k, i in enumerate(chosen) if batch.tasks[pairs[i][0]] == task and keep[i]]
            if picks:
                stats[task] = (per[picks].detach().sum(), len(picks))
        return loss, stats

    def _loss_args(self) -> dict:
        if self.rl.algorithm == "nft":
            return {"beta": self.rl.beta, "adv_clip": self.rl.adv_clip}
        return {"adv_clip": self.rl.adv_clip}

    def _training_inputs(self, x0, pairs, batch: Rollouts, times, noises) -> dict:
        """The noised samples and, per U-Net row, what it sees: one row a sample, or with `rl.train_guided` one row
        a guidance branch, weighted so that the rows of a sample sum to the rollouts' guided velocity."""
        device = x0.device
        t = torch.tensor(times, dtype=torch.float32, device=device)
        noise = torch.stack(noises).to(device)
        t_ = t.view(-1, 1, 1, 1)
        s, si = self.scale, self.image_scale
        rows = []  # (sample, text embedding, condition latents, weight)
        for i, (p, _) in enumerate(pairs):
            text, negative, condition = batch.prompts[p], batch.negatives[p], batch.conditions[p]
            if not self.train_guided:
                rows.append((i, text, condition, 1.0))
            elif batch.tasks[p] == "edit":  # u + s (text - image) + si (image - u), as combine_guidance
                rows += [(i, negative, torch.zeros_like(condition), 1 - si), (i, negative, condition, si - s),
                         (i, text, condition, s)]
            else:
                rows += [(i, negative, condition, 1 - s), (i, text, condition, s)]
        text, mask = pad_embeddings([r[1] for r in rows], device)
        return {"noisy": (1 - t_) * x0 + t_ * noise, "target": noise - x0, "t": t,
                "sample": torch.tensor([r[0] for r in rows]), "text": text.float(), "mask": mask,
                "condition": torch.stack([r[2] for r in rows]).to(device).float(),
                "weight": torch.tensor([r[3] for r in rows], dtype=torch.float32, device=device),
                "time_ids": torch.tensor([list(batch.size)] * len(rows), dtype=torch.float32, device=device)}

    @staticmethod
    def _velocity(unet, b: dict, samples: list[int] | None = None) -> torch.Tensor:
        """The velocity of the chosen samples (all by default): the weighted sum of their rows' U-Net outputs."""
        samples = list(range(len(b["noisy"]))) if samples is None else samples
        where = {sample: k for k, sample in enumerate(samples)}
        rows = [r for r, sample in enumerate(b["sample"].tolist()) if sample in where]
        owner = torch.tensor([where[int(b["sample"][r])] for r in rows], device=b["noisy"].device)
        of_row = b["sample"][rows]
        noisy = b["noisy"][of_row]
        out = unet(pack_in_context(noisy, b["condition"][rows]), b["t"][of_row] * 1000.0, b["text"][rows],
                   b["mask"][rows], b["time_ids"][rows])
        out = unpack_target(out, noisy.shape[-1]).float() * b["weight"][rows].view(-1, 1, 1, 1)
        return torch.zeros(len(samples), *out.shape[1:], device=out.device).index_add_(0, owner, out)

    # ---- curves ----------------------------------------------------------------------------------------
    def _record_rollouts(self, batch: Rollouts, pairs, images, x0) -> None:
        add = lambda name, value: self.pending.setdefault(name, []).append(float(value))  # noqa: E731
        tasks = np.array(batch.tasks)
        _, signal = group_advantages(batch.rewards, self.rl.min_group_std)
        for task in ("t2i", "edit"):
            rows = torch.as_tensor(tasks == task)
            if rows.any():
                add(f"reward/{task}", batch.rewards[rows].mean())
        add("reward/all", batch.rewards.mean())
        add("signal_groups", signal.float().mean())
        for name, part in getattr(self.reward, "components", {}).items():
            values = part.numpy()
            for task in ("t2i", "edit"):
                picked = values[[batch.tasks[p] == task for p, _ in pairs]]
                if len(picked) and not np.isnan(picked).all():
                    add(f"{name}/{task}", np.nanmean(picked))
        add("brightness", (images.mean() + 1) / 2)  # mean pixel in [0, 1]: drift shows here first
        add("x0_rms", x0.pow(2).mean().sqrt())

    def _log(self, row: dict, iteration: int) -> None:
        if self.writer is None:
            return
        for name, value in row.items():
            if name != "iteration" and isinstance(value, float) and not math.isnan(value):
                self.writer.add_scalar(f"rl/{name}", value, self.offset + iteration)

    def _evaluate(self, iteration: int) -> None:
        summary = self.held_out.run(self.unet.eval(), self.conditioner, self.schedule)
        self.unet.train()
        flat = flat_summary(summary)
        self.history.append({"iteration": iteration, "held_out": flat})
        if self.writer is not None:
            for name, value in flat.items():
                self.writer.add_scalar(f"held_out/{name}", value, self.offset + iteration)
        print(f"held-out (dev split, {len(self.held_out.items)} items) at iteration {iteration}: generation "
              f"{flat.get('generation/overall', float('nan')):.3f}, editing {flat.get('editing/overall', float('nan')):.3f}"
              f", kept {flat.get('editing_kept/overall', float('nan')):.3f}", flush=True)
