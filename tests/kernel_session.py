"""A real IPython kernel driven over the Jupyter protocol (jupyter_client), for notebook-layer tests."""

from __future__ import annotations

import os
import queue
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from jupyter_client.manager import KernelManager


@dataclass
class Execution:
    """Everything the kernel published for one execute request, with arrival times."""

    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    started: float = 0.0

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["msg_type"] in types]

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stderr")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.of_type("error")]

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.of_type("update_display_data")]

    def outputs(self) -> list[dict[str, Any]]:
        """The cell's displays as a frontend holds them at the end, in the order they were opened: each
        one's data after its last update (`{}` for one emptied). A `clear_output` removes those shown
        before it (with `wait`, when the next output arrives, an error too, as JupyterLab and nbclient do)."""
        shown: list[dict[str, Any]] = []
        where: dict[str, list[int]] = {}
        clear_next = False
        for message in self.of_type("display_data", "update_display_data", "clear_output", "stream", "error"):
            content = message["content"]
            if message["msg_type"] == "clear_output":
                clear_next = bool(content.get("wait"))
                if not clear_next:
                    shown, where = [], {}
                continue
            if clear_next and message["msg_type"] != "update_display_data":
                shown, where, clear_next = [], {}, False
            if message["msg_type"] in ("stream", "error"):
                continue
            display_id = content.get("transient", {}).get("display_id")
            if message["msg_type"] == "display_data":
                where.setdefault(display_id, []).append(len(shown))
                shown.append(content["data"])
            else:
                for index in where.get(display_id, []):
                    shown[index] = content["data"]
        return shown

    def final_markdown(self) -> str:
        """The Markdown this cell's own answer display ends with (its display, then its last update, or
        its display shown again after the cell was cleared)."""
        [shown, *_] = self.of_type("display_data")
        display_id = shown["content"]["transient"]["display_id"]
        for message in reversed(self.of_type("display_data", "update_display_data")):
            if message["content"].get("transient", {}).get("display_id") == display_id:
                return message["content"]["data"].get("text/markdown", "")
        return shown["content"]["data"].get("text/markdown", "")


class KernelSession:
    """Start a kernel with the given environment; run code; collect iopub until idle."""

    def __init__(self, env: dict[str, Any], extra_arguments: tuple[str, ...] = ()) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.stray: list[dict[str, Any]] = []  # iopub messages of other (earlier, background) requests
        full_env = {**os.environ, **env}
        for name, value in env.items():
            if value is None:
                full_env.pop(name, None)
        self.manager.start_kernel(env=full_env, extra_arguments=["--HistoryManager.enabled=False", *extra_arguments])
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(self, code: str, *, timeout: float = 60, metadata: dict[str, Any] | None = None,
                allow_stdin: bool = False, on_message: Callable[[dict[str, Any]], None] | None = None) -> Execution:
        """Run `code`; `allow_stdin=True` as a frontend a user sits at sends it (JupyterLab does);
        `on_message` sees each iopub message of this request as it arrives (e.g. to click a button, or
        to interrupt: `interrupt_when`)."""
        started = time.perf_counter()
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": allow_stdin, "stop_on_error": False}
        request = self.client.session.msg("execute_request", content)
        request["metadata"] = dict(metadata or {})  # JupyterLab sends {"cellId": ...} here
        self.client.shell_channel.send(request)
        msg_id = request["header"]["msg_id"]
        execution = Execution(reply={}, started=started)
        deadline = started + timeout
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                if time.perf_counter() >= deadline:
                    raise TimeoutError(f"kernel did not finish {code[:60]!r} within {timeout} s") from None
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                self.stray.append(message)
                continue
            execution.messages.append(message)
            execution.arrivals.append(time.perf_counter())
            if on_message is not None:
                on_message(message)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
        while True:
            reply = self.client.get_shell_msg(timeout=10)
            if reply["parent_header"].get("msg_id") == msg_id:
                execution.reply = reply["content"]
                break
        return execution

    def interrupt_when(self, happened: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], None]:
        """An `on_message` for `execute`: interrupt the kernel at the first message of the request for which
        `happened(message)` holds (the cell is then where the test wants it, whatever time that took)."""
        interrupted = False

        def on_message(message: dict[str, Any]) -> None:
            nonlocal interrupted
            if not interrupted and happened(message):
                interrupted = True
                self.manager.interrupt_kernel()
        return on_message

    def drain_until(self, arrived: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        """Collect iopub messages of other requests into `stray` (e.g. a background answer's updates) until
        one for which `arrived(message)` holds (one already there counts), and return it. `timeout` only
        bounds a failure."""
        for message in self.stray:
            if arrived(message):
                return message
        deadline = time.perf_counter() + timeout
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                raise TimeoutError(f"no such message within {timeout} s ({len(self.stray)} others)") from None
            self.stray.append(message)
            if arrived(message):
                return message

    def send_comm(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a comm message as a frontend would (e.g. a widget state change from the browser)."""
        content = {"comm_id": comm_id, "data": data}
        message = self.client.session.msg("comm_msg", content)
        self.client.shell_channel.send(message)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def printed(text: str) -> Callable[[dict[str, Any]], bool]:
    """A test of iopub messages: a write to stdout or stderr holding `text`."""
    return lambda message: message["msg_type"] == "stream" and text in message["content"]["text"]


def displayed(text: str) -> Callable[[dict[str, Any]], bool]:
    """A test of iopub messages: a display, or an update of one, holding `text` (in any of its mimetypes)."""
    return lambda message: (message["msg_type"] in ("display_data", "update_display_data")
                            and any(text in str(shown) for shown in message["content"]["data"].values()))


def kernel_env(provider_url: str, **extra: str) -> dict[str, Any]:
    """Environment for a kernel that talks to the loopback provider as `openai:`."""
    return {
        "OPENAI_API_KEY": "sk-kernel-test-key-0123456789",
        "OPENAI_BASE_URL": provider_url,
        "NBAGENT_MODEL": "openai:gpt-4o",
        "ANTHROPIC_API_KEY": None,
        **extra,
    }


@contextmanager
def nbagent_kernel(env: dict[str, Any], *setup: str) -> Iterator[KernelSession]:
    """A kernel with `%load_ext nbagent` done and each `setup` cell run (each must succeed); shut down after."""
    session = KernelSession(env)
    try:
        for code in ("%load_ext nbagent", *setup):
            run = session.execute(code)
            assert run.reply["status"] == "ok", (code, run.errors)
        yield session
    finally:
        session.close()


def clicker(kernel: KernelSession, button: str) -> Callable[[dict[str, Any]], None]:
    """An `on_message` hook that clicks the widget button labelled `button` as JupyterLab would."""
    def on_message(message: dict[str, Any]) -> None:
        if message["msg_type"] == "comm_open":
            state = message["content"]["data"].get("state", {})
            if state.get("_model_name") == "ButtonModel" and state.get("description") == button:
                kernel.send_comm(message["content"]["comm_id"], {"method": "custom", "content": {"event": "click"}})
    return on_message


FORGET_CONVERSATIONS = "from nbagent.notebook.state import get_state\nget_state().conversations.clear()"
"""Code that empties every conversation of the kernel, for a test that starts afresh."""
