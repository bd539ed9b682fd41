"""How much a model can read at once: its context window, from a table of the presets' common models,
from what the user set, or learned from the provider's own "the context is too long" error; and how
many tokens a conversation takes, estimated without a tokenizer.

The estimate is deliberately simple and deterministic: about four characters per token for text (and
JSON), a fixed amount per image, a few tokens per part. It decides *when* to compact (compaction.py
acts at 80% of the window, which leaves room for the estimate's error); a provider that still says
the context is too long teaches the window it has and the request is compacted and sent again.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from .errors import ModelHTTPError
from .messages import ModelMessage, ModelRequest, part_text
from .media import MediaContent

# name prefix -> tokens; the longest matching prefix wins. Provider-wide entries end with ":".
CONTEXT_WINDOWS: dict[str, int] = {
    "openai:gpt-4o": 128_000, "openai:gpt-4.1": 1_047_576, "openai:gpt-4-turbo": 128_000, "openai:gpt-4": 8_192,
    "openai:gpt-3.5-turbo": 16_385, "openai:gpt-5": 400_000, "openai:o1": 200_000, "openai:o3": 200_000,
    "openai:o4-mini": 200_000,
    "anthropic:": 200_000,
    "gemini:gemini-1.5-pro": 2_097_152, "gemini:": 1_048_576,
    "groq:llama-3": 131_072, "groq:": 131_072,
    "mistral:mistral-large": 131_072, "mistral:mistral-small": 32_768, "mistral:codestral": 256_000,
    "mistral:": 32_768,
    "deepseek:": 65_536,
    "together:": 131_072, "fireworks:": 131_072, "cerebras:": 8_192,
    "openrouter:anthropic/": 200_000, "openrouter:openai/gpt-4o": 128_000, "openrouter:google/gemini": 1_048_576,
    "ollama:": 4_096,  # Ollama's default num_ctx: it silently drops what does not fit, so compact early
    "lmstudio:": 4_096, "vllm:": 8_192,
}

_learned: dict[str, int] = {}  # model label -> the window its provider said it has (this process)

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1_500
PART_TOKENS = 4


def context_window(model_label: str) -> int | None:
    """The model's context window in tokens (`provider:name`), or None when unknown."""
    if model_label in _learned:
        return _learned[model_label]
    best = max((prefix for prefix in CONTEXT_WINDOWS if model_label.startswith(prefix)), key=len, default=None)
    return None if best is None else CONTEXT_WINDOWS[best]


def estimate_tokens(messages: Sequence[ModelMessage]) -> int:
    """About how many tokens these messages take (see the module docstring for how)."""
    chars = images = parts = 0
    for message in messages:
        for part in message.parts:
            parts += 1
            chars += len(part_text(part))  # type: ignore[arg-type]
            content = getattr(part, "content", None)
            if isinstance(content, MediaContent):
                images += 1
            elif isinstance(content, list):
                images += sum(isinstance(piece, MediaContent) for piece in content)
        if isinstance(message, ModelRequest) and message.instructions:
            chars += len(message.instructions) if message is messages[-1] else 0  # sent once, as the latest say
    return math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS + parts * PART_TOKENS


_TOO_LONG = re.compile(
    r"context_length_exceeded|maximum context length|prompt is too long|context (?:window|length|size)"
    r"|too many (?:input )?tokens|reduce the length of the messages|input is too long|exceeds? the (?:model'?s? )?"
    r"(?:maximum|available) context", re.IGNORECASE)
_WINDOW = (re.compile(r"maximum context length is (\d+)", re.IGNORECASE),
           re.compile(r"\d+ tokens > (\d+) maximum", re.IGNORECASE),
           re.compile(r"context (?:window|length|size)(?: limit)? (?:of|is) (\d+)", re.IGNORECASE))


def context_too_long(error: BaseException) -> bool:
    """Whether the provider refused the request because it does not fit the context window (OpenAI's
    `context_length_exceeded`, Anthropic's `prompt is too long`, the wordings of compatible servers)."""
    return (isinstance(error, ModelHTTPError) and error.status_code in (400, 413, 422)
            and bool(_TOO_LONG.search(error.body or "")))


def learn_window(model_label: str, error: ModelHTTPError, sent: int) -> int:
    """Remember the window the model has, in this module's estimate (what it counts, not the provider's
    tokens): below what was just refused (`sent`, estimated) and below the window the error states."""
    stated = next((int(match.group(1)) for pattern in _WINDOW if (match := pattern.search(error.body or ""))), None)
    window = int(min(sent * 0.9, stated or math.inf, context_window(model_label) or math.inf))
    _learned[model_label] = window
    return window
