"""Images and other bytes in a conversation: what a user prompt or a tool return may hold besides text.

PydanticAI's shapes: `BinaryContent(data, media_type)` (saved in JSON as base64) and `ImageUrl(url)`.
Each wire protocol turns them into its own image parts (models/openai.py, models/anthropic.py).
"""

from __future__ import annotations

import base64
from typing import ClassVar, Literal, Union

from pydantic import ConfigDict, model_validator

from .reprs import Positional


class BinaryContent(Positional):
    """Bytes sent to the model, e.g. a PNG of a plot. Saved in JSON as base64."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
    positional: ClassVar[tuple[str, ...]] = ("data", "media_type")

    data: bytes
    media_type: str
    kind: Literal["binary"] = "binary"

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode()

    @property
    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{self.base64}"

    def __repr__(self) -> str:  # never dump megabytes of image bytes into a traceback or a cell
        return f"BinaryContent(<{len(self.data):,} bytes>, media_type={self.media_type!r})"


class BinaryImage(BinaryContent):
    """An image's bytes (`BinaryContent` whose media type is `image/...`), as PydanticAI names an image output."""

    @model_validator(mode="after")
    def _an_image(self) -> "BinaryImage":
        if not self.is_image:
            raise ValueError(f"BinaryImage needs an image media type (image/png, ...), got {self.media_type!r}")
        return self


class ImageUrl(Positional):
    """An image the provider fetches itself (an http(s) URL or a data: URI)."""

    positional: ClassVar[tuple[str, ...]] = ("url",)

    url: str
    kind: Literal["image-url"] = "image-url"


UserContent = Union[str, ImageUrl, BinaryContent]
"""One piece of a user prompt: text or an image."""
MediaContent = (BinaryContent, ImageUrl)


def describe_media(content: BinaryContent | ImageUrl) -> str:
    """How an image is named in text (summaries, word counts, the note beside a tool's image)."""
    if isinstance(content, ImageUrl):
        return f"image at {content.url[:60]}" if not content.url.startswith("data:") else "image"
    return f"{content.media_type} image" if content.is_image else f"{content.media_type} file"
