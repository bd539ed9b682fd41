"""Shared pytest fixtures.

Provider-server fixtures come first; add other fixtures below them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from provider_server import ProviderServer

# --------------------------------------------------------------- fake LLM provider


@pytest.fixture(scope="session")
def provider_server() -> Iterator[ProviderServer]:
    """One real HTTP server for the whole session: per-test servers would cost time and ports."""
    with ProviderServer() as server:
        yield server


@pytest.fixture
def provider(provider_server: ProviderServer) -> Iterator[ProviderServer]:
    """The session server with an empty queue and no recordings; cleared again afterwards
    so a test's leftover stalls or slow streams cannot leak into the next one."""
    provider_server.clear()
    yield provider_server
    provider_server.clear()


@pytest.fixture
async def closed_client() -> AsyncIterator[None]:
    """Each test's loop gets its own pooled client; close it so no socket outlives the test."""
    from nbagent import _http

    yield
    await _http.close_client()


# ------------------------------------------------------------------ other fixtures


@pytest.fixture
def openai_env(provider: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> ProviderServer:
    """`openai:` models pointed at the loopback server with a dummy key; other provider env cleared."""
    for name in ("NBAGENT_MODEL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-loopback-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", provider.openai_base_url)
    return provider


@pytest.fixture
def no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key and no model configured: the offline default."""
    for name in ("NBAGENT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def map_cache_home(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """agent.map's default cache file lands in this test's directory, never in the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
