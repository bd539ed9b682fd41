"""Values the user means as pictures: a matplotlib Figure, a PIL image, an `IPython.display.Image`, or
PNG/JPEG bytes, turned into the core's `BinaryContent` (or `ImageUrl`) so a model sees the image.

Recognised by their classes' modules, so nbagent imports none of these libraries: a value can only be
a matplotlib Figure if the user's kernel already imported matplotlib.
"""

from __future__ import annotations

import io
from typing import Any

from IPython.display import Image as DisplayImage

from ...messages import BinaryContent, ImageUrl

MAX_IMAGE_BYTES = 5_000_000  # what providers accept in one request part (Anthropic's limit per image)
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
