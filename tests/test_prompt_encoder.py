"""The prompt encoder: processor equivalence with transformers' Qwen3VLProcessor, prefix stripping, templates."""

import torch

from dreamlite.build import qwen3vl_image_processor, tiny_qwen3vl
from dreamlite.text.qwen3vl import ImageTextProcessor, Qwen3VLPromptEncoder, strip_prefix
from dreamlite.text.templates import EDIT_TEMPLATE, GENERATE_DROP_TOKENS, GENERATE_TEMPLATE, wrap_edit
from dreamlite.text.tokenizer import build_tokenizer

from .helpers import random_image, real_qwen3vl_processor


def test_image_text_processor_matches_qwen3vl_processor():
    tokenizer = build_tokenizer(["a red circle", "make it blue"], vocab_size=400)
    image_processor = qwen3vl_image_processor()
    real = real_qwen3vl_processor(image_processor, tokenizer)
    ours = ImageTextProcessor(image_processor, tokenizer)
    image = random_image(512, 512)
    texts = [EDIT_TEMPLATE.format(""), EDIT_TEMPLATE.format(wrap_edit("a blue square instead of the circle"))]
    expected = real(text=texts, images=[image, image], padding=True, return_tensors="pt")
    got = ours(texts, [image, image])
    assert set(got) == set(expected)
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
    assert int(got["mm_token_type_ids"].sum()) == 2 * 256  # 512x512 at 16 px patches, 2x2 merge


def test_strip_prefix_left_aligns_and_masks():
    hidden = torch.arange(2 * 6, dtype=torch.float32).reshape(2, 6, 1).expand(2, 6, 3)
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])
    embeds, out_mask = strip_prefix(hidden, mask, drop=2)
    assert embeds.shape == (2, 3, 3)
    assert out_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert embeds[0, :, 0].tolist() == [2, 3, 4] and embeds[1, :, 0].tolist() == [8, 0, 0]


def test_generate_template_prefix_is_the_pinned_length():
    # A vocabulary that keeps the template's words whole tokenises the prefix to the official 34 tokens, so the
    # dropped part is exactly system message plus chat scaffolding.
    tokenizer = build_tokenizer(["a red circle"], vocab_size=600)
    prefix = GENERATE_TEMPLATE.split("{}")[0]
    assert len(tokenizer(prefix)["input_ids"]) == GENERATE_DROP_TOKENS


def test_encoder_shapes_and_padding_of_the_negative_prompt():
    torch.manual_seed(0)
    tokenizer = build_tokenizer(["a red circle"], vocab_size=400)
    encoder = Qwen3VLPromptEncoder(tiny_qwen3vl(tokenizer, hidden_size=32), tokenizer, qwen3vl_image_processor())
    embeds, mask = encoder.encode(["", "[Generate]: a red circle"], "generate")
    assert embeds.shape[0] == 2 and embeds.shape[2] == 32
    assert mask[0].sum() < mask[1].sum()
    assert torch.all(embeds[0][mask[0] == 0] == 0)
    edit_embeds, edit_mask = encoder.encode(["", wrap_edit("make it blue")], "edit", image=random_image(64, 64))
    assert edit_mask[1].sum() > 256  # the source image's tokens are part of the kept sequence
