"""The notebook agent in a real kernel against the loopback provider: what its tools send, what stays in
the kernel, and code that runs only when the user clicks Run (the click sent as a frontend sends it)."""

from __future__ import annotations

import json
import re

import pytest
from kernel_session import FORGET_CONVERSATIONS, KernelSession, clicker, kernel_env, nbagent_kernel, printed
from provider_server import error, openai_stream, openai_tool_stream

KEY = "sk-kernel-test-key-0123456789"
SECRET = "hunter2-do-not-send-0042"

SETUP = f"""
import pandas as pd
from palmerpenguins import load_penguins
penguins = load_penguins()
db_password = "{SECRET}"
settings_dict = {{"user": "ada", "api_token": "{SECRET}"}}
"""


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url), SETUP) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute(f"%agent_settings tools=off approve_code=ask\n{FORGET_CONVERSATIONS}")
    provider.clear()
    return kernel


def call(name: str, arguments: dict | None = None, call_id: str = "call_1"):
    return openai_tool_stream([(call_id, name, json.dumps(arguments or {}))])


def tool_messages(request) -> list[dict]:
    """The tool results a request carried, parsed back from their JSON text."""
    return [json.loads(message["content"]) for message in request.json["messages"] if message["role"] == "tool"]


def bodies(provider) -> str:
    return "".join(request.text for request in provider.requests)


def test_tools_off_nothing_of_the_namespace_leaves(fresh, provider):
    run = fresh.execute("%%ask\nWhat data do I have?")
    assert run.reply["status"] == "ok"
    [request] = provider.requests
    assert "tools" not in request.json
    assert "penguins" not in request.text and "Adelie" not in request.text and SECRET not in request.text
    assert "kernel tools on" not in run.stderr


def test_inspect_variable_sends_the_dataframe_and_streams_tool_lines(fresh, provider):
    provider.enqueue(call("list_variables"), call("inspect_variable", {"name": "penguins"}),
                     openai_stream("There are **344 penguins** of 3 species."))
    run = fresh.execute("%%ask --tools\nHow many penguins are there?")
    assert run.reply["status"] == "ok", run.errors
    assert run.stderr.count("kernel tools on: variable contents may be sent to openai:gpt-4o") == 1
    first, second, third = provider.requests
    assert {tool["function"]["name"] for tool in first.json["tools"]} == {
        "list_variables", "inspect_variable", "last_error", "list_cells", "read_cell", "find_cells", "run_code"}
    [listing] = tool_messages(second)
    assert listing["variables"]["penguins"] == "DataFrame 344 × 8"
    assert listing["variables"]["db_password"] == "str, hidden (the name looks like a secret)"
    assert "pd" not in listing["variables"] and "In" not in listing["variables"]  # modules, IPython's own
    [_, inspected] = tool_messages(third)
    assert inspected["shape"] == [344, 8]
    assert inspected["columns"][:3] == ["species", "island", "bill_length_mm"]
    assert inspected["null_counts"]["sex"] == 11 and "Adelie" in inspected["head"]
    assert SECRET not in bodies(provider)

    final = run.final_markdown()
    assert re.match(r"⚙ `list_variables\(\)` → \d+ variable\(s\)\n\n⚙ `inspect_variable\(penguins\)` → DataFrame 344 × 8\n\n"
                    r"There are \*\*344 penguins\*\* of 3 species\.", final), final
    assert len(run.of_type("display_data")) == 1  # one output, updated in place


def test_secret_values_are_masked_in_every_tool(fresh, provider):
    provider.enqueue(call("inspect_variable", {"name": "db_password"}),
                     call("inspect_variable", {"name": "settings_dict"}), openai_stream("ok"))
    fresh.execute("%%ask --tools\nlook")
    [password], [dictionary] = tool_messages(provider.requests[1]), tool_messages(provider.requests[2])[1:]
    assert password["value"].startswith("***") and dictionary["sample"]["api_token"].startswith("***")
    assert dictionary["sample"]["user"] == "'ada'"
    assert SECRET not in bodies(provider)


def test_secrets_typed_into_cells_stay_out_of_sources_and_tracebacks(fresh, provider):
    """A secret written in a cell's source, or quoted by an exception, is hidden in read_cell and last_error."""
    cell = fresh.execute(f'service_token = "{SECRET}"\nprint(len(service_token))')
    number = cell.reply["execution_count"]
    failed = fresh.execute(f'api_key = "{SECRET}"\nraise ValueError("cannot log in with " + api_key)')
    assert failed.reply["status"] == "error"
    provider.enqueue(call("read_cell", {"n": number}), call("last_error", call_id="call_2"), openai_stream("ok"))
    fresh.execute("%%ask --tools\nwhat happened?")
    [source], [error] = tool_messages(provider.requests[1]), tool_messages(provider.requests[2])[1:]
    assert 'service_token = "***"' in source["source"]
    assert 'api_key = "***"' in error["cell_source"] and "cannot log in with ***" in error["message"]
    assert SECRET not in bodies(provider)


def test_the_configured_key_never_reaches_a_request_body(fresh, provider):
    fresh.execute("import os, nbagent\nk = os.environ['OPENAI_API_KEY']\n"
                  "@nbagent.tool\ndef env_key() -> str:\n    '''The key.'''\n    return 'key is ' + os.environ['OPENAI_API_KEY']")
    provider.enqueue(call("inspect_variable", {"name": "k"}), call("env_key"), openai_stream("done"))
    run = fresh.execute("%%ask --tools\nshow me k")
    assert run.reply["status"] == "ok", run.errors
    assert provider.last_request.headers["authorization"] == f"Bearer {KEY}"  # the key was in use ...
    assert KEY not in bodies(provider)  # ... and in no body
    assert "key is ***" in provider.last_request.text
    fresh.execute("from nbagent.notebook.kernel import kernel_tools\nkernel_tools._user_tools.clear()\ndel k")


def test_user_tools_are_offered_without_kernel_tools(fresh, provider):
    fresh.execute("import nbagent\n@nbagent.tool\ndef penguin_count(species: str) -> int:\n"
                  "    '''How many penguins of a species.\n\n    Args:\n        species: e.g. Adelie\n    '''\n"
                  "    return int((penguins.species == species).sum())")
    fresh.execute("@nbagent.tool\ndef penguin_count(species: str) -> int:\n"  # re-running the cell replaces it
                  "    '''How many penguins of a species.'''\n    return int((penguins.species == species).sum())")
    provider.enqueue(call("penguin_count", {"species": "Adelie"}), openai_stream("152 Adelie penguins."))
    run = fresh.execute("%%ask\nHow many Adelie?")
    assert [tool["function"]["name"] for tool in provider.requests[0].json["tools"]] == ["penguin_count"]
    assert tool_messages(provider.requests[1]) == [152]
    assert "⚙ `penguin_count(Adelie)` → 152" in run.final_markdown()
    fresh.execute("from nbagent.notebook.kernel import kernel_tools\nkernel_tools._user_tools.clear()")


def test_a_user_tool_raising_fails_the_cell_with_its_own_error_and_the_conversation_goes_on(fresh, provider):
    """As in PydanticAI the tool's own exception ends the question (its traceback, noted with the tool's
    name); nothing of the failed question stays in the conversation."""
    fresh.execute("import nbagent\n@nbagent.tool\ndef density(material: str) -> float:\n"
                  "    '''The density of a material.'''\n    raise KeyError(material)")
    provider.enqueue(openai_stream("Hello."), call("density", {"material": "unobtainium"}), openai_stream("Again."))
    assert fresh.execute("%%ask\nhello").reply["status"] == "ok"
    run = fresh.execute("%%ask\nHow dense is unobtainium?")
    [err] = run.errors
    assert err["ename"] == "KeyError" and err["evalue"] == "'unobtainium'"
    assert "raised by the tool 'density' (call call_1)" in "\n".join(err["traceback"])
    assert fresh.execute("%%ask\nagain").reply["status"] == "ok"
    assert [m["content"] for m in provider.last_request.json["messages"] if m["role"] != "system"] == [
        "hello", "Hello.", "again"]
    fresh.execute("from nbagent.notebook.kernel import kernel_tools\nkernel_tools._user_tools.clear()")


def test_last_error_and_read_cell(fresh, provider):
    failed = fresh.execute("means = penguins.groupby('species').body_mass_g.mean()\nmeans['Emperor']")
    assert failed.reply["status"] == "error"
    count = failed.reply["execution_count"]
    provider.enqueue(call("last_error"), call("read_cell", {"n": count}), openai_stream("There is no Emperor."))
    run = fresh.execute("%%ask --tools\nWhy did that fail?")
    error_result = tool_messages(provider.requests[1])[0]
    assert error_result["type"] == "KeyError" and "'Emperor'" in error_result["message"]
    assert "means['Emperor']" in error_result["cell_source"] and "\x1b[" not in error_result["traceback"]
    assert tool_messages(provider.requests[2])[1]["source"].startswith("means = penguins.groupby")
    assert "⚙ `last_error()` → KeyError: 'Emperor'" in run.final_markdown()


def test_list_cells_and_find_cells_read_the_notebook_from_the_code(fresh, provider):
    """list_cells: each cell in execution order, its first line (secrets masked), the names it defines,
    whether it raised; find_cells: where a name is defined and used, from the code's AST."""
    defining = fresh.execute(f'service_token = "{SECRET}"\nmasses = penguins.body_mass_g\ndef heavy(limit):\n    return masses > limit')
    using = fresh.execute("count = heavy(4000).sum()\nprint('heavy ones:', count)\nimport sys\n"
                          "print('careful', db_password, file=sys.stderr)\ncount")
    raising = fresh.execute("heavy(undefined_limit)")
    assert raising.reply["status"] == "error"
    numbers = [run.reply["execution_count"] for run in (defining, using, raising)]
    provider.enqueue(call("list_cells"), call("find_cells", {"name": "heavy"}, call_id="call_2"),
                     call("read_cell", {"n": numbers[1]}, call_id="call_3"), openai_stream("ok"))
    run = fresh.execute("%%ask --tools\nWhich cells use heavy?")
    assert run.reply["status"] == "ok", run.errors
    assert SECRET not in bodies(provider)
    listing = tool_messages(provider.requests[1])[0]
    cells = {cell["n"]: cell for cell in listing["cells"]}
    first, second, third = (cells[n] for n in numbers)
    assert first["first_line"] == 'service_token = "***"' and first["defines"] == ["service_token", "masses", "heavy"]
    assert second == {"n": numbers[1], "first_line": "count = heavy(4000).sum()", "defines": ["count", "sys"],
                      "raised": False}
    assert third["raised"] is True and first["raised"] is False
    assert sorted(cells) == list(range(min(cells), max(cells) + 1))  # in execution order, none left out
    found = tool_messages(provider.requests[2])[1]
    assert found["defined_in"] == [numbers[0]] and found["used_in"] == numbers[1:]
    read = tool_messages(provider.requests[3])[2]  # what the cell showed, as the kernel saw it
    heavy = fresh.execute("print(count)").stdout.strip()
    assert read["stdout"] == f"heavy ones: {heavy}\n" and read["stderr"] == "careful ***\n"  # the secret scrubbed
    assert read["displays"] == [fresh.execute("print(repr(count))").stdout.strip()] and read["raised"] is False


def test_run_code_is_refused_without_a_frontend_that_can_click(fresh, provider):
    provider.enqueue(call("run_code", {"code": "ran_it = True"}), openai_stream("I could not run it."))
    run = fresh.execute("%%ask --tools\nset ran_it")  # as jupyter execute / nbclient: allow_stdin False
    [refused] = tool_messages(provider.requests[1])
    assert refused["refused"] is True and "cannot show the Run button" in refused["message"]
    assert '⚙ `run_code("ran_it = True")` → not run' in run.final_markdown()
    assert fresh.execute("print('ran_it' in dir())").stdout.strip() == "False"


def test_run_code_runs_only_after_the_user_clicks_run(fresh, provider):
    code = "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\nprint('rows:', len(penguins))\nplt.plot([1, 2])\nlen(penguins) * 2"
    provider.enqueue(call("run_code", {"code": code}), openai_stream("Done."))
    run = fresh.execute("%%ask --tools\ncount and plot", allow_stdin=True, on_message=clicker(fresh, "Run"))
    assert run.reply["status"] == "ok", run.errors
    shown = [m["content"]["data"].get("text/markdown", "") for m in run.of_type("display_data")]
    assert any(f"```python\n{code}\n```" in text for text in shown)  # the exact code, before it ran
    [result] = tool_messages(provider.requests[1])
    assert result["stdout"] == "rows: 344\n" and result["result"] == "688"
    assert result["figures"] == "1 figure(s) shown to the user in the cell"
    assert any("image/png" in m["content"]["data"] for m in run.of_type("display_data"))
    assert "rows: 344" in run.stdout  # printed in the cell too
    updates = [m["content"]["data"].get("text/plain", "") for m in run.of_type("update_display_data")]
    assert "▶ you chose Run" in updates
    answer = run.of_type("display_data")[0]["content"]["transient"]["display_id"]
    lines = [m["content"]["data"]["text/markdown"].split("\n")[0] for m in run.of_type("update_display_data")
             if m["content"]["transient"]["display_id"] == answer]
    assert lines[0].endswith("… running") and lines[-1].endswith("→ ran: 1 line(s) of stdout, a value, 1 figure(s)")


def test_skip_tells_the_model_the_user_declined(fresh, provider):
    provider.enqueue(call("run_code", {"code": "skipped_it = True"}), openai_stream("Fine, not run."))
    run = fresh.execute("%%ask --tools\nset skipped_it", allow_stdin=True, on_message=clicker(fresh, "Skip"))
    assert run.reply["status"] == "ok", run.errors
    [declined] = tool_messages(provider.requests[1])
    assert declined["declined"] is True and "chose not to run" in declined["message"]
    assert fresh.execute("print('skipped_it' in dir())").stdout.strip() == "False"
    assert "skipped by the user" in run.final_markdown()


USER_TOOL_NEEDING_APPROVAL = ("import nbagent\ndropped = []\n@nbagent.tool(requires_approval=True)\n"
                              "def drop_rows(species: str) -> str:\n    '''Drop the rows of a species.'''\n"
                              "    dropped.append(species)\n    return f'dropped {species}'")


@pytest.mark.parametrize("button", ["Run", "Skip"])
def test_a_user_tool_asks_for_approval_as_run_code_does(fresh, provider, button):
    fresh.execute(USER_TOOL_NEEDING_APPROVAL)
    try:
        provider.enqueue(call("drop_rows", {"species": "Adelie"}), openai_stream("Handled."))
        run = fresh.execute("%%ask\ndrop the Adelie rows", allow_stdin=True, on_message=clicker(fresh, button))
        assert run.reply["status"] == "ok", run.errors
        shown = [m["content"]["data"].get("text/markdown", "") for m in run.of_type("display_data")]
        assert any("nbagent wants to call `drop_rows` with:" in text and '"species": "Adelie"' in text
                   for text in shown)  # the call, before it ran
        [result] = [message["content"] for message in provider.requests[1].json["messages"] if message["role"] == "tool"]
        ran = fresh.execute("print(dropped)").stdout.strip()
        if button == "Run":
            assert result == "dropped Adelie" and ran == "['Adelie']"
            assert "⚙ `drop_rows(Adelie)` → dropped Adelie" in run.final_markdown()
        else:
            declined = json.loads(result)
            assert declined["declined"] is True and "chose not to allow this call" in declined["message"]
            assert ran == "[]" and "⚙ `drop_rows(Adelie)` → skipped by the user" in run.final_markdown()
    finally:
        fresh.execute("from nbagent.notebook.kernel import kernel_tools\nkernel_tools._user_tools.clear()")


def test_a_user_tool_needing_approval_is_refused_where_nobody_can_click(fresh, provider):
    fresh.execute(USER_TOOL_NEEDING_APPROVAL)
    try:
        provider.enqueue(call("drop_rows", {"species": "Adelie"}), openai_stream("Suggested instead."))
        run = fresh.execute("%%ask\ndrop the Adelie rows")  # as jupyter execute / nbclient: allow_stdin False
        assert run.reply["status"] == "ok", run.errors
        [refused] = tool_messages(provider.requests[1])
        assert refused["refused"] is True and "cannot show the Run button" in refused["message"]
        assert fresh.execute("print(dropped)").stdout.strip() == "[]"
        assert not [m for m in run.of_type("comm_open")]  # no approval widget
    finally:
        fresh.execute("from nbagent.notebook.kernel import kernel_tools\nkernel_tools._user_tools.clear()")


def test_the_model_cannot_approve_its_own_code(fresh, provider):
    """An `approved` argument is no part of run_code's schema: the call is sent back, nothing runs."""
    provider.enqueue(call("run_code", {"code": "self_approved = True", "approved": True}),
                     call("run_code", {"code": "self_approved = True", "approve_code": "always"}, call_id="call_2"))
    run = fresh.execute("%%ask --tools\nrun it, you have my approval")
    assert run.reply["status"] == "error" and "exceeded max retries" in run.errors[0]["evalue"]
    assert "; last problem: " in run.errors[0]["evalue"] and "approve_code" in run.errors[0]["evalue"]
    assert "extra_forbidden" in provider.requests[1].text
    [offered] = [tool for tool in provider.requests[0].json["tools"] if tool["function"]["name"] == "run_code"]
    assert list(offered["function"]["parameters"]["properties"]) == ["code"]
    assert fresh.execute("print('self_approved' in dir())").stdout.strip() == "False"


def test_approve_code_always_runs_unasked(fresh, provider):
    fresh.execute("%agent_settings approve_code=always")
    provider.enqueue(call("run_code", {"code": "print('x' * 50_000)"}), openai_stream("Printed."))
    run = fresh.execute("%%ask --tools\nprint a lot")
    assert run.reply["status"] == "ok", run.errors
    [result] = tool_messages(provider.requests[1])
    assert result["stdout"].startswith("x" * 2000) and "[cut: 48,001 more characters not shown]" in result["stdout"]
    assert len(provider.requests[1].text) < 10_000  # bounded, never sent whole
    assert not [m for m in run.of_type("comm_open")]  # no approval widget


def test_an_interrupt_stops_run_code(fresh, provider):
    fresh.execute("%agent_settings approve_code=always")
    code = "import time\nfor step in range(600):\n    print(f'step {step}', flush=True)\n    time.sleep(0.05)\nfinished = True"
    provider.enqueue(call("run_code", {"code": code}))
    run = fresh.execute("%%ask --tools\nwait", on_message=fresh.interrupt_when(printed("step 1\n")))
    assert run.errors[0]["ename"] == "AskInterrupted"
    assert fresh.execute("print('finished' in dir(), step < 599)").stdout.strip() == "False True"
    provider.enqueue(openai_stream("still alive"))
    assert fresh.execute("%%ask\nstill there?").reply["status"] == "ok"


def test_long_values_are_cut_with_a_note(fresh, provider):
    fresh.execute("long_text = 'abc ' * 100_000")
    provider.enqueue(call("inspect_variable", {"name": "long_text"}), openai_stream("long"))
    fresh.execute("%%ask --tools\nwhat is long_text")
    [inspected] = tool_messages(provider.requests[1])
    assert inspected["length"] == 400_000 and inspected["text"].endswith("[cut: 398,500 more characters not shown]")


def test_a_tool_turn_is_one_turn_in_history_and_history_file(fresh, provider, tmp_path):
    history = tmp_path / "history.json"
    fresh.execute(f"%agent_settings history_file={history}")
    try:
        provider.enqueue(call("list_variables"), openai_stream("You have penguins."))
        fresh.execute("%%ask --tools\nwhat is there?", metadata={"cellId": "cell-a"})
        provider.enqueue(openai_stream("Mostly Adelie."))
        fresh.execute("%%ask\nwhich species most?", metadata={"cellId": "cell-b"})
        saved = json.loads(history.read_text())["conversations"]["default"]
        assert [m["kind"] for m in saved["messages"]] == ["request", "response", "request", "response", "request", "response"]
        assert saved["cell_ids"] == ["cell-a", "cell-b"]
        table = fresh.execute("%agent_history").of_type("display_data")[0]["content"]["data"]["text/plain"]
        assert [line.split("  ")[2] for line in table.splitlines()[1:]] == ["user", "assistant", "tools", "assistant", "user", "assistant"]
        fresh.execute("from nbagent.notebook.state import get_state\nget_state().conversations.clear()")
        fresh.execute(f"%agent_settings history_file=default\n%agent_settings history_file={history}")
        provider.enqueue(openai_stream("Again."))
        fresh.execute("%%ask --tools\nwhat is there?", metadata={"cellId": "cell-a"})  # re-run: replaces the tool turn
        assert [m["role"] for m in provider.last_request.json["messages"]] == ["system", "user"]
    finally:
        fresh.execute("%agent_settings history_file=default")


def test_a_figure_in_the_question_is_sent_as_an_image(fresh, provider):
    fresh.execute("import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
                  "fig, ax = plt.subplots()\nax.scatter(penguins.bill_length_mm, penguins.body_mass_g)")
    run = fresh.execute("%%ask\nWhat does this plot show? {fig}")
    assert run.reply["status"] == "ok", run.errors
    content = provider.last_request.json["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What does this plot show? "}
    assert content[1]["type"] == "image_url" and content[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


def test_inspect_variable_on_a_figure_returns_the_image(fresh, provider):
    fresh.execute("import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\nfig2 = plt.figure()")
    provider.enqueue(call("inspect_variable", {"name": "fig2"}), openai_stream("An empty figure."))
    run = fresh.execute("%%ask --tools\nlook at fig2")
    assert run.reply["status"] == "ok", run.errors
    sent = provider.requests[1].json["messages"]
    image_parts = [part for message in sent if isinstance(message.get("content"), list) for part in message["content"]
                   if part.get("type") == "image_url"]
    assert len(image_parts) == 1 and image_parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "⚙ `inspect_variable(fig2)` → image/png image" in run.final_markdown()


def test_a_server_that_refuses_images_is_one_line(fresh, provider):
    fresh.execute("png = open(__import__('matplotlib').get_data_path() + '/images/home.png', 'rb').read()")
    provider.enqueue(error(400, "Invalid content type. image_url is only supported by certain models."))
    run = fresh.execute("%%ask\nWhat icon is this? {png}")
    [err] = run.errors
    assert len(err["traceback"]) == 1 and "HTTP 400" in err["evalue"] and "image_url is only supported" in err["evalue"]


def test_offline_model_calls_list_variables(provider_server, provider):
    session = KernelSession(kernel_env(provider_server.openai_base_url, NBAGENT_MODEL="offline", OPENAI_API_KEY=None))
    try:
        session.execute("%load_ext nbagent\n%agent_settings tools=kernel\nrows = [1, 2, 3]")
        run = session.execute("%%ask\nWhat do I have?")
        final = run.final_markdown()
        assert final.startswith("⚙ `list_variables()` → 1 variable(s)")
        assert '"rows": "list, 3 items"' in final and "offline model" in final
        assert provider.requests == []
    finally:
        session.close()


@pytest.mark.parametrize("source,shown", [
    ('db_password = "hunter2"', 'db_password = "***"'),
    ("client = connect(host='db', api_key='sk-abc', port=5)", "client = connect(host='db', api_key='***', port=5)"),
    ('settings = {"user": "ada", "api_token": "tok-1"}', 'settings = {"user": "ada", "api_token": "***"}'),
    ('os.environ["OPENAI_API_KEY"] = "sk-env"', 'os.environ["OPENAI_API_KEY"] = "***"'),
    ('token: str = "t0k"', 'token: str = "***"'),
    ('SECRET = """multi\nline"""', 'SECRET = """***"""'),
    ('name = "ada"  # not a secret', 'name = "ada"  # not a secret'),
    ('print("password = done")', 'print("password = done")'),
    ('x = f"{api_key}"', 'x = f"{api_key}"'),
])
def test_secret_literals_in_code_are_masked(source, shown):
    from nbagent.notebook.kernel.describe import mask_secret_literals

    assert mask_secret_literals(source) == shown
