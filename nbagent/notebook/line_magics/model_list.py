"""`%agent_models`: which providers this kernel can use, and what the local servers serve.

A provider with its key set (never shown: only the variable's name) or a local server (ollama,
lmstudio, vllm) is listed with its address; a local server is asked what it serves (`GET
{base}/models`), all of them at once with a short timeout, so a server that is not running costs a
refused connection, not a wait, and is one line saying how to start it or point to it. Providers
without a key are named at the end with the variable to set.

What a server answers (model names, error text) is not ours: the table is neutralised as a whole.
"""

from __future__ import annotations

import asyncio
from textwrap import shorten
from typing import Any

from IPython.display import display

from ...errors import ModelHTTPError, NbAgentError, redact
from ...models import OFFLINE, infer_model
from ...models.http import served_models
from ...models.providers import PROVIDERS, Provider
from ..live import loop_thread
from ..markdown.neutralize import neutralize
from ..markdown.tables import markdown_table


def show_models(current_model: str, origin: str) -> None:
    """Display the table of usable providers and models; `current_model` is what `%%ask` uses now, chosen
    by `origin` (a setting or an environment variable; "" for the offline default)."""
    configured = [provider for provider in PROVIDERS.values() if provider.configured()]
    served = loop_thread().submit(_ask_local_servers([p for p in configured if p.local])).result()
    rows = []
    for provider in configured:
        if provider.local:
            how, models = "local server", served[provider.name]
        else:
            how, models = f"key in {provider.key_env}", f"`{provider.name}:<name>`"
        rows.append((provider.name, how, redact(provider.resolved_base_url()), models))
    rows.append((OFFLINE, "built in, offline", "–", OFFLINE))
    missing = [f"{provider.name} ({provider.key_env})" for provider in PROVIDERS.values() if not provider.configured()]
    notes = [f"%%ask uses {current_model}{f' (from {origin})' if origin else ''}{_unusable(current_model)}; "
             "change it with %agent_settings model=provider:model or %%ask --model"]
    if missing:
        notes.append("not configured (set the key variable before starting Jupyter): " + ", ".join(missing))
    header = ("provider", "configured", "base URL", "models")
    markdown = neutralize(markdown_table(header, rows) + "\n\n" + "\n\n".join(notes))
    plain = "\n".join(["  ".join(header), *("  ".join(row) for row in rows), *notes])
    display({"text/markdown": markdown, "text/plain": plain}, raw=True)


def _unusable(model: str) -> str:
    """", which cannot be used: why" for a model name nbagent cannot use (e.g. a mistyped provider), else ""."""
    try:
        infer_model(model)
    except NbAgentError as exc:
        return f", which cannot be used: {exc}"
    return ""


async def _ask_local_servers(providers: list[Provider]) -> dict[str, str]:
    """Each local server's models, comma-separated, or why it could not say."""
    answers: list[Any] = await asyncio.gather(*(served_models(provider) for provider in providers),
                                              return_exceptions=True)
    listed = {}
    for provider, answer in zip(providers, answers):
        if isinstance(answer, ModelHTTPError):  # something answers there, but not with a model list
            listed[provider.name] = (f"{provider.name} answered HTTP {answer.status_code}: "
                                     f"{shorten(answer.body, 70, placeholder='…')} (check {provider.base_url_env})")
        elif isinstance(answer, NbAgentError):
            listed[provider.name] = str(answer)  # e.g. no server there: how to start it or point to it
        elif isinstance(answer, BaseException):
            raise answer
        else:
            listed[provider.name] = ", ".join(f"{provider.name}:{name}" for name in answer) or "no models yet"
    return listed
