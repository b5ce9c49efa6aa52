"""What int8 quantisation leaves alone, as name patterns shared by the OpenVINO (NNCF) and onnxruntime paths.

DreamLite's maintainers describe their W8A8 recipe (DreamLite issue #17): post-training, int8 per-channel
symmetric weights, only GEMMs and convolutions quantised, and `time_embedding`, `add_embedding`, `conv_in`,
`conv_out` and the norms kept in full precision. We add the cross-attention output projections (`attn2.to_out`,
one small GEMM per transformer block): quantised, they cost the bundled model most of its background edits
(ShapesBench background 0.625 against 0.938 in fp32; 0.859 with them in float, while keeping `attn2.to_q`,
`time_emb_proj`, `proj_in`/`proj_out` or the feed-forward layers in float did not help). These are the defaults;
`--exclude` replaces them.
"""

from __future__ import annotations

import re

DEFAULT_EXCLUSIONS = ("time_embedding", "add_embedding", "conv_in", "conv_out", "conv_norm_out", r"norm\w*",
                      r"attn2\.to_out")


def exclusion_patterns(exclusions) -> list[str]:
    """Regular expressions matching graph-node names under each excluded module. Exported node names carry the
    module path: OpenVINO `__module.unet.conv_in/aten::_convolution/Convolution`, ONNX `/unet/conv_in/Conv`."""
    return [rf".*[./]{fragment}[./].*" for fragment in exclusions]


def excluded(name: str, exclusions) -> bool:
    return any(re.fullmatch(p, name) for p in exclusion_patterns(exclusions))
