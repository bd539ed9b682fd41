"""The notebook layer in a real IPython kernel over the Jupyter protocol, against the loopback provider."""

from __future__ import annotations

import pytest
from kernel_session import FORGET_CONVERSATIONS, KernelSession, displayed, kernel_env, nbagent_kernel
from provider_server import Hold, error, openai_stream

KEY = "sk-kernel-test-key-0123456789"


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url)) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    """A kernel whose default conversation and settings are reset, and an empty provider queue."""
    reset = kernel.execute("%agent_settings temperature=default max_tokens=default model=default system=default")
    assert reset.reply["status"] == "ok", reset.errors
    kernel.execute(FORGET_CONVERSATIONS)
    provider.clear()
    return kernel


def ask(kernel, body: str, options: str = "", **kwargs):
    return kernel.execute(f"%%ask {options}\n{body}", **kwargs)


def test_history_carries_across_cells(fresh, provider):
    first = ask(fresh, "Who was Albert Einstein?")
    assert first.reply["status"] == "ok", first.errors
    second = ask(fresh, "What was his most famous equation?")
    assert second.reply["status"] == "ok"
    messages = provider.last_request.json["messages"]
    assert messages == [
        {"role": "user", "content": "Who was Albert Einstein?"},
        {"role": "assistant", "content": "Echo: Who was Albert Einstein?"},
        {"role": "user", "content": "What was his most famous equation?"},
    ]
    assert provider.last_request.json["stream"] is True


def test_answer_ends_as_markdown_with_a_footer(fresh, provider):
    provider.enqueue(openai_stream("# Title\n\nSome **bold** text.\n\n```python\nprint(1)\n```\n", usage=(10, 12)))
    run = ask(fresh, "Show me markdown")
    displays = run.of_type("display_data")
    assert len(displays) == 1  # one output per answer, updated in place
    display_id = displays[0]["content"]["transient"]["display_id"]
    assert all(update["transient"]["display_id"] == display_id for update in run.updates)
    final = run.final_markdown()
    assert final.startswith("# Title\n\nSome **bold** text.\n\n```python\nprint(1)\n```\n")
    assert "openai:gpt-4o · 10 → 12 tokens" in final and "first token" in final and "tok/s" in final
    assert run.updates[-1]["data"]["text/plain"].startswith("# Title")


def test_options_on_the_wire(fresh, provider):
    ask(fresh, "one-off", "--temperature 0.9 --max-tokens 12 --system 'Be terse.' --model openai:gpt-4o-mini")
    body = provider.last_request.json
    assert (body["temperature"], body["max_completion_tokens"], body["model"]) == (0.9, 12, "gpt-4o-mini")
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}


def test_settings_line_form_reaches_the_wire_and_per_cell_options_win(fresh, provider):
    changed = fresh.execute("%agent_settings temperature=0.3 max_tokens=77")
    assert "temperature=0.3, max_tokens=77" in changed.stdout
    ask(fresh, "hello")
    body = provider.last_request.json
    assert (body["temperature"], body["max_completion_tokens"]) == (0.3, 77)
    ask(fresh, "hello", "--temperature 1.5")
    body = provider.last_request.json
    assert (body["temperature"], body["max_completion_tokens"]) == (1.5, 77)


def test_bad_settings_are_one_line_errors(fresh, provider):
    for line, expected in [("temperature=3", "temperature"), ("max_tokens=0", "max_tokens"),
                           ("temprature=0.2", "unknown setting 'temprature'"), ("temperature=hot", "must be a number"),
                           ("model=foo:bar", "Unknown model provider 'foo'")]:
        run = fresh.execute(f"%agent_settings {line}")
        assert run.reply["status"] == "error"
        assert len(run.errors) == 1 and len(run.errors[0]["traceback"]) == 1, run.errors
        assert expected in run.errors[0]["evalue"]
    run = ask(fresh, "x", "--temperature 7")
    assert len(run.errors[0]["traceback"]) == 1 and "temperature" in run.errors[0]["evalue"]
    assert provider.requests == []


def test_401_is_one_line_without_the_key_and_adds_nothing_to_history(fresh, provider):
    ask(fresh, "first question")
    provider.enqueue(error(401, f"Incorrect API key provided: {KEY}"))
    failed = ask(fresh, "second question")
    assert failed.reply["status"] == "error"
    [err] = failed.errors
    assert len(err["traceback"]) == 1 and "HTTP 401" in err["evalue"] and "check the API key" in err["evalue"]
    everything = str(failed.messages)
    assert KEY not in everything
    ask(fresh, "third question")
    assert [m["content"] for m in provider.last_request.json["messages"]] == [
        "first question", "Echo: first question", "third question"]


def test_refused_connection_is_one_line(kernel, provider):
    from provider_server import unused_port

    port = unused_port()
    kernel.execute(f"import os; os.environ['OLLAMA_BASE_URL'] = 'http://127.0.0.1:{port}/v1'")
    run = ask(kernel, "hi", "--model ollama:llama3")
    [err] = run.errors
    assert len(err["traceback"]) == 1 and "connection refused" in err["evalue"]


def test_slow_long_answer_updates_in_place_throttled(fresh, provider):
    words = [f"w{i} " for i in range(300)]
    provider.enqueue(openai_stream(words, delay=0.01))  # ~100 tokens/s for ~3 s
    run = ask(fresh, "long answer please")
    updates = run.updates
    arrivals = [t for m, t in zip(run.messages, run.arrivals) if m["msg_type"] == "update_display_data"]
    duration = arrivals[-1] - arrivals[0]
    assert duration > 2
    assert len(updates) <= 15 * duration + 2  # throttled
    assert len(updates) >= 10  # but really streaming
    by_output: dict[str, list[str]] = {}  # a long paragraph streams as a column of outputs (long_blocks.py)
    for update in updates[:-1]:  # the last: the whole answer, in the first output
        text = update["data"]["text/markdown"].rsplit("\n\n---\n", 1)[0]  # without the footer
        by_output.setdefault(update["transient"]["display_id"], []).append(text)
    for texts in by_output.values():
        assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # each output only grows
    assert run.final_markdown().startswith("".join(words))


def test_fast_long_answer_is_exact(fresh, provider):
    words = [f"t{i} " for i in range(5000)]
    provider.enqueue(openai_stream(words))
    run = ask(fresh, "fast answer", "-o answer")
    assert run.final_markdown().startswith("".join(words))
    check = fresh.execute("print(answer == %r)" % "".join(words))
    assert check.stdout.strip() == "True"


def test_interrupt_keeps_partial_text_and_history_consistent(fresh, provider):
    ask(fresh, "before")
    hold = Hold(after=10)  # the answer stops after "p9 " until the kernel was interrupted
    provider.enqueue(openai_stream([f"p{i} " for i in range(400)], delay=0.01, hold=hold))
    try:
        run = ask(fresh, "will be interrupted", on_message=fresh.interrupt_when(displayed("p9")))
    finally:
        hold.release()
    assert run.reply["status"] == "error"
    [err] = run.errors
    assert err["ename"] == "AskInterrupted" and len(err["traceback"]) == 1
    final = run.final_markdown()
    assert final.startswith("p0 p1 ") and "interrupted" in final
    assert len(final) < len("".join(f"p{i} " for i in range(400)))
    after = ask(fresh, "after")
    assert after.reply["status"] == "ok"
    assert [m["content"] for m in provider.last_request.json["messages"]] == ["before", "Echo: before", "after"]


def test_named_conversations_new_and_no_history(fresh, provider):
    ask(fresh, "main 1")
    ask(fresh, "side 1", "--agent side")
    ask(fresh, "side 2", "--agent side")
    assert [m["content"] for m in provider.last_request.json["messages"]] == ["side 1", "Echo: side 1", "side 2"]
    ask(fresh, "one-off", "--no-history")
    assert [m["content"] for m in provider.last_request.json["messages"]] == ["one-off"]
    ask(fresh, "main 2")
    assert [m["content"] for m in provider.last_request.json["messages"]] == ["main 1", "Echo: main 1", "main 2"]
    ask(fresh, "fresh start", "--new")
    assert [m["content"] for m in provider.last_request.json["messages"]] == ["fresh start"]


def test_help_and_bad_options(kernel):
    help_run = kernel.execute("%%ask?")
    pages = [p for p in help_run.reply.get("payload", []) if p.get("source") == "page"]
    help_text = pages[0]["data"]["text/plain"]
    for option in ("--model", "--temperature", "--max-tokens", "--system", "--new", "--agent", "--output", "--no-history"):
        assert option in help_text
    run = kernel.execute("%%ask --bogus\nhi")
    assert len(run.errors[0]["traceback"]) == 1
    run = kernel.execute("%%ask\n   ")
    assert "nothing to ask" in run.errors[0]["evalue"]


def widget_models(run) -> dict[str, dict]:
    """comm_id -> initial state of the widgets a cell displayed."""
    return {m["content"]["comm_id"]: m["content"]["data"]["state"] for m in run.of_type("comm_open")}


def test_settings_panel_is_two_way_bound(fresh, provider):
    panel = fresh.execute("%agent_settings")
    models = widget_models(panel)
    sliders = {state["description"]: comm_id for comm_id, state in models.items()
               if state.get("_model_name") in ("FloatSliderModel", "IntSliderModel")}
    assert set(sliders) == {"temperature", "max_tokens"}
    assert any(m["content"]["data"].get("application/vnd.jupyter.widget-view+json")
               for m in panel.of_type("display_data"))
    # the frontend moves the sliders
    fresh.send_comm(sliders["temperature"], {"method": "update", "state": {"value": 0.7}, "buffer_paths": []})
    fresh.send_comm(sliders["max_tokens"], {"method": "update", "state": {"value": 321}, "buffer_paths": []})
    ask(fresh, "after moving sliders")
    body = provider.last_request.json
    assert (body["temperature"], body["max_completion_tokens"]) == (0.7, 321)
    # a second panel shows the same values; the line form moves both panels' sliders
    second = widget_models(fresh.execute("%agent_settings"))
    assert {s["description"]: s["value"] for s in second.values() if s.get("_model_name", "").endswith("SliderModel")} == {
        "temperature": 0.7, "max_tokens": 321}
    moved = fresh.execute("%agent_settings temperature=0.25")
    slider_updates = [m["content"] for m in moved.of_type("comm_msg")
                      if m["content"]["data"].get("state", {}).get("value") == 0.25]
    assert len(slider_updates) == 2  # both open panels
    # a bad value typed in the model field is refused and the panel says why
    models_fields = {comm_id: s for comm_id, s in second.items() if s.get("description") == "model"}
    [model_field] = models_fields
    fresh.send_comm(model_field, {"method": "update", "state": {"value": "nope:x"}, "buffer_paths": []})
    check = fresh.execute("from nbagent.notebook.state import get_state; print(repr(get_state().settings.model))")
    assert check.stdout.strip() == "''"


def test_untrusted_answer_html_is_shown_as_text(fresh, provider):
    """JupyterLab renders live-kernel Markdown as trusted HTML, so nbagent neutralises model output itself."""
    hostile = ('Look: <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> '
               '[click](javascript:window.__pwned=3) [docs](https://example.com)\n\n```html\n<b>code stays</b>\n```\n')
    provider.enqueue(openai_stream(hostile))
    run = ask(fresh, "be hostile", "-o raw")
    final = run.final_markdown()
    assert "<script" not in final and "<img" not in final and "javascript:" not in final
    assert "&lt;script>window.__pwned=1&lt;/script>" in final and "[docs](https://example.com)" in final
    assert "```html\n<b>code stays</b>\n```" in final
    assert fresh.execute(f"print(raw == {hostile!r})").stdout.strip() == "True"  # -o keeps the exact text


def test_extension_loads_from_config(provider_server, provider):
    """`c.InteractiveShellApp.extensions = ['nbagent']` (here on the command line) registers the magics."""
    session = KernelSession(kernel_env(provider_server.openai_base_url),
                            extra_arguments=("--InteractiveShellApp.extensions=['nbagent']",))
    try:
        run = ask(session, "configured by traitlets")
        assert run.reply["status"] == "ok", run.errors
        assert provider.last_request.json["messages"][-1]["content"] == "configured by traitlets"
        magics = session.execute("print(sorted(get_ipython().magics_manager.magics['line']).count('agent_history'))")
        assert magics.stdout.strip() == "1"
    finally:
        session.close()


def test_interrupt_closes_the_http_stream(fresh):
    """Server side: the interrupted answer's connection is closed, not left streaming into the void."""
    import time

    from provider_server import ProviderServer, open_connection_count

    with ProviderServer() as own:
        fresh.execute(f"import os; os.environ['OLLAMA_BASE_URL'] = '{own.openai_base_url}'")
        # The server holds the stream after "c9 " (giving up as soon as the client hangs up) until the
        # kernel was interrupted.
        own.enqueue(openai_stream([f"c{i} " for i in range(1000)], delay=0.01, hold=Hold(after=10)))
        run = ask(fresh, "stream for a while", "--model ollama:llama3", on_message=fresh.interrupt_when(displayed("c9")))
        assert run.errors[0]["ename"] == "AskInterrupted"
        deadline = time.monotonic() + 30  # a bound on a failure only
        while open_connection_count(own) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_connection_count(own) == 0


def test_config_magic_sets_the_bound_settings(fresh, provider):
    fresh.execute("%config AgentSettings.temperature = 0.4")
    ask(fresh, "configured with %config")
    assert provider.last_request.json["temperature"] == 0.4
    assert "temperature=0.4" in fresh.execute("%agent_settings max_tokens=default").stdout


def test_a_bad_config_value_is_reported_and_ignored(provider_server, provider):
    session = KernelSession(kernel_env(provider_server.openai_base_url),
                            extra_arguments=("--AgentSettings.temperature=5",))
    try:
        loaded = session.execute("%load_ext nbagent")
        assert loaded.reply["status"] == "ok"
        assert "ignoring the AgentSettings config: Invalid model setting temperature=5.0" in loaded.stderr
        assert ask(session, "still works").reply["status"] == "ok"
        assert "temperature" not in provider.last_request.json
    finally:
        session.close()


@pytest.mark.parametrize("name, says", [("print", "is a Python builtin"), ("list", "is a Python builtin"),
                                        ("class", "a Python keyword"), ("In", "one of IPython's own names"),
                                        ("2x", "needs a variable name")])
def test_output_to_a_builtin_keyword_or_ipython_name_is_refused(fresh, provider, name, says):
    run = ask(fresh, "never asked", f"-o {name}")
    [error] = run.errors
    assert len(error["traceback"]) == 1 and says in error["evalue"], error["evalue"]
    assert provider.requests == []  # refused before the question is sent
    check = fresh.execute("print(print is __builtins__.print, type(list).__name__, type(In).__name__)")
    assert check.stdout.split() == ["True", "type", "list"]
