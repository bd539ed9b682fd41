"""What the HTTP wire protocols share: keys, posting with retries, the response's lifetime, SSE lines.

`HTTPModel` and `SSEStream` leave each protocol (openai.py, anthropic.py) only its own parts: auth
headers, the request body, the shape of a whole answer, and what one `data:` payload of a stream means.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from contextlib import asynccontextmanager
from json import JSONDecoder
from typing import Any, AsyncGenerator, AsyncIterator, ClassVar, Sequence, Union, cast

import httpx

from .. import _http, models
from ..errors import ModelConnectionError, ModelHTTPError, UnexpectedModelBehavior, UserError, register_secret
from ..messages import ModelMessage, ModelResponse
from ..settings import ModelSettings
from .base import Model, ModelRequestParameters, StreamedResponse, StreamItem
from .providers import Provider

# json.loads without its wrapper (~1 µs less per chunk): returns (value, end); the end is checked here.
_decode_json = JSONDecoder().raw_decode


class HTTPModel(Model):
    """A model behind an HTTP JSON API. The key is read when a request is made, so it can be set late."""

    endpoint: ClassVar[str]  # appended to base_url
    answer_kind: ClassVar[str]  # what a whole answer is called, for error messages
    stream_class: ClassVar[type["SSEStream"]]

    def __init__(self, model_name: str, *, provider: Provider, base_url: str | None, api_key: str | None,
                 settings: ModelSettings | None) -> None:
        super().__init__(model_name, settings=settings)
        self.provider = provider
        self.base_url = (base_url or provider.resolved_base_url()).rstrip("/")
        self._explicit_key = api_key
        register_secret(api_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r}, base_url={self.base_url!r})"

    @abstractmethod
    def _auth_headers(self, key: str) -> dict[str, str]:
        """How this protocol presents the key."""

    @abstractmethod
    def _body(self, messages: Sequence[ModelMessage], settings: ModelSettings, stream: bool,
              params: ModelRequestParameters) -> dict[str, Any]:
        """The JSON request for this conversation, settings and tools."""

    @abstractmethod
    def _answer(self, data: Any) -> ModelResponse:
        """A whole (non-streamed) answer; raises KeyError/TypeError/... when the shape is wrong."""

    def _headers(self, settings: ModelSettings) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        key = self._explicit_key if self._explicit_key is not None else os.environ.get(self.provider.optional_key_env)
        if key:
            headers.update(self._auth_headers(key))
        elif not self.provider.local and self._explicit_key is None:
            raise UserError(
                f"No API key for {self.label}: set the {self.provider.key_env} environment variable (or pass api_key=...)"
            )
        headers.update(settings.get("extra_headers", {}))
        return headers

    async def _post(self, messages: Sequence[ModelMessage], settings: ModelSettings, stream: bool,
                    params: ModelRequestParameters | None) -> httpx.Response:
        if not models.ALLOW_MODEL_REQUESTS:
            raise UserError(f"Model requests are not allowed here (nbagent.models.ALLOW_MODEL_REQUESTS is False); "
                            f"{self.label} was asked: use TestModel or FunctionModel, or agent.override(model=...)")
        return await _http.send(
            self.label,
            "POST",
            self.base_url + self.endpoint,
            headers=self._headers(settings),
            json=self._body(messages, settings, stream, params or ModelRequestParameters()),
            settings=settings,
        )

    async def request(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                      params: ModelRequestParameters | None = None) -> ModelResponse:
        response = await self._post(messages, settings, False, params)
        try:
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise _http.stream_error(exc, self.base_url, self.label, settings) from None
        finally:
            await response.aclose()
        try:
            return self._answer(_decode_json(raw.decode(errors="replace").strip())[0])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise UnexpectedModelBehavior(
                f"{self.label} sent a response that is not {self.answer_kind}: {raw[:120].decode(errors='replace')!r}"
            ) from None

    @asynccontextmanager
    async def request_stream(
        self, messages: Sequence[ModelMessage], settings: ModelSettings, params: ModelRequestParameters | None = None
    ) -> AsyncIterator[StreamedResponse]:
        response = await self._post(messages, settings, True, params)
        try:
            yield self.stream_class(self, response, settings)
        finally:
            await response.aclose()


class SSEStream(StreamedResponse):
    """Server-sent events read straight from the response bytes; subclasses interpret one `data:` payload."""

    end_marker: ClassVar[str]  # named in the error when a stream ends without it

    def __init__(self, model: HTTPModel, response: httpx.Response, settings: ModelSettings) -> None:
        super().__init__(model.model_name)
        self.provider_name = model.system
        self._model = model
        self._response = response
        self._settings = settings

    @abstractmethod
    def _data(self, data: bytes) -> Union[str, list[StreamItem], None]:
        """One `data:` payload: its text delta, or the items (tool-call pieces, text) it holds, or None;
        set `complete` at the end marker."""

    async def deltas(self) -> AsyncGenerator[StreamItem, None]:
        # The hot loop of a streamed answer. It splits the bytes into lines itself, as SSE defines them
        # (LF, CRLF or CR; a line cut by the network is completed by the next chunk), rather than with
        # aiter_lines(), which stacks two more async generators and a text decoder on every chunk and
        # also splits at U+2028, U+0085 and other characters that JSON strings may hold unescaped.
        # After the end marker the rest of the body (usually just the chunked terminator) is read and
        # dropped rather than abandoned, so httpx's own iterators finish instead of being left suspended
        # for the garbage collector, which would close them outside their task.
        pending = b""
        chunks = cast(AsyncGenerator[bytes, None], self._response.aiter_bytes())  # it is one
        try:
            async for chunk in chunks:
                if self.complete:
                    continue
                lines = (pending + chunk).splitlines(keepends=True)
                pending = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
                for line in lines:
                    if line.startswith(b"data:"):  # else blank separators, comments, `event:` names
                        content = self._data(line[5:].strip())
                        if content:
                            if type(content) is str:
                                yield content
                            else:
                                for item in content:
                                    yield item
                        if self.complete:
                            break
            if self.complete:
                return
            if pending.startswith(b"data:"):  # the last line may come without its newline
                content = self._data(pending[5:].strip())
                if type(content) is str:
                    yield content
                elif content:
                    for item in content:
                        yield item
                if self.complete:
                    return
        except httpx.HTTPError as exc:
            raise _http.stream_error(exc, self._model.base_url, self._model.label, self._settings) from None
        finally:
            # The response first, then the byte iterator. Closing the iterator while the body is unread
            # leaves httpx's inner iterators to the garbage collector; where no loop finalises async
            # generators (a loop class patched by nest-asyncio runs `run_until_complete` without the hooks)
            # they are closed outside any task, marked closed halfway, and the connection stays taken.
            # Closed first, the response gives the connection back properly and their close is a no-op.
            await self._response.aclose()
            await chunks.aclose()
        raise UnexpectedModelBehavior(
            f"{self._model.label}: the stream ended without its end marker ({self.end_marker}); "
            "the answer may be cut short"
        )

    def _json(self, data: bytes) -> dict[str, Any]:
        """A payload as a JSON object, or a one-line error quoting it."""
        try:
            text = data.decode()
        except UnicodeDecodeError:
            text = data.decode(errors="replace")  # as a text decode of the stream would
        try:
            value, end = _decode_json(text)
        except ValueError:
            value, end = None, 0
        if end != len(text) or not isinstance(value, dict):
            raise UnexpectedModelBehavior(f"{self._model.label} sent a malformed stream line: {text[:80]!r}")
        return value


async def served_models(provider: Provider, *, timeout: float = 3.0) -> list[str]:
    """The model ids a server lists at `GET {base}/models`; a one-line error if it is not running."""
    url = provider.resolved_base_url().rstrip("/") + "/models"
    key = os.environ.get(provider.optional_key_env)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        response = await _http.get_client().get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError:
        raise ModelConnectionError(f"{provider.name}: no server at {provider.resolved_base_url()} "
                                   f"(start it, or set {provider.base_url_env})") from None
    if response.status_code != 200:
        raise ModelHTTPError(response.status_code, provider.name, response.text)
    try:
        return sorted(str(entry["id"]) for entry in response.json()["data"])
    except (ValueError, KeyError, TypeError):
        raise UnexpectedModelBehavior(f"{provider.name}: {url} did not return a model list") from None
