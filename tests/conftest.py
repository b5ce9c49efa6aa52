import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One intra-op thread per xdist worker: two workers with two threads each on two cores stall every op
    # waiting for a descheduled thread (measured: a tiny U-Net forward went from 25 ms to 2.7 s).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def perturbed_model_dir(tmp_path_factory):
    """A tiny random base pipeline whose U-Net weights are all non-trivial (export and fast-path parity)."""
    from dreamlite.build import tiny_components
    from dreamlite.loading import save_components

    from .helpers import perturb

    components = tiny_components(corpus=["a red circle", "make it blue"])
    perturb(components.unet, seed=1)
    path = tmp_path_factory.mktemp("perturbed-model")
    save_components(components, path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random DreamLite pipeline saved in diffusers layout (shared by the CLI, input and demo tests)."""
    from dreamlite.build import tiny_components
    from dreamlite.loading import save_components

    path = tmp_path_factory.mktemp("tiny-model")
    save_components(tiny_components(), path)
    return path

