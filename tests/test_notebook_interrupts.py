"""An interrupt ends a `%%ask` cell within moments wherever the question is: connecting, waiting for the
first byte, streaming, running a tool, waiting for the Run click. Each is a real kernel interrupted with
`KernelManager.interrupt_kernel()` at that moment (seen from outside: the server got the request, the
first words were shown, the tool line or the Run button appeared), and the conversation stays as it was.

The execute deadline is only a failure bound; the time from the interrupt to the cell's end is printed
(`pytest -s`) and never asserted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from kernel_session import FORGET_CONVERSATIONS, KernelSession, kernel_env, nbagent_kernel
from provider_server import Blackhole, ProviderServer, openai_stream, openai_tool_stream, stall

DEADLINE = 30.0  # a failure bound only: before the fix these cells waited for the 600 s read timeout

SLOW_TOOL = """
import threading
import nbagent
release_slow_tool = threading.Event()

@nbagent.tool
def slow_lookup() -> str:
    \"\"\"Look something up, slowly.\"\"\"
    release_slow_tool.wait(120)
    return "found"
"""


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url), SLOW_TOOL) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute(f"%agent_settings tools=off approve_code=ask\n{FORGET_CONVERSATIONS}")
    provider.clear()
    yield kernel
    kernel.execute("release_slow_tool.set(); release_slow_tool.clear()")


@pytest.fixture(scope="module")
def blackhole():
    with Blackhole() as hole:
        yield hole


def markdown(message: dict[str, Any]) -> str:
    return message["content"].get("data", {}).get("text/markdown", "")


def call(name: str, arguments: dict[str, Any] | None = None) -> Any:
    return openai_tool_stream([("call_1", name, json.dumps(arguments or {}))])


@dataclass
class Moment:
    """Where the question is when the interrupt comes: what the server plays, the `%%ask` options, and
    the sign (an iopub message, the server's state) that the question got there."""

    replies: Callable[[], list[Any]]
    options: str
    reached: Callable[[dict[str, Any], ProviderServer, Blackhole, int], bool]
    setup: str = ""
    allow_stdin: bool = False


def _first_byte_awaited(message: dict[str, Any], provider: ProviderServer, *_: Any) -> bool:
    return message["msg_type"] == "display_data" and bool(provider.wait_for_requests(1, timeout=10))


def _connecting(message: dict[str, Any], provider: ProviderServer, hole: Blackhole, parked: int) -> bool:
    if message["msg_type"] != "display_data":
        return False
    deadline = time.monotonic() + 10  # the cell shows `asking…` before the request starts to connect
    while hole.connecting() <= parked and time.monotonic() < deadline:
        time.sleep(0.01)
    return True


def _run_button_read(message: dict[str, Any], *_: Any) -> bool:
    if "application/vnd.jupyter.widget-view+json" not in message["content"].get("data", {}):
        return False
    time.sleep(1.0)  # the user reads the code first: the kernel has long gone quiet when the interrupt comes
    return True


MOMENTS = {
    "connecting": Moment(lambda: [], "--model vllm:m", _connecting),
    "waiting for the first byte": Moment(lambda: [stall(120)], "", _first_byte_awaited),
    "streaming": Moment(lambda: [openai_stream([f"w{i} " for i in range(2000)], delay=0.02)], "",
                        lambda message, *_: message["msg_type"] == "update_display_data" and "w1 " in markdown(message)),
    "running a tool": Moment(lambda: [call("slow_lookup")], "",
                             lambda message, *_: "slow_lookup" in markdown(message)),
    "running approved code": Moment(
        lambda: [call("run_code", {"code": "import time\nfor step in range(2400):\n    time.sleep(0.05)"})], "--tools",
        lambda message, *_: "run_code" in markdown(message), setup="%agent_settings approve_code=always"),
    "waiting for the Run click": Moment(lambda: [call("run_code", {"code": "clicked = True"})], "--tools",
                                        _run_button_read, allow_stdin=True),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_an_interrupt_ends_the_cell_at_any_moment(fresh: KernelSession, provider: ProviderServer,
                                                   blackhole: Blackhole, moment: str) -> None:
    where = MOMENTS[moment]
    assert fresh.execute("%%ask\nbefore").reply["status"] == "ok"
    fresh.execute(f"import os; os.environ['VLLM_BASE_URL'] = '{blackhole.url}/v1'\n{where.setup}")
    provider.enqueue(*where.replies())
    parked = blackhole.connecting()
    interrupted_at: list[float] = []

    def interrupt_when_reached(message: dict[str, Any]) -> None:
        if not interrupted_at and where.reached(message, provider, blackhole, parked):
            fresh.manager.interrupt_kernel()
            interrupted_at.append(time.perf_counter())

    run = fresh.execute(f"%%ask {where.options}\nwill be interrupted", timeout=DEADLINE,
                        on_message=interrupt_when_reached, allow_stdin=where.allow_stdin)
    assert interrupted_at, f"the question never reached {moment!r}"
    print(f"\n{moment}: the cell ended {run.arrivals[-1] - interrupted_at[0]:.2f} s after the interrupt")
    assert run.reply["status"] == "error"
    [error] = run.errors
    assert error["ename"] == "AskInterrupted" and len(error["traceback"]) == 1

    fresh.execute("release_slow_tool.set(); release_slow_tool.clear()")
    provider.clear()
    after = fresh.execute("%%ask\nafter")
    assert after.reply["status"] == "ok", after.errors
    assert [m["content"] for m in provider.last_request.json["messages"]] == ["before", "Echo: before", "after"]
    assert fresh.execute("print('clicked' in dir())").stdout.strip() == "False"
