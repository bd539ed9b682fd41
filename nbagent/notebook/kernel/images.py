"""Pictures for the model: values the user means as pictures (a matplotlib Figure, a PIL image, an
`IPython.display.Image`, PNG/JPEG bytes) turned into the core's `BinaryContent` (or `ImageUrl`), and
the images a cell displayed fitted to what a read sends (`MAX_READ_IMAGES`, `MAX_SENT_IMAGE_BYTES`,
`MAX_EDGE`): shrunk, or named with the reason they were not sent; a model known not to read images
gets the names only.

Recognised by their classes' modules, so nbagent imports none of these libraries: a value can only be
a matplotlib Figure if the user's kernel already imported matplotlib, and an image is shrunk only with
the PIL the kernel already imported (matplotlib imports it).
"""

from __future__ import annotations

import io
import struct
import sys
from typing import Any

from IPython.display import Image as DisplayImage

from ...messages import BinaryContent, ImageUrl
from ...models import Model
from ..cell_outputs import DisplayedImage

MAX_IMAGE_BYTES = 5_000_000  # what providers accept in one request part (Anthropic's limit per image)
MAX_READ_IMAGES = 4  # images one read_cell sends
MAX_SENT_IMAGE_BYTES = 1_000_000  # each is re-sent with every later question, until compacted
MAX_EDGE = 1568  # pixels on the long side; providers shrink larger ones themselves (Anthropic's figure)
TEXT_ONLY_MODELS = ("deepseek:", "cerebras:", "openai:gpt-3.5", "openai:o1-mini", "openai:o3-mini", "groq:llama-3",
                    "groq:gemma", "groq:mixtral", "groq:openai/gpt-oss")  # models known to refuse images
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


class ImageTooLarge(ValueError):
    """An image over `MAX_IMAGE_BYTES`: refused with its size rather than sent."""


def image_of(value: Any) -> BinaryContent | ImageUrl | None:
    """The image a value shows, or None if it is not one of the picture kinds."""
    if isinstance(value, (bytes, bytearray)):
        media_type = _media_type(bytes(value))
        return None if media_type is None else _checked(BinaryContent(data=bytes(value), media_type=media_type))
    if isinstance(value, DisplayImage):
        if value.data is None:
            return ImageUrl(url=value.url) if value.url else None
        media_type = _media_type(value.data) or f"image/{value.format}"
        return _checked(BinaryContent(data=value.data, media_type=media_type))
    module = type(value).__module__ or ""
    if module.startswith("matplotlib.figure") and hasattr(value, "savefig"):
        return _checked(BinaryContent(data=figure_png(value), media_type="image/png"))
    if module.startswith("PIL.") and hasattr(value, "save") and hasattr(value, "size"):
        return _checked(BinaryContent(data=_saved(value.save, format="PNG"), media_type="image/png"))
    return None


def describe_image(image: BinaryContent | ImageUrl) -> str:
    """A few words for an image: its kind and size."""
    if isinstance(image, ImageUrl):
        return f"image at {image.url[:60]}"
    return f"{image.media_type} image, {len(image.data) / 1000:,.0f} kB"


def figure_png(figure: Any) -> bytes:
    """A matplotlib figure as PNG, trimmed as the inline backend shows it."""
    return _saved(figure.savefig, format="png", bbox_inches="tight")


def _media_type(data: bytes) -> str | None:
    return next((kind for signature, kind in _SIGNATURES.items() if data.startswith(signature)), None)


def _saved(save: Any, **options: Any) -> bytes:
    buffer = io.BytesIO()
    save(buffer, **options)
    return buffer.getvalue()


def _checked(image: BinaryContent) -> BinaryContent:
    if len(image.data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"the image is {len(image.data) / 1e6:.1f} MB; models take at most "
                            f"{MAX_IMAGE_BYTES / 1e6:.0f} MB (save the figure smaller, e.g. dpi=72)")
    return image


def text_only(model: Model) -> str | None:
    """Why `model` gets images by name only, or None when it reads them as far as nbagent knows: the
    built-in offline model, TestModel and the `TEXT_ONLY_MODELS` do not; any other is sent them (a server
    that refuses says so in one line)."""
    if model.system in ("offline", "test"):
        return f"the {model.system} model does not read images"
    return f"{model.label} does not read images" if model.label.startswith(TEXT_ONLY_MODELS) else None


def displayed_images(images: list[DisplayedImage], model: Model) -> tuple[list[BinaryContent], list[str]]:
    """The images a cell displayed, as a read sends them, and a line for each (numbered as in the cell's
    displays): what was sent, or why not."""
    sent: list[BinaryContent] = []
    lines = []
    blind = text_only(model)
    for number, image in enumerate(images, 1):
        if blind is not None:
            reason = blind
        elif image.data is None:
            reason = "let go to bound the kernel's memory (run the cell again to see it)"
        elif len(sent) >= MAX_READ_IMAGES:
            reason = f"at most {MAX_READ_IMAGES} images are sent per read"
        else:
            fitted = _fitted(image.data, image.media_type)
            if isinstance(fitted, BinaryContent):
                sent.append(fitted)
                lines.append(f"image {number}: sent after this result ({_described(fitted.data, fitted.media_type)}"
                             f"{'' if fitted.data is image.data else ', shrunk from ' + _described(image.data)})")
                continue
            reason = fitted
        lines.append(f"image {number}: not sent: {reason}")
    return sent, lines


def _fitted(data: bytes, published_as: str) -> BinaryContent | str:
    """`data` as an image within `MAX_SENT_IMAGE_BYTES` and `MAX_EDGE` (shrunk with the kernel's PIL when
    it has one), or why it cannot be sent."""
    media_type = _media_type(data)
    if media_type is None:
        return f"the display's {published_as} data is not a PNG or JPEG image"
    pixels = _pixels(data)
    if len(data) <= MAX_SENT_IMAGE_BYTES and (pixels is None or max(pixels) <= MAX_EDGE):
        return BinaryContent(data=data, media_type=media_type)
    shrunk = _shrunk(data, media_type)
    if shrunk is not None:
        return BinaryContent(data=shrunk, media_type=media_type)
    if len(data) <= MAX_SENT_IMAGE_BYTES:
        return BinaryContent(data=data, media_type=media_type)  # only too wide: the provider shrinks it
    pil = sys.modules.get("PIL.Image")
    how = "it could not be shrunk" if pil is not None else "this kernel has not imported PIL to shrink it"
    return f"{len(data) / 1e6:.1f} MB is over the {MAX_SENT_IMAGE_BYTES / 1e6:g} MB limit for an image read, and {how}"


def _shrunk(data: bytes, media_type: str) -> bytes | None:
    """The image made at most `MAX_EDGE` pixels on its long side, and halved until it fits in
    `MAX_SENT_IMAGE_BYTES`; None without PIL, or when PIL cannot read it."""
    pil = sys.modules.get("PIL.Image")
    if pil is None:
        return None
    try:
        with pil.open(io.BytesIO(data)) as picture:
            picture.thumbnail((MAX_EDGE, MAX_EDGE))
            while True:
                shrunk = _saved(picture.save, format="PNG" if media_type == "image/png" else "JPEG")
                if len(shrunk) <= MAX_SENT_IMAGE_BYTES or min(picture.size) < 64:
                    return shrunk if len(shrunk) <= MAX_SENT_IMAGE_BYTES else None
                picture.thumbnail((picture.width // 2, picture.height // 2))
    except Exception:  # an image PIL cannot read (or a bomb it refuses) is named, not sent
        return None


def _pixels(data: bytes) -> tuple[int, int] | None:
    """Width and height, from a PNG's header, or from the kernel's PIL for a JPEG; None when unknown."""
    if _media_type(data) == "image/png" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    pil = sys.modules.get("PIL.Image")
    if pil is None:
        return None
    try:
        with pil.open(io.BytesIO(data)) as picture:
            return picture.size
    except Exception:  # unreadable: the size stays unknown
        return None


def _described(data: bytes, media_type: str | None = None) -> str:
    pixels = _pixels(data)
    shown = [media_type] if media_type else []
    shown += [f"{pixels[0]}×{pixels[1]}"] if pixels else []
    return ", ".join([*shown, f"{len(data) / 1000:,.0f} kB"])
