"""The official DreamLite prompt wording for Qwen3-VL (facts from the public release, matched exactly).

The user's text is wrapped as "[Generate]: ..." or "[Edit]: A diptych ...", placed in a chat template, encoded,
and the template prefix (system message and chat scaffolding) is dropped from the hidden states so that the
U-Net's cross-attention sees only the user's part. The prefix lengths are pinned numbers, as in the release.
"""

GENERATE_TEMPLATE = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, "
    "quantity, text, spatial relationships of the objects and background:<|im_end|>\n"
    "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
)
GENERATE_DROP_TOKENS = 34

EDIT_TEMPLATE = (
    "<|im_start|>system\nDescribe the key features of the input image (color, shape, size, "
    "texture, objects, background), then explain how the user's text instruction should alter "
    "or modify the image. Generate a new image that meets the user's requirements while maintaining "
    "consistency with the original input where appropriate.<|im_end|>\n<|im_start|>user\n"
    "<|vision_start|><|image_pad|><|vision_end|>{}<|im_end|>\n<|im_start|>assistant\n"
)
EDIT_DROP_TOKENS = 64

# The source image is shown to the prompt encoder at this size in edit mode.
EDIT_ENCODER_IMAGE_SIZE = 512

# Official cap on the user's prompt in generate mode, in tokens after the template prefix.
MAX_PROMPT_TOKENS = 200


def wrap_generate(prompt: str) -> str:
    return f"[Generate]: {prompt}"


def wrap_edit(instruction: str) -> str:
    return (
        "[Edit]: A diptych with two side-by-side images of the same scene. "
        f"Compared to the right side, the left one has {instruction}"
    )
