"""The clients under test, all talking to the same loopback server: nbagent, PydanticAI, the openai
SDK, and the raw httpx code every ratio is taken against (the cheapest code that does the same job).

PydanticAI and the openai SDK are optional (`pip install -e '.[bench]'`); without them their rows
are skipped with a note.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import httpx
from pydantic import BaseModel

from benchmarks.table import NOTES
from nbagent import Agent, OpenAIModel
from nbagent._http import close_client

API_KEY = "sk-bench-0123456789"
VALUES = {"a": "42"}
# The tool as the raw httpx baseline declares it: written by hand, where the agents derive it from get_value.
TOOL_DEFINITIONS = [
    {
        "type": "function",
        "function": {
            "name": "get_value",
            "description": "The value stored under a key.",
            "parameters": {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]},
        },
    }
]


def get_value(key: str) -> str:
    """The value stored under a key."""
    return VALUES[key]


class Row(BaseModel):
    name: str
    value: float
    note: str


class Report(BaseModel):
    """The structured output asked for: a title and a growing table (server.report's shape)."""

    title: str
    rows: list[Row]


def text_of(delta: dict[str, Any]) -> str | None:
    """What a text answer's chunk adds: `delta.content`."""
    return delta.get("content")


def arguments_of(delta: dict[str, Any]) -> str | None:
    """What a tool call's chunk adds: its first call's `function.arguments`."""
    calls = delta.get("tool_calls")
    return calls[0]["function"].get("arguments") if calls else None


def stream_body(prompt: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def optional_clients() -> tuple[Any, Any]:
    """PydanticAI's Agent class and the openai SDK's AsyncOpenAI, or None for what is not installed."""
    try:
        from pydantic_ai import Agent as PydanticAgent
        from pydantic_ai.models.openai import OpenAIChatModel  # noqa: F401
    except ImportError:
        PydanticAgent = None
        NOTES.append("PydanticAI not installed (pip install -e '.[bench]'): its rows are skipped")
    try:
        from openai import AsyncOpenAI
    except ImportError:
        AsyncOpenAI = None
        NOTES.append("openai SDK not installed (pip install -e '.[bench]'): its rows are skipped")
    return PydanticAgent, AsyncOpenAI


class Clients:
    """One of each client, all talking to the same server, created and closed in one event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.httpx = httpx.AsyncClient(timeout=60)
        self.headers = {"authorization": f"Bearer {API_KEY}"}
        self.nbagent = Agent("openai:gpt-4o")  # OPENAI_BASE_URL / OPENAI_API_KEY point at the server
        self.nbagent_tools = Agent(OpenAIModel("gpt-4o", base_url=url, api_key=API_KEY), tools=[get_value])
        self.nbagent_report = Agent("openai:gpt-4o", output_type=Report)
        PydanticAgent, AsyncOpenAI = optional_clients()
        self.sdk = AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0) if AsyncOpenAI else None
        self.pydantic_ai = self.pydantic_ai_tools = self.pydantic_ai_report = None
        if PydanticAgent is not None and AsyncOpenAI is not None:
            from pydantic_ai.models.openai import OpenAIChatModel
            from pydantic_ai.providers.openai import OpenAIProvider

            self._pai_sdk = AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0)
            model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=self._pai_sdk))
            self.pydantic_ai = PydanticAgent(model)
            self.pydantic_ai_tools = PydanticAgent(model, tools=[get_value])
            self.pydantic_ai_report = PydanticAgent(model, output_type=Report)

    async def aclose(self) -> None:
        await self.httpx.aclose()
        await close_client()
        if self.sdk is not None:
            await self.sdk.close()
        if self.pydantic_ai is not None:
            await self._pai_sdk.close()

    # -- one streamed answer each; each returns the text (or the output) it got
    async def stream_floor(self, prompt: str, piece: Callable[[dict[str, Any]], str | None] = text_of) -> str:
        """The pieces `piece` takes from each chunk's delta, joined: the answer's text, by default."""
        out: list[str] = []
        loads = json.loads
        request = self.httpx.stream("POST", self.url + "/chat/completions", json=stream_body(prompt), headers=self.headers)
        async with request as response:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                choices = loads(data).get("choices")
                if choices:
                    content = piece(choices[0]["delta"])
                    if content:
                        out.append(content)
        return "".join(out)

    async def structured_floor(self, prompt: str) -> Report:
        """The output tool call's arguments collected as text, then validated once."""
        return Report.model_validate_json(await self.stream_floor(prompt, arguments_of))

    @staticmethod
    async def stream_agent(agent: Any, prompt: str) -> str:
        """nbagent and PydanticAI share this API: `run_stream` + `stream_text(delta=True)`."""
        out: list[str] = []
        async with agent.run_stream(prompt) as result:
            async for delta in result.stream_text(delta=True):
                out.append(delta)
        return "".join(out)

    @staticmethod
    async def stream_output_agent(agent: Any, prompt: str, debounce_by: float | None) -> Any:
        """nbagent and PydanticAI again: `run_stream` + `stream_output(debounce_by=...)`; the last output."""
        last = None
        async with agent.run_stream(prompt) as result:
            async for output in result.stream_output(debounce_by=debounce_by):
                last = output
        return last

    async def stream_sdk(self, prompt: str) -> str:
        out: list[str] = []
        stream = await self.sdk.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                out.append(chunk.choices[0].delta.content)
        return "".join(out)

    # -- one non-streamed answer each; each returns the text it got
    async def post_raw(self, body: dict[str, Any]) -> dict[str, Any]:
        """One Chat Completions post by hand: the answer's `choices[0].message`."""
        response = await self.httpx.post(self.url + "/chat/completions", json=body, headers=self.headers)
        return json.loads(response.content)["choices"][0]["message"]

    async def run_raw(self, prompt: str) -> str:
        return (await self.post_raw({"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]}))["content"]

    async def tool_round_trip_raw(self, prompt: str) -> str:
        """Two posts by hand: the model calls the tool; the tool runs; its result goes back for the answer."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        message = await self.post_raw({"model": "gpt-4o", "messages": messages, "tools": TOOL_DEFINITIONS})
        call = message["tool_calls"][0]
        result = get_value(**json.loads(call["function"]["arguments"]))
        messages.append({"role": "assistant", "content": None, "tool_calls": message["tool_calls"]})
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        return (await self.post_raw({"model": "gpt-4o", "messages": messages, "tools": TOOL_DEFINITIONS}))["content"]

    @staticmethod
    async def run_agent(agent: Any, prompt: str, history: list[Any] | None = None) -> str:
        """nbagent and PydanticAI share this API too: `await agent.run(prompt, message_history=...)`."""
        return (await agent.run(prompt, message_history=history)).output

    async def run_sdk(self, prompt: str) -> str:
        completion = await self.sdk.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}]
        )
        return completion.choices[0].message.content or ""
