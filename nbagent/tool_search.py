"""Tool search: tools registered with `defer_loading=True` stay hidden until the model searches for them,
as PydanticAI's tools-advanced page ("Tool Search") describes it.

An agent with many tools spends input tokens on their definitions in every request, and picks worse
among many. A deferred tool is left out of what the model is told; instead it sees a `search_tools`
function tool (`queries`: a few words each). Searching matches the words against the deferred tools'
names and descriptions (or asks your own `strategy(ctx, queries, tools)` function) and answers with
the tools found, `{"discovered_tools": [{"name": ..., "description": ...}]}`; from the next request on
those tools are offered like any other and can be called. A tool never searched for cannot be called.

What was discovered is read from the conversation itself (the `search_tools` results in it), so a
history passed back to a later run keeps its tools, and a history cut by compaction loses them until
the model searches again (searching again is always allowed). This is PydanticAI's local fallback;
the providers' own server-side search (Anthropic BM25 / regex, OpenAI Responses) is not used.

`ToolSearch()` (the capability, in capabilities.py) is added to an agent on its first deferred tool;
give one yourself (`capabilities=[ToolSearch(strategy=..., max_results=...)]`) to choose how tools are
found. This module holds what it does: which tools a step offers, and the `search_tools` tool.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Awaitable, Callable, Mapping, Sequence, Union

from .errors import ModelRetry, UserError
from .messages import ModelMessage, ModelRequest, ToolReturnPart
from .tools import RunContext, Tool, ToolDefinition

__all__ = ["ToolSearchStrategy", "SEARCH_TOOL_NAME", "check_search", "offered_tools", "search_tool"]

SEARCH_TOOL_NAME = "search_tools"
TOOL_DESCRIPTION = ("Search for more tools by what they do. Some tools are not listed until found: when none of "
                    "the tools you have fits the task, search with a few specific words likely to appear in the "
                    "name or description of the tool you need. Found tools can be called from your next step. "
                    "If nothing is found, do not search again with the same words.")
PARAMETER_DESCRIPTION = ("Search queries, each a few words (e.g. 'mortgage payment'); a tool matches when its name "
                         "or description holds any of the words.")

ToolSearchStrategy = Callable[[RunContext[Any], Sequence[str], Sequence[ToolDefinition]],
                              Union[Sequence[str], Awaitable[Sequence[str]]]]
"""`fn(ctx, queries, tools)`, sync or async: the names of the matching tools, best first."""

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str | None) -> set[str]:
    return set(_WORD.findall((text or "").lower()))


def keyword_matches(queries: Sequence[str], tools: Sequence[ToolDefinition]) -> list[str]:
    """The tools sharing words with the queries (`mortgage_calculator` has the words mortgage and
    calculator), the most shared words first, ties in registration order."""
    wanted = set().union(*(_words(query) for query in queries)) if queries else set()
    scored = [(len(wanted & (_words(tool.name.replace("_", " ")) | _words(tool.description))), index, tool.name)
              for index, tool in enumerate(tools)]
    return [name for score, _, name in sorted(scored, key=lambda item: (-item[0], item[1])) if score]


def discovered_names(messages: Sequence[ModelMessage]) -> set[str]:
    """The tools the conversation's `search_tools` results revealed."""
    found: set[str] = set()
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart) and part.tool_name == SEARCH_TOOL_NAME \
                        and isinstance(part.content, Mapping):
                    found.update(entry["name"] for entry in part.content.get("discovered_tools", ())
                                 if isinstance(entry, Mapping) and isinstance(entry.get("name"), str))
    return found


def check_search(strategy: Any, max_results: Any) -> None:
    """`ToolSearch`'s options, or a one-line `UserError` saying what to give instead."""
    if isinstance(strategy, str) and strategy != "keywords":
        raise UserError(f"ToolSearch(strategy={strategy!r}): nbagent searches tools itself, not with a provider's "
                        "native search; use 'keywords' (the default) or a function fn(ctx, queries, tools) "
                        "returning tool names")
    if strategy is not None and not isinstance(strategy, str) and not callable(strategy):
        raise UserError(f"ToolSearch(strategy=...) takes 'keywords' or a function, got {type(strategy).__name__}")
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise UserError(f"ToolSearch(max_results={max_results!r}): give a whole number >= 1")


def offered_tools(tool_defs: list[ToolDefinition], messages: Sequence[ModelMessage]) -> list[ToolDefinition]:
    """The eager tools, the deferred ones found so far, and (last) `search_tools` while any are deferred."""
    others = [tool_def for tool_def in tool_defs if tool_def.name != SEARCH_TOOL_NAME]
    if len(others) == len(tool_defs) or not any(tool_def.defer_loading for tool_def in others):
        return others
    found = discovered_names(messages)
    search = [tool_def for tool_def in tool_defs if tool_def.name == SEARCH_TOOL_NAME]
    return [tool_def for tool_def in others if not tool_def.defer_loading or tool_def.name in found] + search


def search_tool(tools: Mapping[str, Tool[Any]], strategy: ToolSearchStrategy | str | None, max_results: int,
                tool_description: str | None, parameter_description: str | None) -> Tool[Any]:
    """The `search_tools` tool over an agent's `tools` (read when the model searches, so tools
    registered later are found too)."""

    async def search_tools(ctx: RunContext[Any], queries: list[str]) -> dict[str, Any]:
        if not isinstance(queries, list) or not all(isinstance(query, str) for query in queries):
            raise ModelRetry('queries must be a list of strings, e.g. ["mortgage payment"]')
        corpus = [tool.tool_def for tool in tools.values() if tool.defer_loading]
        if callable(strategy):
            names = strategy(ctx, queries, corpus)
            names = list(await names if inspect.isawaitable(names) else names)
            unknown = [name for name in names if name not in {tool.name for tool in corpus}]
            if unknown:
                label = getattr(strategy, "__qualname__", repr(strategy))
                raise UserError(f"ToolSearch strategy {label} returned {unknown[0]!r}, which is no deferred tool; "
                                "return names from the tools it is given")
        else:
            names = keyword_matches(queries, corpus)
        found = discovered_names(ctx.messages)  # tools not found yet come first
        names = sorted(dict.fromkeys(names), key=lambda name: name in found)[:max_results]
        described = {tool.name: tool.description for tool in corpus}
        return {"discovered_tools": [{"name": name, "description": described[name]} for name in names]}

    schema = {"type": "object", "additionalProperties": False, "required": ["queries"],
              "properties": {"queries": {"type": "array", "items": {"type": "string"},
                                         "description": parameter_description or PARAMETER_DESCRIPTION}}}
    return Tool.from_schema(search_tools, SEARCH_TOOL_NAME, tool_description or TOOL_DESCRIPTION, schema,
                            takes_ctx=True)
