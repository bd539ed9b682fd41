"""The loopback provider's prompt cache: which words of a request a real provider would read from its
cache, so usage reports cached tokens the way OpenAI and Anthropic do.

Both protocols cache prefixes of the request. A request is cut into segments (the system text, each
tool, each message content block) and a prefix is known by the hash of its segments.

* Anthropic caches only where the request puts a breakpoint (`cache_control` on the system, a tool, a
  content block, or the top-level automatic one on the last block); a later request reads the longest
  cached prefix that ends at one of its block boundaries up to its last breakpoint, and writes the rest
  up to that breakpoint. Wire usage: `input_tokens` (not cached), `cache_read_input_tokens`,
  `cache_creation_input_tokens`.
* OpenAI caches automatically: every message boundary of every request; `prompt_tokens` counts all,
  `prompt_tokens_details.cached_tokens` the prefix read. (A real server caches from 1,024 tokens on,
  in steps of 128; the loopback counts whole messages, from the first.)

Words stand in for tokens, counted as `prompt_words` counts them (tools count nothing).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CacheUse:
    """How many of a request's input words were read from the cache and written to it."""

    read: int = 0
    write: int = 0


def _words(text: str) -> int:
    return len(text.split())


def _segments(body: dict[str, Any], anthropic: bool) -> list[tuple[str, int, bool]]:
    """(canonical JSON, words, is a breakpoint) for each segment, in the order the provider reads them."""
    segments: list[tuple[str, int, bool]] = []

    def add(value: Any, words: int) -> None:
        marked = isinstance(value, dict) and "cache_control" in value
        plain = {k: v for k, v in value.items() if k != "cache_control"} if isinstance(value, dict) else value
        segments.append((json.dumps(plain, sort_keys=True), words, marked))

    if anthropic:
        for tool in body.get("tools") or []:
            add(tool, 0)
        system = body.get("system")
        for block in [system] if isinstance(system, str) else system or []:
            add(block, _words(block if isinstance(block, str) else str(block.get("text", ""))))
    elif body.get("tools"):
        add(body["tools"], 0)
    for message in body.get("messages") or []:
        content = message.get("content")
        if anthropic and isinstance(content, list):
            for block in content:
                add({"role": message.get("role"), **block}, _words(_block_text(block)))
            continue
        text = content if isinstance(content, str) else " ".join(_block_text(block) for block in content or [])
        add({"role": message.get("role"), "content": content}, _words(text))
    return segments


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    if isinstance(block.get("text"), str):
        return block["text"]
    if block.get("type") == "tool_result":
        content = block.get("content")
        return content if isinstance(content, str) else " ".join(_block_text(b) for b in content or [])
    return ""


class PromptCache:
    """The prefixes cached so far, across requests (thread-safe: the server serves on threads)."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def use(self, body: Any, *, anthropic: bool) -> CacheUse:
        """What this request reads from the cache and writes to it (and remember what it wrote)."""
        if not isinstance(body, dict):
            return CacheUse()
        segments = _segments(body, anthropic)
        if anthropic and body.get("cache_control") and segments:
            segments[-1] = (segments[-1][0], segments[-1][1], True)
        digest = hashlib.sha256()
        prefixes: list[tuple[str, int, bool]] = []  # (hash, words so far, breakpoint here)
        words = 0
        for text, count, marked in segments:
            digest.update(text.encode())
            words += count
            prefixes.append((digest.copy().hexdigest(), words, marked or not anthropic))
        with self._lock:
            last = max((i for i, (_, _, marked) in enumerate(prefixes) if marked), default=-1)
            read = 0
            for key, count, _ in prefixes[: last + 1]:
                if key in self._known:
                    read = count
            written = prefixes[last][1] - read if last >= 0 else 0
            self._known.update(key for key, _, marked in prefixes[: last + 1] if marked)
        return CacheUse(read=read, write=written if anthropic else 0)
