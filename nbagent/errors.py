"""One exception tree for everything nbagent raises, with API keys scrubbed from every message.

    NbAgentError
    ├── UserError                  configuration or input the user can fix: a bad or unsupported setting,
    │                              a missing key (names the variable to set), an unknown model string;
    │                              raised before any request is sent
    ├── ModelHTTPError             the provider answered with an HTTP error status (401, 404, 429, 5xx, ...),
    │                              after retries for transient ones; also an Anthropic `error` event
    │                              mid-stream (overloaded_error -> 529)
    ├── ModelConnectionError       the provider could not be reached or went silent: refused, DNS,
    │                              connect timeout, read timeout (before or during the stream)
    ├── UnexpectedModelBehavior    the answer was malformed (bad JSON, unknown shape) or cut short
    │                              (connection dropped mid-stream, no end marker), or the model kept
    │                              calling a tool wrongly past the tool's retries
    ├── UsageLimitExceeded         the run would go past one of its `UsageLimits` (names the limit); the
    │                              default request limit stops a model that calls tools forever
    ├── ToolExecutionError         a tool asked for approval again after it was approved (a tool's
    │                              other exceptions propagate as they are, noted with the tool's name)
    └── RunCancelled               the run was stopped on purpose (a `CancellationToken`, `ctx.cancel()`,
                                   `cancel()` on a run or its events); holds the history so far

    ModelRetry                     not an error of the run: a tool raises it to send its text back to the
                                   model as a retry prompt

Every message is one line that says what went wrong and, where there is one, what to do about it.
Every error's text goes through `redact`, so a key that slipped into a URL or a response body never
reaches a traceback, a log line or a notebook output.
"""

from __future__ import annotations

import html
import os
import re
from typing import Any

_registered_secrets: set[str] = set()
_MIN_SECRET_LENGTH = 8


def register_secret(secret: str | None) -> None:
    """Remember a key that was passed explicitly (env keys are found by `redact` itself)."""
    if secret and len(secret) >= _MIN_SECRET_LENGTH:
        _registered_secrets.add(secret)


def _secrets() -> set[str]:
    found = set(_registered_secrets)
    for name, value in os.environ.items():
        if len(value) >= _MIN_SECRET_LENGTH and ("KEY" in name or "TOKEN" in name or "SECRET" in name):
            found.add(value)
    return found


def redact(text: str) -> str:
    """Replace every known key (explicit ones and *_KEY/*_TOKEN/*_SECRET env values) by '***'."""
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, "***")
    return text


def with_notes(error: BaseException) -> str:
    """An error's text and its notes (the tool that raised it, a tool's last problem), on one line."""
    return "; ".join([str(error), *getattr(error, "__notes__", [])])


class NbAgentError(Exception):
    """Base of all nbagent errors; its text never contains a key."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)


class UserError(NbAgentError):
    """Something the user can fix: a bad setting, an unknown model, a missing key."""


class ModelHTTPError(NbAgentError):
    """The provider answered with an HTTP error status (after retries, when the status is a transient one).

    `status_code`, `model_name`, `body` (the provider's message, shortened) and `attempts` (how many
    requests were sent) are attributes, so code can branch on them.
    """

    def __init__(
        self,
        status_code: int,
        model_name: str,
        body: str | None = None,
        *,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.model_name = model_name
        self.body = redact(_excerpt(body or ""))
        self.attempts = attempts
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        detail = f": {self.body}" if self.body else ""
        if retry_after is not None:
            hint = f" (the provider asks to wait {retry_after:.0f} s before retrying; try again later)"
        else:
            hint = _http_hint(status_code)
        super().__init__(f"{model_name} returned HTTP {status_code}{tried}{detail}{hint}")


class ModelConnectionError(NbAgentError):
    """The provider could not be reached or stopped answering."""


class UnexpectedModelBehavior(NbAgentError):
    """The provider's answer could not be understood or ended before it was complete."""


class UsageLimitExceeded(NbAgentError):
    """A run would go past one of its `UsageLimits`; nothing more is sent."""


class ToolExecutionError(NbAgentError):
    """A tool misused nbagent's protocol (raised `ApprovalRequired` once approved); the run stops and the
    caller's history is untouched. Other exceptions of a tool propagate themselves, as in PydanticAI.

    `tool_name` names the tool; the tool's own exception is `__cause__`.
    """

    def __init__(self, tool_name: str, error: BaseException) -> None:
        self.tool_name = tool_name
        super().__init__(f"Tool {tool_name!r} raised {type(error).__name__}: {error}")


class RunCancelled(NbAgentError):
    """The run was cancelled by its own application; `all_messages()` is the history so far, valid to
    continue from (pass it as `message_history`), `usage` what the run had used.

    A cancel from the surroundings (`task.cancel()`, `asyncio.timeout()`) stays a `CancelledError`,
    carrying the same state: `RunCancelled.from_cancellation(exc)` gives it back.
    """

    def __init__(self, messages: list[Any], new_messages: list[Any], usage: Any) -> None:
        self._messages = messages
        self._new_messages = new_messages
        self.usage = usage
        super().__init__(f"The run was cancelled after {len(messages)} messages; pass exc.all_messages() as "
                         "message_history to continue")

    def all_messages(self) -> list[Any]:
        return list(self._messages)

    def new_messages(self) -> list[Any]:
        return list(self._new_messages)

    @staticmethod
    def from_cancellation(error: BaseException) -> "RunCancelled | None":
        """The state of the run an external `CancelledError` ended, or None if it ended no run."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            state = getattr(current, "_nbagent_cancelled_run", None)
            if state is not None:
                return state
            current = current.__context__
        return None


class ModelRetry(Exception):
    """Raise this in a tool to tell the model what was wrong; the model is asked to try again
    (up to the tool's `retries`)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ToolFailed(Exception):
    """Raise this in a tool when the call is done but failed (a file not found, say): the model is told
    it failed, as the tool's result, and the tool's retries are not spent."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ApprovalRequired(Exception):
    """Raise this in a tool (or its args_validator) when this call needs a person's approval first: the
    call is deferred (see `DeferredToolRequests`); once approved it runs again with
    `ctx.tool_call_approved` True. `metadata` travels with the request."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata
        super().__init__("this tool call needs approval")


class CallDeferred(Exception):
    """Raise this in a tool whose result comes from elsewhere (a frontend, a worker): the call is
    deferred and its result is given later, in `DeferredToolResults.calls`."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata
        super().__init__("this tool call is executed elsewhere")


_HTTP_HINTS = {
    401: " (check the API key)",
    403: " (the key is not allowed to use this model)",
    404: " (check the model name and the base URL)",
    408: " (the provider timed out; try again later)",
    409: " (a conflicting request at the provider; try again)",
    429: " (rate limited; try again later)",
    503: " (the provider is unavailable or overloaded; try again later)",
    529: " (the provider is overloaded; try again later)",
}


def _http_hint(status_code: int) -> str:
    if status_code in _HTTP_HINTS:
        return _HTTP_HINTS[status_code]
    if status_code >= 500:
        return " (a server error at the provider; try again later)"
    if 300 <= status_code < 400:
        return " (redirected; check the base URL)"
    return ""


_HTML_PAGE = re.compile(r"<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE)
_HTML_HEAD = re.compile(r"<(head|script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)  # the title repeats in the page
_HTML_TAG = re.compile(r"<[^>]*>")


def _excerpt(body: str, limit: int = 200) -> str:
    """The provider's own error message if the body is JSON, the text of an HTML error page (a proxy's,
    a server that is not the API), else the body's first `limit` chars."""
    import json

    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
    elif _HTML_PAGE.match(text):
        text = html.unescape(_HTML_TAG.sub(" ", _HTML_HEAD.sub(" ", text)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
