"""`Agent.iter()`: a run as the steps PydanticAI calls nodes, to watch or drive one at a time.

    UserPromptNode ──► ModelRequestNode ──► CallToolsNode ─┬─► End(FinalResult(output))
                            ▲                              │
                            └──────── tool returns ◄───────┘

`async for node in agent_run` runs each node after it was yielded (unless the caller ran it already);
`await agent_run.next(node)` runs one and returns the next. `node.stream(agent_run.ctx)` runs a
`ModelRequestNode` or `CallToolsNode` while yielding its events (the response's part events, then the
tools' call and result events). The nodes are plain records; the work is the run's (loop.py), so a run
driven node by node behaves as `run()` does: same messages, usage, limits, retries and cancellation.
Nodes and results print as PydanticAI's do (reprs.py).
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Generic, Union

from typing_extensions import TypeGuard, TypeVar

from .errors import UnexpectedModelBehavior, UserError
from .event_stream import StepEvents
from .loop import TextBuffer
from .messages import ModelMessage, ModelRequest, ModelResponse, RunUsage, TextPart, UserContent
from .output_run import NOT_YET
from .prompts import Prompts
from .reprs import repr_without_defaults
from .result import RunResult, StreamedRunResult, debounced_text

if TYPE_CHECKING:
    from .loop import AgentRun

T = TypeVar("T", default=Any)


@dataclass(repr=False)
class FinalResult(Generic[T]):
    """The run's output, and the output tool that gave it (None for text)."""

    output: T
    tool_name: str | None = None
    tool_call_id: str | None = None

    __repr__ = repr_without_defaults


@dataclass
class End(Generic[T]):
    """The run is over; `data` holds its output."""

    data: T


@dataclass(repr=False)
class UserPromptNode:
    """The run starts: instructions and system prompt functions are evaluated, the prompt is added.

    Besides the prompt it shows what the agent states (`instructions` as text, the functions that add
    to them or give system prompts), as PydanticAI's node does."""

    user_prompt: str | list[UserContent] | None
    deferred_tool_results: Any = None
    instructions: str | None = None
    instructions_functions: list[Any] = field(default_factory=list)
    system_prompts: tuple[str, ...] = field(default_factory=tuple)
    system_prompt_functions: list[Any] = field(default_factory=list)
    system_prompt_dynamic_functions: dict[str, Any] = field(default_factory=dict)
    _run: AgentRun | None = field(default=None, repr=False, compare=False)

    __repr__ = repr_without_defaults

    @classmethod
    def starting(cls, run: AgentRun, prompts: Prompts | None = None,
                 run_instructions: str | None = None) -> UserPromptNode:
        """The first node of `run`, showing the agent's `prompts`."""
        node = cls(run.prompt, deferred_tool_results=run.resume, _run=run)
        if prompts is not None:
            node.instructions = prompts.join_instructions(run_instructions)
            node.instructions_functions = [source.function for source in prompts.instructions
                                           if not isinstance(source, str)]
            node.system_prompts = tuple(source for source in prompts.system_prompts if isinstance(source, str))
            functions = [source for source in prompts.system_prompts if not isinstance(source, str)]
            node.system_prompt_functions = [source.function for source in functions]
            node.system_prompt_dynamic_functions = {source.ref: source.function for source in functions
                                                    if source.dynamic}
        return node


@dataclass(repr=False)
class ModelRequestNode:
    """The model is asked, with the run's messages ending with `request`."""

    request: ModelRequest
    _run: AgentRun = field(repr=False, compare=False)
    _response: ModelResponse | None = field(default=None, repr=False, compare=False)

    __repr__ = repr_without_defaults

    @asynccontextmanager
    async def stream(self, ctx: Any = None) -> AsyncIterator[ResponseStream]:
        """Send the request and stream the answer as events; the response is recorded on leaving (what the
        block did not read is read then)."""
        if self._response is not None:
            raise UserError("This ModelRequestNode already ran; stream the next node instead")
        run = self._run
        run.check_can_request()
        async with AsyncExitStack() as opened:
            response_stream = ResponseStream(run, await run.open_stream(opened))
            try:
                yield response_stream
                async for _ in response_stream:
                    pass
            finally:
                await response_stream.close()
        run.streaming = None
        run.record(response_stream.response)
        self._response = response_stream.response


@dataclass(repr=False)
class CallToolsNode:
    """The model's answer is handled: it is the output (the run ends), or its tool calls are run."""

    model_response: ModelResponse
    _run: AgentRun = field(repr=False, compare=False)
    _handled: bool = field(default=False, repr=False, compare=False)

    __repr__ = repr_without_defaults

    @asynccontextmanager
    async def stream(self, ctx: Any = None) -> AsyncIterator[AsyncIterator[Any]]:
        """Handle the response while yielding the tools' call and result events."""
        if self._handled:
            raise UserError("This CallToolsNode already ran; stream the next node instead")
        self._handled = True
        events = self._run.handle_response(self.model_response)
        try:
            yield events
            async for _ in events:
                pass
        finally:
            await events.aclose()


AgentNode = Union[UserPromptNode, ModelRequestNode, CallToolsNode]


class ResponseStream:
    """One streamed response as events (`async for event in ...`), its text as it grows (`stream_text`)
    or its output (`stream_output`); `cancel()` ends it here, kept as `state="interrupted"`."""

    def __init__(self, run: AgentRun, stream: Any) -> None:
        self._run = run
        self._stream = stream
        self._items = stream.deltas()
        self._seen: list[Any] = []  # every piece read, so stream_output() starts from the beginning
        self._converter = StepEvents(run)
        self._pending: list[Any] = []
        self.text = run.streaming = TextBuffer()
        self.response: ModelResponse | None = None  # once the stream is whole (or cancelled)

    async def _next_item(self) -> Any:
        """The next piece of the response; its end is the whole `ModelResponse`, then StopAsyncIteration."""
        if self.response is not None:
            raise StopAsyncIteration
        try:
            item = await self._run.guard(self._items.__anext__())
        except StopAsyncIteration:
            if not self._stream.complete:
                raise UnexpectedModelBehavior(
                    f"{self._run.model.label}: the stream stopped before the answer was complete") from None
            item = self.response = self._stream.response(self.text.text())
        if type(item) is str:
            self.text.append(item)
        self._seen.append(item)
        return item

    async def _pieces(self) -> AsyncIterator[Any]:
        for item in list(self._seen):
            yield item
        while True:
            try:
                yield await self._next_item()
            except StopAsyncIteration:
                return

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> Any:
        while not self._pending:
            self._pending.extend(self._converter.convert(await self._next_item()))
        return self._pending.pop(0)

    async def stream_text(self, *, delta: bool = False, debounce_by: float | None = 0.1) -> AsyncIterator[str]:
        """The text of this response as it grows (accumulated), or only the new pieces with `delta=True`,
        from its start (what the events already showed included); pieces within `debounce_by` seconds of
        the first one held come as one, as `run_stream`'s `stream_text()`."""
        text = ""
        async for piece in debounced_text(self._pieces(), debounce_by):
            text += piece
            yield piece if delta else text

    async def stream_output(self, *, debounce_by: float | None = 0.1) -> AsyncIterator[Any]:
        """The output as it forms in this response (partially validated snapshots, not deltas), then, once
        the response is whole, its output validated (when it holds one), as PydanticAI's."""
        pieces = self._pieces()
        async for partial in StreamedRunResult(self._run, pieces).partial_outputs(pieces, debounce_by):
            yield partial
        if self.response is not None and self.response.state != "interrupted":
            output = await self._run.finisher.whole(self.response)
            if output is not NOT_YET:
                yield output

    async def cancel(self) -> None:
        """Stop this response here (the HTTP stream closes); it is kept as `state="interrupted"` with the
        text that arrived, and the run goes on with it. To stop the run, cancel the run."""
        if self.response is None:
            text = self.text.text()
            self.response = ModelResponse(parts=[TextPart(content=text)] if text else [],
                                          model_name=self._run.model.label, state="interrupted")
        await self.close()

    async def close(self) -> None:
        await self._items.aclose()


class NodeRun(Generic[T]):
    """What `agent.iter()` yields: the run's nodes, its context, messages, usage and (at the end) result."""

    def __init__(self, run: AgentRun, first: UserPromptNode | None = None) -> None:
        self._run = run
        self.next_node: AgentNode | End[FinalResult[T]] = first or UserPromptNode.starting(run)
        self._yielded: Any = None
        self.result: RunResult[T] | None = None

    @property
    def ctx(self) -> NodeRun[T]:
        """What `node.stream(...)` is given (nodes know their run; kept for PydanticAI's spelling)."""
        return self

    @property
    def usage(self) -> RunUsage:
        return self._run.usage

    @property
    def run_id(self) -> str:
        return self._run.run_id

    @property
    def metadata(self) -> dict[str, Any] | None:
        return self._run.metadata

    def all_messages(self) -> list[ModelMessage]:
        return list(self._run.messages)

    def new_messages(self) -> list[ModelMessage]:
        return self._run.new_messages

    def cancel(self) -> None:
        """Stop the run (from any task or thread): it ends with `RunCancelled`."""
        self._run.cancel()

    def __aiter__(self) -> NodeRun[T]:
        return self

    async def __anext__(self) -> AgentNode | End[FinalResult[T]]:
        if self._yielded is None:
            self._yielded = self.next_node
            return self.next_node
        if isinstance(self._yielded, End):
            raise StopAsyncIteration
        if self._yielded is self.next_node:  # the caller did not run it: run it now
            await self.next(self.next_node)
        self._yielded = self.next_node
        return self.next_node

    async def next(self, node: AgentNode) -> AgentNode | End[FinalResult[T]]:
        """Run `node` (the one `next_node` names, possibly changed) and return the node after it."""
        if isinstance(node, End):
            raise UserError("The run is over (End): there is no node after it")
        self.next_node = await self._run.guard(self._advance(node))
        return self.next_node

    async def _advance(self, node: AgentNode) -> AgentNode | End[FinalResult[T]]:
        run = self._run
        if isinstance(node, UserPromptNode):
            await run.begin()
            return ModelRequestNode(run.messages[-1], run)  # type: ignore[arg-type]
        if isinstance(node, ModelRequestNode):
            if node._response is None:
                run.check_can_request()
                response = await run.request()
                run.record(response)
                node._response = response
            return CallToolsNode(node._response, run)
        if not node._handled:
            async with node.stream() as events:
                async for _ in events:
                    pass
        if run.final is None:
            return ModelRequestNode(run.messages[-1], run)  # type: ignore[arg-type]
        self.result = RunResult(run, run.final)
        return End(FinalResult(run.final.value, run.final.tool_name, run.final.tool_call_id))


def is_user_prompt_node(node: Any) -> TypeGuard[UserPromptNode]:
    return isinstance(node, UserPromptNode)


def is_model_request_node(node: Any) -> TypeGuard[ModelRequestNode]:
    return isinstance(node, ModelRequestNode)


def is_call_tools_node(node: Any) -> TypeGuard[CallToolsNode]:
    return isinstance(node, CallToolsNode)


def is_end_node(node: Any) -> TypeGuard[End[Any]]:
    return isinstance(node, End)
