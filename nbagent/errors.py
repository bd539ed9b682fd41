"""One exception tree for everything nbagent raises, with API keys scrubbed from every message.

    NbAgentError
    ├── UserError                  configuration or input the user can fix (bad setting, missing key, ...)
    ├── ModelHTTPError             the provider answered with an HTTP error status
    ├── ModelConnectionError       the provider could not be reached (refused, DNS, connect/read timeout)
    └── UnexpectedModelBehavior    the provider's answer was malformed or cut short

Every error's text goes through `redact`, so a key that slipped into a URL or a response body never
reaches a traceback, a log line or a notebook output.
"""

from __future__ import annotations

import os

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
    """The provider answered with an HTTP error status."""

    def __init__(self, status_code: int, model_name: str, body: str | None = None) -> None:
        self.status_code = status_code
        self.model_name = model_name
        self.body = redact(_excerpt(body or ""))
        hint = _HTTP_HINTS.get(status_code, "")
        detail = f": {self.body}" if self.body else ""
        super().__init__(f"{model_name} returned HTTP {status_code}{detail}{hint}")


class ModelConnectionError(NbAgentError):
    """The provider could not be reached or stopped answering."""


class UnexpectedModelBehavior(NbAgentError):
    """The provider's answer could not be understood or ended before it was complete."""


_HTTP_HINTS = {
    401: " (check the API key)",
    403: " (the key is not allowed to use this model)",
    404: " (check the model name and the base URL)",
    429: " (rate limited; try again later)",
}


def _excerpt(body: str, limit: int = 200) -> str:
    """The provider's own error message if the body is JSON, else the body's first `limit` chars."""
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
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
