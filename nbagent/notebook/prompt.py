"""What goes into a question and comes out of an answer: `{expr}` interpolation, code block extraction.

A `{expr}` whose value is a picture (a matplotlib Figure, a PIL image, an IPython Image, PNG/JPEG
bytes) is sent as an image part of the question, where it stands in the text; any other value as text.
"""

from __future__ import annotations

import re
import string
from typing import Any, Mapping, Sequence

from ..messages import UserContent
from .kernel.images import ImageTooLarge, image_of

MAX_VALUE_CHARS = 2000
_IMAGE_MARK = "\0image\0"  # where an image stands in the formatted text (a NUL cannot come from str.format)

_CODE_BLOCK = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)


class InterpolationError(Exception):
    """A `{...}` field of the prompt could not be filled in."""


class _NamespaceFormatter(string.Formatter):
    """str.format where each field is a Python expression evaluated in the user's namespace."""

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = namespace
        self.notes: list[str] = []
        self.images: list[UserContent] = []

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        expression = field_name.strip()
        try:
            value = eval(expression, dict(self.namespace))  # the user's own kernel, the user's own expression
        except NameError as exc:
            name = getattr(exc, "name", None) or str(exc)
            raise InterpolationError(
                f"unknown name {name!r} in {{{expression}}}: define it first, or write {{{{ and }}}} for literal braces"
            ) from None
        except SyntaxError:
            raise InterpolationError(
                f"{{{expression}}} is not a Python expression; write {{{{ and }}}} for literal braces"
            ) from None
        except Exception as exc:
            raise InterpolationError(f"{{{expression}}} failed: {type(exc).__name__}: {exc}") from None
        return _Shown(value, expression, self.notes), expression

    def format_field(self, value: Any, format_spec: str) -> str:
        if not isinstance(value, _Shown):
            return format(value, format_spec)
        if not format_spec and value.conversion is None:
            try:
                image = image_of(value.value)
            except ImageTooLarge as exc:
                raise InterpolationError(f"{{{value.expression}}}: {exc}") from None
            if image is not None:
                self.images.append(image)
                return _IMAGE_MARK
        return value.render(format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion and isinstance(value, _Shown):
            value.conversion = conversion
            return value
        return super().convert_field(value, conversion)


class _Shown:
    """A value on its way into the prompt, truncated (with a note) when it is long."""

    def __init__(self, value: Any, expression: str, notes: list[str]) -> None:
        self.value = value
        self.expression = expression
        self.notes = notes
        self.conversion: str | None = None

    def render(self, format_spec: str) -> str:
        if self.conversion == "r":
            text = repr(self.value)
        elif self.conversion == "a":
            text = ascii(self.value)
        elif format_spec:
            text = format(self.value, format_spec)
        else:
            text = _text_of(self.value)
        if len(text) > MAX_VALUE_CHARS:
            self.notes.append(
                f"{{{self.expression}}} is {len(text):,} characters; sent the first {MAX_VALUE_CHARS:,}"
            )
            text = text[:MAX_VALUE_CHARS] + f"\n… [truncated: {len(text) - MAX_VALUE_CHARS:,} more characters]"
        return text


def _text_of(value: Any) -> str:
    """Tables as text the model reads well: dataframes via to_string with bounded rows, else str()."""
    to_string = getattr(value, "to_string", None)
    if callable(to_string) and hasattr(value, "shape"):
        try:
            return to_string(max_rows=20, max_cols=20)
        except TypeError:
            return to_string()
    return str(value)


def interpolate(prompt: str, namespace: Mapping[str, Any]) -> tuple[str | list[UserContent], list[str]]:
    """Fill `{expr}` fields from the namespace (`{{`/`}}` are literal braces); returns the question and
    notes. The question is text, or text and images in order when a field held a picture."""
    if "{" not in prompt and "}" not in prompt:
        return prompt, []
    formatter = _NamespaceFormatter(namespace)
    try:
        text = formatter.vformat(prompt, (), {})
    except ValueError as exc:  # unbalanced braces
        raise InterpolationError(f"cannot read the braces in the question ({exc}); write {{{{ and }}}} for literal braces") from None
    if not formatter.images:
        return text, formatter.notes
    return _with_images(text.split(_IMAGE_MARK), formatter.images), formatter.notes


def _with_images(texts: Sequence[str], images: Sequence[UserContent]) -> list[UserContent]:
    """The text pieces with each image between them, where its field was; empty pieces left out."""
    content: list[UserContent] = [texts[0]] if texts[0].strip() else []
    for image, text in zip(images, texts[1:]):
        content.append(image)
        if text.strip():
            content.append(text)
    return content


def first_code_block(markdown: str) -> str | None:
    """The body of the first fenced code block of an answer, or None."""
    match = _CODE_BLOCK.search(markdown)
    return match.group(2).rstrip("\n") if match else None
