"""The core without a network: settings validation, messages, model lookup, offline models, keys."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from provider_server import openai_json, openai_stream

from nbagent import (Agent, FunctionModel, ModelRequest, ModelResponse, TestModel, UserError,
                     messages_from_json)
from nbagent.models import OFFLINE_NOTICE, infer_model


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"temperature": 2.5}, "temperature"), ({"temperature": -0.1}, "temperature"), ({"max_tokens": 0}, "max_tokens"),
     ({"top_p": 1.1}, "top_p"), ({"max_tokens": "many"}, "max_tokens"), ({"timeout": 0}, "timeout")],
)
def test_bad_setting_values_name_the_field(settings, field, openai_env):
    with pytest.raises(UserError, match=f"Invalid model setting {field}="):
        Agent("openai:gpt-4o").run_sync("hi", model_settings=settings)
    with pytest.raises(UserError, match=field):
        Agent("openai:gpt-4o", model_settings=settings)
    assert openai_env.requests == []  # nothing was sent


def test_unknown_setting_is_an_error_with_a_suggestion(openai_env):
    with pytest.raises(UserError, match=r"Unknown model setting 'temprature' \(did you mean 'temperature'\?\)"):
        Agent("openai:gpt-4o").run_sync("hi", model_settings={"temprature": 0.2})
    assert openai_env.requests == []


def test_settings_on_the_wire(openai_env):
    settings = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 77, "seed": 1, "presence_penalty": 0.5,
                "frequency_penalty": -0.5, "stop_sequences": ["END"]}
    Agent("openai:gpt-4o").run_sync("hi", model_settings=settings)
    body = openai_env.last_request.json
    assert {key: body[key] for key in ("temperature", "top_p", "max_completion_tokens", "seed", "presence_penalty",
                                       "frequency_penalty", "stop")} == {
        "temperature": 0.3, "top_p": 0.9, "max_completion_tokens": 77, "seed": 1, "presence_penalty": 0.5,
        "frequency_penalty": -0.5, "stop": ["END"]}


def test_agent_model_settings_are_validated_when_assigned():
    agent = Agent("test")
    with pytest.raises(UserError, match="temperature"):
        agent.model_settings = {"temperature": 9}
    agent.model_settings = {"temperature": 0.5}
    assert agent.model_settings == {"temperature": 0.5}


def test_messages_json_round_trip_sends_the_same_request(openai_env):
    agent = Agent("openai:gpt-4o", system_prompt="Be brief.", instructions="Answer in French.")
    openai_env.enqueue(openai_json("Paris"), openai_json("Lyon"))
    first = agent.run_sync("Capital of France?")
    agent.run_sync("Second city?", message_history=first.all_messages())
    original_request = openai_env.last_request.json

    saved = first.all_messages_json()
    loaded = messages_from_json(saved)
    assert loaded == first.all_messages()
    assert [type(message) for message in loaded] == [ModelRequest, ModelResponse]
    assert loaded[0].parts[0].part_kind == "system-prompt" and loaded[1].usage.requests == 1
    openai_env.enqueue(openai_json("Lyon"))
    agent.run_sync("Second city?", message_history=loaded)
    assert openai_env.last_request.json == original_request
    assert original_request["messages"] == [
        {"role": "system", "content": "Be brief.\n\nAnswer in French."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "Second city?"},
    ]
    assert messages_from_json(first.new_messages_json()) == first.new_messages()


def test_history_must_be_messages():
    with pytest.raises(UserError, match="message_history must hold"):
        Agent("test").run_sync("hi", message_history=[{"role": "user", "content": "x"}])


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(UserError, match="Unknown model provider .gpt. .*openai, anthropic, groq, mistral"):
        Agent("gpt:4o")
    with pytest.raises(UserError, match="has no model name"):
        Agent("openai:")


def test_missing_key_names_the_variable(monkeypatch, provider):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", provider.openai_base_url)
    with pytest.raises(UserError, match="set the OPENAI_API_KEY environment variable"):
        Agent("openai:gpt-4o").run_sync("hi")
    assert provider.requests == []


def test_key_is_sent_but_never_shown(monkeypatch, provider):
    secret = "sk-secret-do-not-show-123456"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("OPENAI_BASE_URL", provider.openai_base_url)
    agent = Agent("openai:gpt-4o")
    result = agent.run_sync("hi")
    assert provider.last_request.headers["authorization"] == f"Bearer {secret}"
    from nbagent import OpenAIModel

    explicit = OpenAIModel("gpt-4o", api_key="sk-explicit-key-abcdef123", base_url=provider.openai_base_url)
    shown = " ".join([repr(agent), str(agent.model), repr(agent.model), repr(result), repr(explicit),
                      result.all_messages_json().decode(), repr(vars(agent))])
    assert secret not in shown and "sk-explicit-key-abcdef123" not in shown


def test_ollama_needs_no_key_and_uses_its_base_url(monkeypatch, provider):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OLLAMA_BASE_URL", provider.openai_base_url)
    result = Agent("ollama:llama3.2").run_sync("hi there", model_settings={"max_tokens": 5})
    assert result.output == "Echo: hi there"
    request = provider.last_request
    assert "authorization" not in request.headers
    assert request.json["model"] == "llama3.2" and request.json["max_tokens"] == 5


def test_default_model_resolution(monkeypatch, no_provider_env, capsys):
    import nbagent.models as models

    monkeypatch.setattr(models, "_notice_shown", False)
    assert Agent().model.label == "offline"
    assert capsys.readouterr().err.strip() == OFFLINE_NOTICE
    Agent()
    assert capsys.readouterr().err == ""  # announced once
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-xxxxxxxxxxxx")
    assert infer_model(None).label == "anthropic:claude-sonnet-4-5"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-xxxxxxxxxxxx")
    assert infer_model(None).label == "openai:gpt-4o"
    monkeypatch.setenv("NBAGENT_MODEL", "ollama:qwen3")
    assert infer_model(None).label == "ollama:qwen3"


def test_offline_model_is_deterministic_streams_words_and_counts_usage(no_provider_env):
    agent = Agent("offline")

    async def stream(prompt: str, **kwargs):
        async with agent.run_stream(prompt, **kwargs) as response:
            return [delta async for delta in response.stream_text(delta=True, debounce_by=None)], response

    deltas, response = asyncio.run(stream("What is 2+2?"))
    text = "".join(deltas)
    assert len(deltas) == len(text.split()) > 5
    assert text == agent.run_sync("What is 2+2?").output
    assert "What is 2+2?" in text and "offline" in text
    assert response.usage().output_tokens == len(text.split()) and response.usage().input_tokens == 3
    short, _ = asyncio.run(stream("What is 2+2?", model_settings={"max_tokens": 3}))
    assert len(short) == 3 and "".join(short) == "This is nbagent's"
    assert TestModel(custom_output_text="fixed answer").label == "test"
    assert Agent(TestModel(custom_output_text="fixed answer")).run_sync("x").output == "fixed answer"


def test_function_model_plain_async_and_streaming():
    def reply(messages, info):
        return f"{len(messages)} messages, temperature {info.model_settings.get('temperature')}"

    async def async_reply(messages, info):
        return "async"

    async def streaming_reply(messages, info):
        for word in ["a", "b", "c"]:
            yield word

    assert Agent(FunctionModel(reply)).run_sync("x", model_settings={"temperature": 0.2}).output == "1 messages, temperature 0.2"
    assert Agent(FunctionModel(async_reply)).run_sync("x").output == "async"

    async def deltas():
        async with Agent(FunctionModel(streaming_reply)).run_stream("x") as response:
            return [delta async for delta in response.stream_text(delta=True, debounce_by=None)]

    assert asyncio.run(deltas()) == ["a", "b", "c"]


async def test_leaving_run_stream_early_closes_the_stream(openai_env):
    # 20,000 chunks paced 2 ms apart: the server writes for 40 s unless the client hangs up, so even a
    # client starved of CPU for many seconds closes while the server is still writing.
    openai_env.enqueue(openai_stream("word " * 20_000, delay=0.002))
    async with Agent("openai:gpt-4o").run_stream("long please") as response:
        async for _ in response.stream_text(delta=True, debounce_by=None):
            break
    assert not response.is_complete
    assert [message.kind for message in response.new_messages()] == ["request"]  # no half answer
    request = openai_env.last_request
    # The server, still writing its chunks, sees the client hang up; a stream left open (or drained in
    # the background) would instead be written to its end.
    assert await asyncio.to_thread(request.wait_replied, 90), "the server never finished the reply"
    assert request.client_hung_up
    assert len([task for task in asyncio.all_tasks() if task is not asyncio.current_task()]) == 0


async def test_one_pooled_client_per_event_loop(openai_env):
    from nbagent import _http

    agent = Agent("openai:gpt-4o")
    await agent.run("one")
    client = _http.get_client()
    await agent.run("two")
    assert _http.get_client() is client

    async def inner():
        return _http.get_client()

    other = await asyncio.to_thread(asyncio.run, inner())  # another thread, another loop
    assert other is not client


def test_import_nbagent_is_light():
    code = ("import sys, nbagent; heavy = [m for m in ('httpx', 'pydantic', 'ipywidgets', 'nbagent.agent') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_core_imports_nothing_from_jupyter():
    code = ("import sys, nbagent; from nbagent import Agent; Agent('test').run_sync('hi'); "
            "print([m for m in sys.modules if m.split('.')[0] in ('IPython', 'ipywidgets', 'ipykernel', 'traitlets', 'comm')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_command_line_demo_offline_and_against_a_server(provider):
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NBAGENT_MODEL", "OPENAI_BASE_URL")}
    offline = subprocess.run([sys.executable, "-m", "nbagent", "hello", "there"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert offline.returncode == 0
    assert "You asked: “hello there”" in offline.stdout and "[offline · 2 → " in offline.stdout
    assert OFFLINE_NOTICE in offline.stderr
    online = subprocess.run([sys.executable, "-m", "nbagent", "hello"], capture_output=True, text=True, timeout=60,
                            env={**env, "OPENAI_API_KEY": "sk-cli-test-0123456789", "OPENAI_BASE_URL": provider.openai_base_url})
    assert online.stdout.startswith("Echo: hello\n\n[openai:gpt-4o · ")
    failed = subprocess.run([sys.executable, "-m", "nbagent", "--model", "nope:x", "hi"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert failed.returncode == 1 and failed.stderr.startswith("nbagent: Unknown model provider 'nope'")
