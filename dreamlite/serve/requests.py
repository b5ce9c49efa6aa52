"""Request bodies of the HTTP API and the checks on them: every bad input is refused here, with one message,
before a job is queued (so the worker only sees what the pipeline can take)."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field, field_validator

from ..images import ImageInputError, load_image

MAX_SIDE = 2048  # pixels, per side of a requested output
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """What the server accepts. An upload over `max_upload_pixels` is refused (413), not scaled: the default,
    2048x2048 pixels, refuses a 4096x4096 image."""

    max_upload_pixels: int = 2048 * 2048
    max_upload_bytes: int = 32 * 1024 * 1024
    max_side: int = MAX_SIDE
    max_images: int = 8
    max_steps: int = 200


class GenerateRequest(BaseModel):
    prompt: str = Field(description="the text to draw")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="noise seed; random when omitted")
    steps: int | None = Field(None, ge=1, description="denoising steps (model default when omitted)")
    guidance: float | None = Field(None, ge=0, le=30, description="text guidance scale")
    num_images: int = Field(1, ge=1, description="images from one seed")
    width: int | None = Field(None, ge=1, le=MAX_SIDE)
    height: int | None = Field(None, ge=1, le=MAX_SIDE)
    negative_prompt: str = ""

    @field_validator("prompt")
    @classmethod
    def not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is empty")
        return value


class EditRequest(GenerateRequest):
    image: str = Field(description="the source image, base64 PNG or JPEG (a data: URL prefix is accepted)")
    image_guidance: float | None = Field(None, ge=0, le=30, description="image guidance scale")


class InspectRequest(BaseModel):
    image: str = Field(description="a PNG, base64; its stored parameters are returned")


class RequestError(ValueError):
    """A request the server refuses; `status` is the HTTP code."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def decode_image(data: str, limits: Limits) -> tuple[Image.Image, bytes]:
    """Base64 (optionally a data: URL) -> (RGB image, the raw file bytes), or a RequestError."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    if len(data) * 3 // 4 > limits.max_upload_bytes:
        raise RequestError(f"the image is over the upload limit of {limits.max_upload_bytes} bytes", 413)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("the image is not valid base64") from None
    try:
        image = Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, OSError):
        raise RequestError("the upload is not a PNG or JPEG image") from None
    if image.format not in ("PNG", "JPEG"):
        raise RequestError(f"the upload is {image.format}, not a PNG or JPEG image")
    if image.width * image.height > limits.max_upload_pixels:
        raise RequestError(f"the image is {image.width}x{image.height}, over the limit of "
                           f"{limits.max_upload_pixels} pixels (--max-upload-pixels)", 413)
    try:
        image.load()
        return load_image(image), raw
    except (OSError, SyntaxError, ImageInputError):
        raise RequestError("the image is truncated or corrupt") from None


def check_sampling(req: GenerateRequest, limits: Limits, size_multiple: int) -> None:
    """Refuse numbers the server or the model cannot take."""
    if req.num_images > limits.max_images:
        raise RequestError(f"num_images must be at most {limits.max_images}, got {req.num_images}")
    if req.steps is not None and req.steps > limits.max_steps:
        raise RequestError(f"steps must be at most {limits.max_steps}, got {req.steps}")
    for name in ("width", "height"):
        value = getattr(req, name)
        if value is not None and (value % size_multiple or value > limits.max_side):
            near = min(limits.max_side, max(size_multiple, round(value / size_multiple) * size_multiple))
            raise RequestError(f"{name} {value} is not a multiple of {size_multiple} up to {limits.max_side} "
                               f"(this model's size step); try {near}")
