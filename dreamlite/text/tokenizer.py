"""Build a small Qwen2-style byte-level BPE tokenizer offline, from a corpus.

Qwen3-VL's own tokenizer cannot be downloaded here, so tiny test pipelines and the bundled ShapesWorld model use
a tokenizer of the same class (`Qwen2Tokenizer`: Qwen's pre-tokenisation regex, byte-level BPE) with a small
vocabulary learned from their own text, and the chat/vision special tokens Qwen3-VL uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from .templates import EDIT_TEMPLATE, GENERATE_TEMPLATE, wrap_edit, wrap_generate

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2's pre-tokenisation pattern (a published format fact): contractions, letter runs, single digits, ...
_QWEN_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def template_corpus() -> list[str]:
    """The fixed text every DreamLite prompt goes through, so that it tokenises compactly."""
    return [
        GENERATE_TEMPLATE.format(wrap_generate("")),
        EDIT_TEMPLATE.format(wrap_edit("")),
    ]


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 1024):
    """Train a byte-level BPE on `corpus` and return a transformers `Qwen2Tokenizer`."""
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(corpus) + template_corpus(), trainer)
    model = bpe.get_vocab()
    tok = Qwen2Tokenizer(vocab=model, merges=_merges(bpe), eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return tok


def _merges(bpe: Tokenizer) -> list[tuple[str, str]]:
    import json

    state = json.loads(bpe.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state]
