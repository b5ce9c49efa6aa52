"""What int8 quantisation leaves alone, as name patterns shared by the OpenVINO (NNCF) and onnxruntime paths.

DreamLite's maintainers describe their W8A8 recipe (DreamLite issue #17): post-training, int8 per-channel
symmetric weights, only GEMMs and convolutions quantised, and `time_embedding`, `add_embedding`, `conv_in`,
`conv_out` and the norms kept in full precision. These are the defaults; `--exclude` replaces them.
"""

from __future__ import annotations

import re

DEFAULT_EXCLUSIONS = ("time_embedding", "add_embedding", "conv_in", "conv_out", "conv_norm_out", r"norm\w*")


def exclusion_patterns(exclusions) -> list[str]:
    """Regular expressions matching graph-node names under each excluded module. Exported node names carry the
    module path: OpenVINO `__module.unet.conv_in/aten::_convolution/Convolution`, ONNX `/unet/conv_in/Conv`."""
    return [rf".*[./]{fragment}[./].*" for fragment in exclusions]


def excluded(name: str, exclusions) -> bool:
    return any(re.fullmatch(p, name) for p in exclusion_patterns(exclusions))
