"""The guided teacher's ODE trajectories, recorded at the student's sigmas, through the pipeline's own pure
sampling functions (flow_sigmas, guided_velocity, denoise) and the rl stage's batched conditioning, so a
teacher sample is what the base `DreamLite.generate` / `.edit` gives for the same noise and settings."""

from __future__ import annotations

import torch

from ...pipeline import DEFAULTS
from ...sampling import denoise, flow_sigmas, guided_velocity
from ..encode import pad_embeddings
from ..rl.rollout import edit_conditioning, encode_items, generation_conditioning

STUDENT_STEPS = DEFAULTS["mobile"]["steps"]  # the mobile pipeline samples this many: the student trains at them


def student_sigmas(latent_hw: tuple[int, int], schedule) -> torch.Tensor:
    """The mobile pipeline's sigmas at this latent size (STUDENT_STEPS + 1 values, the last 0)."""
    return flow_sigmas(STUDENT_STEPS, *latent_hw, schedule)


def teacher_sigmas(teacher_steps: int, latent_hw: tuple[int, int], schedule) -> tuple[torch.Tensor, int]:
    """The teacher's Euler grid and the stride at which it passes the student's sigmas.

    The grid is flow_sigmas of n = k * STUDENT_STEPS steps, k = ceil(teacher_steps / STUDENT_STEPS): its unshifted
    times 1 - j / n contain the student's 1 - i / STUDENT_STEPS at j = k i, and the time shift is one monotone
    map, so every k-th sigma is a student sigma (set to the student's value, so rounding cannot move it). With
    the default 28 teacher steps this is the base pipeline's own 28-step schedule, k = 7.
    """
    stride = -(-teacher_steps // STUDENT_STEPS)
    grid = flow_sigmas(stride * STUDENT_STEPS, *latent_hw, schedule)
    grid[::stride] = student_sigmas(latent_hw, schedule)
    return grid, stride


@torch.no_grad()
def record_trajectory(velocity, noise: torch.Tensor, grid: torch.Tensor, stride: int) -> torch.Tensor:
    """Euler from `noise` over `grid`, kept every `stride` steps: (B, STUDENT_STEPS + 1, C, h, w), [:, 0] the
    noise and [:, -1] the clean sample."""
    points = [noise]

    def keep(step: int, x: torch.Tensor) -> None:
        if (step + 1) % stride == 0:
            points.append(x)

    denoise(velocity, noise, grid, keep)
    return torch.stack(points, dim=1)


@torch.no_grad()
def teacher_chunk(unet, conditioner, samples: list[dict], noise: torch.Tensor, grid: torch.Tensor, stride: int,
                  scale: float, image_scale: float) -> dict[str, torch.Tensor]:
    """The teacher's trajectories for planned samples (generation prompts and edits) from `noise` (B, C, h, w),
    with what the student is conditioned on: the prompt alone (generation) or the instruction with its source's
    latents (editing), as the mobile pipeline conditions. Host tensors, ready for a chunk file."""
    c = conditioner
    device = c.device
    size = samples[0]["size"]
    edits = [s["task"] == "edit" for s in samples]
    empty, prompts, negatives, conditions = encode_items(c, samples, tuple(noise.shape[2:]))

    trajectory = torch.empty(len(samples), len(grid[::stride]), *noise.shape[1:])
    for task_is_edit in (False, True):
        ids = [i for i, edit in enumerate(edits) if edit == task_is_edit]
        if not ids:
            continue
        x = noise[ids].to(device)
        text = [prompts[i] for i in ids]
        if task_is_edit:
            cond = edit_conditioning(text, [negatives[i] for i in ids], torch.stack([conditions[i] for i in ids]),
                                     size, device)
        else:
            cond = generation_conditioning(text, empty, x.shape, size, device)
        trajectory[ids] = record_trajectory(guided_velocity(unet, cond, scale, image_scale), x, grid, stride).cpu()
    text, mask = pad_embeddings(prompts, "cpu")
    return {"trajectory": trajectory, "condition": torch.stack(conditions), "text": text.float(),
            "lengths": mask.sum(dim=1), "edit": torch.tensor(edits, dtype=torch.uint8)}
