"""The prompt-embedding cache (a repeated prompt skips the encoder) and the encoder's source-image size."""

import torch

from dreamlite import DreamLite
from dreamlite.build import tiny_components

from .helpers import random_image


class Counting:
    def __init__(self, encoder):
        self.encoder, self.calls = encoder, 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode(self, *args, **kwargs):
        self.calls += 1
        return self.encoder.encode(*args, **kwargs)


def test_repeated_prompt_skips_the_encoder():
    components = tiny_components()
    counting = Counting(components.prompt_encoder)
    components.prompt_encoder = counting
    pipe = DreamLite(components)
    a = pipe.generate("a red circle", height=32, width=32, steps=1, seed=0)[0]
    b = pipe.generate("a red circle", height=32, width=32, steps=1, seed=0)[0]
    assert counting.calls == 1 and a.tobytes() == b.tobytes()
    pipe.generate("a blue circle", height=32, width=32, steps=1, seed=0)
    source = random_image(32, 32, seed=1)
    pipe.edit(source, "make it blue", steps=1, seed=0)
    pipe.edit(source, "make it blue", steps=1, seed=5)
    assert counting.calls == 3
    pipe.edit(random_image(32, 32, seed=2), "make it blue", steps=1, seed=0)  # another source image: a miss
    assert counting.calls == 4 and pipe.prompt_encoder.hits == 2
    uncached = DreamLite(tiny_components(), prompt_cache=0)
    assert uncached.prompt_encoder is uncached.components.prompt_encoder


def test_encoder_image_size_is_a_setting(tiny_model_dir):
    pipe = DreamLite.from_pretrained(tiny_model_dir, device="cpu", encoder_image_size=256, prompt_cache=0)
    source = random_image(64, 64)
    inputs, _ = pipe.prompt_encoder.prepare(["make it blue"], "edit", source)
    assert tuple(inputs["image_grid_thw"][0].tolist()) == (1, 16, 16)  # 256 px in 16 px patches
    default = DreamLite.from_pretrained(tiny_model_dir, device="cpu")
    inputs, _ = default.prompt_encoder.prepare(["make it blue"], "edit", source)
    assert tuple(inputs["image_grid_thw"][0].tolist()) == (1, 32, 32)  # the official 512
    assert isinstance(default.prompt_encoder.encode(["x"], "generate")[0], torch.Tensor)


def test_int8_prompt_encoder_keeps_the_embeddings(tiny_model_dir):
    ref = DreamLite.from_pretrained(tiny_model_dir, device="cpu", prompt_cache=0)
    q = DreamLite.from_pretrained(tiny_model_dir, device="cpu", prompt_cache=0, encoder_int8=True)
    assert any("quantized" in type(m).__module__ for m in q.prompt_encoder.model.modules())
    source = random_image(64, 64)
    for mode, image in (("generate", None), ("edit", source)):
        a, mask_a = ref.prompt_encoder.encode(["make it blue"], mode, image=image)
        b, mask_b = q.prompt_encoder.encode(["make it blue"], mode, image=image)
        assert torch.equal(mask_a, mask_b)
        cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()
        assert 0.99 < cos < 1.0, cos  # close, and really quantised (not bit-identical)
    assert q.edit(source, "make it blue", steps=1, seed=0)[0].size == (64, 64)
