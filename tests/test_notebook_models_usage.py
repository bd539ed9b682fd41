"""`%agent_models` and `%agent_usage` in a real kernel: the loopback provider stands in for OpenAI and
for a local ollama server, a dead port for lmstudio and vllm."""

from __future__ import annotations

import pytest
from kernel_session import FORGET_CONVERSATIONS, kernel_env, nbagent_kernel
from provider_server import unused_port

OTHER_KEYS = ("GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "TOGETHER_API_KEY", "FIREWORKS_API_KEY",
              "CEREBRAS_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY", "OLLAMA_API_KEY", "LMSTUDIO_API_KEY",
              "VLLM_API_KEY")
KEY = "sk-kernel-test-key-0123456789"


@pytest.fixture(scope="module")
def dead_url():
    return f"http://127.0.0.1:{unused_port()}/v1"


@pytest.fixture(scope="module")
def kernel(provider_server, dead_url):
    env = kernel_env(provider_server.openai_base_url, OLLAMA_BASE_URL=provider_server.openai_base_url,
                     LMSTUDIO_BASE_URL=dead_url, VLLM_BASE_URL=dead_url)
    with nbagent_kernel({**env, **{name: None for name in OTHER_KEYS}}) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute(f"{FORGET_CONVERSATIONS}\nget_state().asked.clear()\n%agent_settings prices=default")
    provider.clear()
    return kernel


def shown(run) -> tuple[str, str]:
    [display] = run.of_type("display_data")
    return display["content"]["data"]["text/markdown"], display["content"]["data"]["text/plain"]


def test_agent_models_lists_configured_providers_and_served_models(fresh, provider, dead_url):
    run = fresh.execute("%agent_models")
    assert run.reply["status"] == "ok", run.errors
    markdown, plain = shown(run)
    rows = {line.split(" | ")[0].strip("| "): line for line in markdown.splitlines()[2:] if line.startswith("| ")}
    assert list(rows) == ["openai", "ollama", "lmstudio", "vllm", "offline"]
    assert f"| key in OPENAI_API_KEY | {provider.openai_base_url} | `openai:<name>` |" in rows["openai"]
    assert rows["ollama"].endswith("| ollama:llama3.2, ollama:qwen2.5-coder |")
    assert f"lmstudio: no server at {dead_url} (start it, or set LMSTUDIO_BASE_URL)" in rows["lmstudio"]
    assert "%%ask uses openai:gpt-4o" in markdown
    assert "not configured (set the key variable before starting Jupyter): anthropic (ANTHROPIC_API_KEY), groq" in markdown
    assert KEY not in markdown + plain and "ollama:llama3.2" in plain
    [listing] = [request for request in provider.requests if request.method == "GET"]
    assert listing.path == "/v1/models"
    assert [request.method for request in provider.requests] == ["GET"]  # nothing asked of OpenAI itself
    bad = fresh.execute("%agent_models now")
    assert bad.reply["status"] == "error" and len(bad.errors[0]["traceback"]) == 1


def usage_rows(run) -> dict[str, list[list[str]]]:
    """The cells of each table of `%agent_usage`, by section ("Conversation", "Session")."""
    markdown, _ = shown(run)
    sections: dict[str, list[list[str]]] = {}
    for block in markdown.split("**")[1:]:
        if block.startswith(("Conversation", "Session")):
            title = block.split(" ")[0]
            sections[title] = []
        elif title:
            sections[title] = [[cell.strip() for cell in line.strip("|").split("|")]
                               for line in block.splitlines()[4:] if line.startswith("| ")]
    return sections


def test_agent_usage_per_model_for_the_conversation_and_the_session(fresh, provider):
    from decimal import Decimal

    from genai_prices import Usage, calc_price
    from provider_server import openai_stream

    assert calc_price(Usage(input_tokens=2000, output_tokens=100), "gpt-4o", provider_id="openai").total_price == Decimal("0.006")
    set_prices = fresh.execute('%agent_settings prices={"openai:gpt-4o-mini": [0.15, 0.6]}')
    assert 'prices={"openai:gpt-4o-mini": [0.15, 0.6]}' in set_prices.stdout
    provider.enqueue(openai_stream("first", usage=(1000, 500), model=None),
                     openai_stream("first, again", usage=(2000, 100), model=None),
                     openai_stream("small", usage=(400, 200), model=None),
                     openai_stream("local", usage=(10, 5), model=None))
    fresh.execute("%%ask\nquestion one", metadata={"cellId": "u1"})
    fresh.execute("%%ask\nquestion one, edited", metadata={"cellId": "u1"})  # replaces the turn
    fresh.execute("%%ask --model openai:gpt-4o-mini\nsmall question")
    fresh.execute("%%ask --model ollama:llama3.2\nlocal question")
    tables = usage_rows(fresh.execute("%agent_usage"))
    assert tables["Conversation"] == [
        ["openai:gpt-4o", "1", "2,000", "0", "100", "$0.006", "genai-prices"],
        ["openai:gpt-4o-mini", "1", "400", "0", "200", "$0.00018", "your prices"],
        ["ollama:llama3.2", "1", "10", "0", "5", "–", "no price"],
        ["total", "3", "2,410", "0", "305", "$0.00618", "not counted: ollama:llama3.2"]]
    assert tables["Session"][0] == ["openai:gpt-4o", "2", "3,000", "0", "600", "$0.0135", "genai-prices"]
    fresh.execute("%agent_history --clear")
    after = usage_rows(fresh.execute("%agent_usage"))
    assert after["Conversation"] == [] and after["Session"] == tables["Session"]
    assert "nothing asked yet" in shown(fresh.execute("%agent_usage"))[0]
    assert KEY not in shown(fresh.execute("%agent_usage"))[0]


def test_anthropic_turns_are_cached_and_priced_as_cache_reads(fresh, provider):
    """In the notebook an Anthropic conversation carries cache breakpoints by default; the loopback's prompt
    cache then reports reads and writes, which %agent_usage shows and prices (genai-prices, your prices)."""
    import json
    from decimal import Decimal

    from genai_prices import Usage, calc_price
    from prompt_cache import PromptCache

    provider.prompt_cache = PromptCache()
    fresh.execute(f"import os\nos.environ['ANTHROPIC_API_KEY'] = 'sk-ant-kernel-0123456789'\n"
                  f"os.environ['ANTHROPIC_BASE_URL'] = {provider.anthropic_base_url!r}")
    try:
        for number in range(3):
            run = fresh.execute(f"%%ask --model anthropic:claude-sonnet-4-5\nquestion {number} " + "about the data " * 20)
            assert run.reply["status"] == "ok", run.errors
        bodies = [request.json for request in provider.requests if request.method == "POST"]
        assert all(body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"} for body in bodies)
        [row] = usage_rows(fresh.execute("%agent_usage"))["Conversation"]
        listed = fresh.execute("import json\nfrom nbagent.messages import ModelResponse\nprint(json.dumps([[m.usage.input_tokens, "
                               "m.usage.cache_read_tokens, m.usage.cache_write_tokens, m.usage.output_tokens] for t in "
                               "get_state().conversation().turns for m in t.messages if isinstance(m, ModelResponse)]))")
        responses = json.loads(listed.stdout)
        inputs, reads, writes, outputs = (sum(column) for column in zip(*responses))
        assert reads > 0 and writes > 0
        assert row[:5] == ["anthropic:claude-sonnet-4-5", "3", f"{inputs:,}", f"{reads:,} ({reads / inputs:.0%})",
                           f"{outputs:,}"]
        # priced per response, each with its own cache reads and writes
        expected = sum((calc_price(Usage(input_tokens=i, cache_read_tokens=r, cache_write_tokens=w, output_tokens=o),
                                   "claude-sonnet-4-5", provider_id="anthropic").total_price
                        for i, r, w, o in responses), Decimal(0))
        uncached = calc_price(Usage(input_tokens=inputs, output_tokens=outputs),
                              "claude-sonnet-4-5", provider_id="anthropic").total_price
        assert row[5] == f"${expected:.{3 - expected.adjusted()}f}".rstrip("0") and expected < uncached
        fresh.execute('%agent_settings prices={"anthropic:claude-sonnet-4-5": [3, 15, 0.3, 3.75]}')
        [mine] = usage_rows(fresh.execute("%agent_usage"))["Conversation"]
        assert mine[5] == row[5] and mine[6] == "your prices"  # the same prices genai-prices knows
    finally:
        fresh.execute("import os\nos.environ.pop('ANTHROPIC_API_KEY', None)\nos.environ.pop('ANTHROPIC_BASE_URL', None)")


def test_bad_prices_are_one_line_errors(fresh):
    for line, says in (('prices={"openai:gpt-4o": [2.5]}', "give prices as"),
                       ('prices={"gpt-4o": [2.5, 10]}', "'gpt-4o' is not provider:model"),
                       ('prices={"openai:gpt-4o": [2.5, 10}', "prices: not valid JSON"),
                       ("prices=cheap", "prices takes a JSON object"),
                       ('prices={"openai:gpt-4o": [-1, "10"]}', "give prices as")):
        run = fresh.execute(f"%agent_settings {line}")
        assert run.reply["status"] == "error", line
        [error] = run.errors
        assert len(error["traceback"]) == 1 and says in error["evalue"], error["evalue"]
    assert "prices=default" in fresh.execute("%agent_settings temperature=default").stdout



def test_agent_models_says_a_server_error_page_in_one_short_line(fresh, dead_url):
    """A server that is not an OpenAI-compatible one (here the standard library's, which answers every GET
    with its HTML "501 Unsupported method" page) is one short line in its row, not the page."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fresh.execute(f"import os; os.environ['VLLM_BASE_URL'] = 'http://127.0.0.1:{server.server_port}/v1'")
    try:
        markdown, plain = shown(fresh.execute("%agent_models"))
    finally:
        fresh.execute(f"os.environ['VLLM_BASE_URL'] = '{dead_url}'")
        server.shutdown()
        server.server_close()
    [row] = [line for line in markdown.splitlines() if line.startswith("| vllm |")]
    cell = row.split(" | ")[-1]
    assert "HTTP 501" in cell and "Unsupported method" in cell, cell
    assert "DOCTYPE" not in cell and "html" not in cell.lower() and len(cell) <= 160, cell
    [plain_row] = [line for line in plain.splitlines() if line.startswith("vllm ")]
    assert "DOCTYPE" not in plain_row
