"""A small harness to drive a real JupyterLab 4 in headless Chromium, like a user.

Generic: nothing here imports nbagent.

* :class:`JupyterLab` starts ``python -m jupyter lab`` (from the venv of
  ``sys.executable``) on 127.0.0.1 with a random free port and token, in a
  throw-away directory holding the notebooks (root_dir) and an isolated Jupyter
  config/data/runtime/settings/workspaces tree.  The ``python3`` kernelspec in
  the isolated data dir runs ``sys.executable -m ipykernel_launcher``, so the
  kernel sees the same packages as the test process.  The announcements plugin
  is disabled (no news toast), update checks and news fetching are off, and the
  notebook's windowing is off (every cell is in the DOM).  ``env`` adds
  environment variables to the server, and so to every kernel it starts.

* :class:`LabPage` wraps a Playwright sync ``Page`` showing that server:
  open a notebook written with nbformat, run cells, read their outputs, sample
  an output while its cell runs, save, close and reopen, screenshot.

* :func:`launch_chromium` starts Debian's ``/usr/bin/chromium`` headless with
  the flags known to work on our machines (Playwright's own browser download
  does not work here).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

CHROMIUM_PATH = os.environ.get("NBAGENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Lab plugins turned off in the isolated config dir.
DISABLED_PLUGINS = {
    # The "Would you like to get notified about official Jupyter news?" toast.
    "@jupyterlab/apputils-extension:announcements": True,
}

# User settings written into the isolated settings dir: {plugin id: settings}.
DEFAULT_USER_SETTINGS: dict[str, dict[str, Any]] = {
    # Attach every cell to the DOM, so that cell N is always .jp-Cell N.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    # Belt and braces if the announcements plugin ever comes back.
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabStartError(RuntimeError):
    pass


class JupyterLab:
    """A JupyterLab server in a temp dir; use as a context manager.

    >>> with JupyterLab(env={"OPENAI_BASE_URL": "http://127.0.0.1:9999/v1"}) as lab:
    ...     lab.write_notebook("a.ipynb", ["1 + 1"])
    ...     lab.notebook_url("a.ipynb")
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
        user_settings: Mapping[str, Mapping[str, Any]] | None = None,
        disabled_plugins: Mapping[str, bool] | None = None,
        extra_args: Iterable[str] = (),
        expose_app_in_browser: bool = True,
        keep_dir: bool = False,
    ) -> None:
        self.extra_env = dict(env or {})
        self.python = python
        self.startup_timeout = startup_timeout
        self.user_settings = dict(DEFAULT_USER_SETTINGS)
        self.user_settings.update(user_settings or {})
        self.disabled_plugins = dict(DISABLED_PLUGINS)
        self.disabled_plugins.update(disabled_plugins or {})
        self.extra_args = list(extra_args)
        self.expose_app_in_browser = expose_app_in_browser
        self.keep_dir = keep_dir

        self.token = secrets.token_hex(24)
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.root_dir: Path | None = None
        self.log_path: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    # ------------------------------------------------------------------ setup
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _prepare_dirs(self) -> dict[str, str]:
        base = Path(tempfile.mkdtemp(prefix="nbagent-lab-"))
        self.base_dir = base
        self.root_dir = base / "root"
        dirs = {
            "JUPYTER_CONFIG_DIR": base / "config",
            "JUPYTER_DATA_DIR": base / "data",
            "JUPYTER_RUNTIME_DIR": base / "runtime",
            "JUPYTERLAB_SETTINGS_DIR": base / "config" / "lab" / "user-settings",
            "JUPYTERLAB_WORKSPACES_DIR": base / "config" / "lab" / "workspaces",
            "IPYTHONDIR": base / "ipython",
        }
        self.root_dir.mkdir()
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)

        # Kernelspec: the venv's python, whatever is first on PATH.
        kdir = dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3"
        kdir.mkdir(parents=True)
        (kdir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "Python 3 (ipykernel)",
                    "language": "python",
                    "metadata": {"debugger": True},
                },
                indent=1,
            )
        )

        # Plugins off (this is what `jupyter labextension disable` writes).
        labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
        labconfig.mkdir()
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": self.disabled_plugins}, indent=1)
        )

        # Server config: no news, no update check over the network.
        (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "LabApp": {
                        "news_url": None,
                        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                        "extension_manager": "readonly",
                        "expose_app_in_browser": self.expose_app_in_browser,
                    },
                    "ServerApp": {"terminals_enabled": False},
                },
                indent=1,
            )
        )

        # User settings, one file per plugin: <settings>/<pkg>/<plugin>.jupyterlab-settings
        for plugin_id, values in self.user_settings.items():
            pkg, _, plugin = plugin_id.partition(":")
            p = dirs["JUPYTERLAB_SETTINGS_DIR"] / pkg / f"{plugin}.jupyterlab-settings"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(dict(values), indent=1))

        return {k: str(v) for k, v in dirs.items()}

    def _env(self, dirs: Mapping[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        # Nothing from an outer Jupyter session or client should leak in.
        for k in list(env):
            if k.startswith(("JUPYTER_", "JPY_")) or k in ("IPYTHONDIR", "PYTHONSTARTUP"):
                env.pop(k)
        env.update(dirs)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        # `python -m jupyter lab` looks `jupyter-lab` up on PATH: the venv's first.
        bindir = os.path.dirname(os.path.abspath(self.python))
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env.update(self.extra_env)
        return env

    def start(self) -> "JupyterLab":
        dirs = self._prepare_dirs()
        env = self._env(dirs)
        assert self.base_dir is not None and self.root_dir is not None
        self.log_path = self.base_dir / "server.log"
        last_err: Exception | None = None
        for _attempt in range(3):
            self.port = free_port()
            cmd = [
                self.python, "-m", "jupyter", "lab",
                "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root_dir}",
                *self.extra_args,
            ]
            self._log_file = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                cmd,
                cwd=str(self.root_dir),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                self._wait_ready()
                return self
            except LabStartError as e:
                last_err = e
                self._stop_process()
                if "already in use" not in self.log_tail().lower():
                    break
        self.cleanup()
        raise last_err  # type: ignore[misc]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise LabStartError(
                    f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                status = self.api("GET", "/api/status", timeout=2)
                if isinstance(status, dict) and "started" in status:
                    return
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            time.sleep(0.1)
        raise LabStartError(
            f"jupyter lab not ready after {self.startup_timeout}s:\n{self.log_tail()}"
        )

    # -------------------------------------------------------------- teardown
    def _kernel_pids(self) -> list[int]:
        """Kernels this server started: their argv names a connection file in our runtime dir."""
        if self.base_dir is None:
            return []
        marker = str(self.base_dir).encode()
        pids = []
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                cmdline = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and b"ipykernel" in cmdline:
                pids.append(int(p.name))
        return pids

    def _stop_process(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            # Polite first: the server shuts its kernels down itself.
            try:
                self.api("POST", "/api/shutdown", timeout=3)
            except Exception:
                pass
            try:
                proc.wait(timeout=timeout / 2)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout / 2)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except OSError:
                        proc.kill()
                    proc.wait(timeout=5)
        # Any kernel left behind (server killed hard): end it, by pid.
        for pid in self._kernel_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.proc = None

    def cleanup(self) -> None:
        if self.base_dir is not None and not self.keep_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def stop(self, copy_log_to: str | os.PathLike | None = None) -> None:
        """Shut the server (and its kernels) down, optionally keep its log, remove the temp dir."""
        self._stop_process()
        if copy_log_to is not None and self.log_path is not None and self.log_path.exists():
            shutil.copyfile(self.log_path, copy_log_to)
        self.cleanup()

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ utils
    def log_tail(self, n: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the server's REST API; returns decoded JSON (or None for an empty body)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"token {self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def lab_url(self, path: str = "", query: str = "") -> str:
        q = f"{query}&" if query else ""
        return f"{self.url}/lab{path}?{q}token={self.token}"

    def notebook_url(self, name: str, reset: bool = True) -> str:
        """/lab/tree/NAME; with `reset` the saved workspace (the tabs open before) is dropped,
        so that NAME is the only document open."""
        return self.lab_url("/tree/" + urllib.parse.quote(name), "reset" if reset else "")

    def write_notebook(self, name: str, cells: Iterable[str | Any]) -> Path:
        """Write NAME (relative to root_dir) with code cells (strings) or nbformat cells."""
        import nbformat
        from nbformat import v4

        nb = v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        nb.cells = [v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
        assert self.root_dir is not None
        path = self.root_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
        return path

    def read_notebook(self, name: str):
        """The notebook as the server's contents API has it (an nbformat node)."""
        import nbformat

        model = self.api("GET", "/api/contents/" + urllib.parse.quote(name) + "?content=1")
        return nbformat.from_dict(model["content"])

    def contents_model(self, name: str, content: bool = False) -> dict:
        q = "?content=1" if content else "?content=0"
        return self.api("GET", "/api/contents/" + urllib.parse.quote(name) + q)


# ---------------------------------------------------------------------- browser
def chromium_available() -> bool:
    return os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)


def launch_chromium(playwright, **kwargs):
    """Launch Debian's chromium headless through a started sync_playwright()."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM_PATH,
        headless=True,
        args=list(CHROMIUM_ARGS),
        **kwargs,
    )


@dataclass
class Sample:
    """One look at a cell's output while it runs."""

    t: float  # seconds since the cell was started
    count: int  # nodes matching the selector inside the cell's output area
    texts: list[str] = field(default_factory=list)  # innerText of each node
    htmls: list[str] = field(default_factory=list)  # innerHTML of each node
    prompt: str = ""  # the input prompt, e.g. "[*]:" or "[3]:"
    node_ids: list[int] = field(default_factory=list)  # stable per DOM node: same id = same node

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def html(self) -> str:
        return "\n".join(self.htmls)

    @property
    def running(self) -> bool:
        return "*" in self.prompt


def _sample(look: dict | None, t: float) -> Sample:
    look = look or {}
    return Sample(t=t, count=look.get("count", 0), texts=look.get("texts", []), htmls=look.get("htmls", []),
                  prompt=look.get("prompt", ""), node_ids=look.get("ids", []))


_PROMPT_NUM = re.compile(r"\[(\d+)\]")

# JS run in the page: a look at cell `index` of the notebook panel `panelSel`, the `selector` nodes in its
# output area.
_LOOK_JS = """
(panelSel, index, selector) => {
  const panel = document.querySelector(panelSel);
  if (!panel) return null;
  const cell = panel.querySelectorAll('.jp-Notebook .jp-Cell')[index];
  if (!cell) return null;
  const prompt = cell.querySelector('.jp-InputArea-prompt');
  const area = cell.querySelector('.jp-OutputArea') || cell;
  const nodes = Array.from(area.querySelectorAll(selector));
  return {
    prompt: prompt ? prompt.innerText.trim() : '',
    count: nodes.length,
    texts: nodes.map(n => n.innerText),
    htmls: nodes.map(n => n.innerHTML),
    // A JS property (not an attribute: the DOM is left as it is) naming each node.
    ids: nodes.map(n => n.__labSampleId || (n.__labSampleId = (window.__labSampleSeq = (window.__labSampleSeq || 0) + 1))),
  };
}
"""
_SNAPSHOT_JS = f"([panelSel, index, selector]) => ({_LOOK_JS})(panelSel, index, selector)"

# JS: record the look at each animation frame in which something in the cell changed (a MutationObserver
# says when), until window.__labRecording.stop() returns the looks. Frames are when the page paints, so
# these are the states a user could see, however late the test process is to ask.
_RECORD_JS = f"""
([panelSel, index, selector]) => {{
  const look = {_LOOK_JS};
  const cell = document.querySelector(panelSel).querySelectorAll('.jp-Notebook .jp-Cell')[index];
  const started = performance.now();
  const recording = {{looks: [], changed: true, on: true}};
  const observer = new MutationObserver(() => {{ recording.changed = true; }});
  observer.observe(cell, {{subtree: true, childList: true, characterData: true, attributes: true}});
  let last = '';
  const frame = () => {{
    if (!recording.on) return;
    if (recording.changed) {{
      recording.changed = false;
      const seen = look(panelSel, index, selector);
      const key = JSON.stringify(seen);
      if (seen && key !== last) {{
        last = key;
        seen.t = (performance.now() - started) / 1000;
        recording.looks.push(seen);
      }}
    }}
    requestAnimationFrame(frame);
  }};
  frame();
  recording.stop = () => {{ recording.on = false; observer.disconnect(); return recording.looks; }};
  window.__labRecording = recording;
}}
"""


class LabPage:
    """A Playwright sync ``Page`` showing one notebook of a :class:`JupyterLab`."""

    DEFAULT_TIMEOUT = 180.0  # a bound on a failure only: a first run on a loaded 2-core machine is slow

    def __init__(self, lab: JupyterLab, page, artifacts_dir: str | os.PathLike | None = None):
        self.lab = lab
        self.page = page
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir else None
        self.name: str | None = None
        self._panel_id: str | None = None

    # -------------------------------------------------------------- locators
    @property
    def panel_selector(self) -> str:
        if self._panel_id:
            return f"#{self._panel_id}"
        return ".jp-NotebookPanel:not(.lm-mod-hidden)"

    @property
    def panel(self):
        return self.page.locator(self.panel_selector)

    @property
    def cells(self):
        return self.panel.locator(".jp-Notebook .jp-Cell")

    def cell(self, index: int):
        return self.cells.nth(index)

    def cell_input(self, index: int):
        return self.cell(index).locator(".jp-InputArea-editor")

    def cell_prompt(self, index: int):
        return self.cell(index).locator(".jp-InputArea-prompt")

    def cell_output(self, index: int):
        """The cell's `.jp-OutputArea` (holds one `.jp-OutputArea-output` per output)."""
        return self.cell(index).locator(".jp-OutputArea")

    def output_nodes(self, index: int):
        return self.cell(index).locator(".jp-OutputArea-output")

    def tab(self, name: str | None = None):
        name = (name or self.name or "").rsplit("/", 1)[-1]
        return self.page.locator(
            "#jp-main-dock-panel .lm-TabBar-tab",
            has=self.page.locator(".lm-TabBar-tabLabel", has_text=re.compile(rf"^{re.escape(name)}$")),
        )

    # ------------------------------------------------------------ notebooks
    def open_notebook(
        self,
        name: str,
        cells: Iterable[str | Any] | None = None,
        *,
        close_current: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Write NAME with `cells` (code strings or nbformat cells) into root_dir, if given;
        open /lab/tree/NAME; wait until its cells are there and its kernel is idle.

        The notebook this page showed before is closed first (unsaved changes
        discarded: save() what must persist), and the URL carries `?reset`, so
        the restored workspace opens no other tab, and no other kernel.
        """
        if cells is not None:
            self.lab.write_notebook(name, cells)
        if close_current and self.name and self.name != name and self.tab().count():
            # One notebook at a time: a page load restores every open tab (and its kernel).
            self.close_notebook(timeout, discard=True)
        self.name = name
        self._panel_id = None
        self.page.goto(self.lab.notebook_url(name), timeout=timeout * 1000)
        self._wait_notebook_ready(timeout)

    def _wait_notebook_ready(self, timeout: float) -> None:
        tab = self.tab()
        tab.wait_for(state="visible", timeout=timeout * 1000)
        panel_id = tab.get_attribute("data-id")
        if panel_id:
            self._panel_id = panel_id
        self.panel.locator(".jp-Notebook").wait_for(state="visible", timeout=timeout * 1000)
        expected = self._expected_cell_count()
        if expected:
            self.page.wait_for_function(
                "([sel, n]) => { const p = document.querySelector(sel);"
                " return p && p.querySelectorAll('.jp-Notebook .jp-Cell').length >= n; }",
                arg=[self.panel_selector, expected],
                timeout=timeout * 1000,
            )
        self.wait_kernel_idle(timeout)

    def _expected_cell_count(self) -> int:
        try:
            assert self.lab.root_dir is not None and self.name is not None
            with open(self.lab.root_dir / self.name) as f:
                return len(json.load(f).get("cells", []))
        except Exception:
            return 0

    def wait_kernel_idle(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the notebook has a kernel and it is idle.

        The execution indicator alone is not enough: it reads 'idle' while the
        panel still says "No Kernel" (and shows a placeholder cell), before the
        file's content is in and the session started.  The kernel name in the
        toolbar changes only after the content was loaded.
        """
        self.page.wait_for_function(
            """(sel) => {
              const p = document.querySelector(sel);
              if (!p) return false;
              const ind = p.querySelector('.jp-Notebook-ExecutionIndicator');
              const kn = p.querySelector('.jp-Toolbar-kernelName');
              const name = kn ? (kn.getAttribute('aria-label') || kn.innerText || '').trim() : '';
              return !!ind && ind.getAttribute('data-status') === 'idle'
                && name !== '' && name !== 'No Kernel';
            }""",
            arg=self.panel_selector,
            timeout=timeout * 1000,
            polling=50,
        )

    def kernel_status(self) -> str | None:
        return self.panel.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute(
            "data-status"
        )

    # ------------------------------------------------------------ execution
    def prompt_text(self, index: int) -> str:
        return self.cell_prompt(index).inner_text().strip()

    def execution_count(self, index: int) -> int | None:
        m = _PROMPT_NUM.search(self.prompt_text(index))
        return int(m.group(1)) if m else None

    def start_cell(self, index: int, attempts: int = 3) -> str:
        """Run code cell `index` like a user (click its editor, Ctrl+Enter); don't wait for the end.

        Ctrl+Enter is "run cell and stay" (Shift+Enter would also select or
        *insert* a cell below).  Returns the prompt text seen before running.

        Right after a notebook opens, JupyterLab may still move the focus (to the
        file browser's entry for it), and a key pressed then runs nothing.  Lab
        shows `[*]` as it handles the key, so a prompt still unchanged a while
        after the press means the key was lost: the click and press are tried again.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        before = self.prompt_text(index)
        changed = """([sel, index, before]) => {
          const cell = document.querySelector(sel).querySelectorAll('.jp-Notebook .jp-Cell')[index];
          return cell.querySelector('.jp-InputArea-prompt').innerText.trim() !== before;
        }"""
        for _ in range(attempts):
            # (click() scrolls into view and retries if the node is re-rendered)
            self.cell_input(index).click()
            self.page.keyboard.press("Control+Enter")
            try:
                self.page.wait_for_function(changed, arg=[self.panel_selector, index, before], timeout=5000, polling=50)
                return before
            except PlaywrightTimeout as exc:  # the key was lost
                lost = exc
        raise RuntimeError(f"cell {index} did not start after {attempts} tries: {lost}")

    def _done_js(self) -> str:
        # Done: the prompt shows a number and it is not the one seen before.
        # (The execution counter only grows within a kernel's life.)
        return """
        ([sel, index, before]) => {
          const p = document.querySelector(sel);
          if (!p) return false;
          const cell = p.querySelectorAll('.jp-Notebook .jp-Cell')[index];
          if (!cell) return false;
          const t = cell.querySelector('.jp-InputArea-prompt').innerText.trim();
          return /\\[\\d+\\]/.test(t) && t !== before;
        }
        """

    def wait_cell_done(self, index: int, before: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.page.wait_for_function(
            self._done_js(),
            arg=[self.panel_selector, index, before],
            timeout=timeout * 1000,
            polling=50,
        )
        self.wait_kernel_idle(timeout)

    def run_cell(self, index: int, timeout: float = DEFAULT_TIMEOUT) -> int | None:
        """Run cell `index`, wait until its prompt shows a new number and the kernel is idle.

        Returns the execution count.
        """
        before = self.start_cell(index)
        self.wait_cell_done(index, before, timeout)
        return self.execution_count(index)

    def run_cells(self, indices: Iterable[int], timeout: float = DEFAULT_TIMEOUT) -> None:
        for i in indices:
            self.run_cell(i, timeout)

    def snapshot(self, index: int, selector: str = ".jp-OutputArea-output") -> dict | None:
        return self.page.evaluate(_SNAPSHOT_JS, [self.panel_selector, index, selector])

    def sample_while_running(
        self,
        index: int,
        selector: str = ".jp-OutputArea-output",
        interval: float = 0.05,
        timeout: float = DEFAULT_TIMEOUT,
        on_sample: Callable[[Sample], None] | None = None,
        every_frame: bool = True,
    ) -> list[Sample]:
        """Start cell `index` and record the `selector` nodes in its output area (count, innerText,
        innerHTML) until the cell finished; one last sample after.

        With `every_frame` the samples are the page's own record, taken at each frame in which the cell
        changed: every state it showed, however busy this process is. Without it (for long outputs,
        where serialising them at each frame would load the page being measured) they are this
        process's looks, every `interval` s. `on_sample(sample)` is called with each of those looks
        while the cell runs (e.g. to take a screenshot mid-way); the time it takes delays the next
        look, never the page's record.
        """
        before = self.start_cell(index)
        t0 = time.monotonic()
        if every_frame:
            self.page.evaluate(_RECORD_JS, [self.panel_selector, index, selector])
        samples: list[Sample] = []
        done_js = self._done_js()
        arg = [self.panel_selector, index, before]
        while True:
            now = time.monotonic() - t0
            samples.append(_sample(self.snapshot(index, selector), now))
            if on_sample is not None:
                on_sample(samples[-1])
            if self.page.evaluate(done_js, arg):
                break
            if now > timeout:
                raise TimeoutError(f"cell {index} still running after {timeout}s")
            time.sleep(interval)
        self.wait_kernel_idle(timeout)
        if every_frame:
            samples = [_sample(look, look["t"]) for look in self.page.evaluate("() => window.__labRecording.stop()")]
        samples.append(_sample(self.snapshot(index, selector), time.monotonic() - t0))
        return samples

    def sample_releasing(
        self, index: int, holds: Mapping[str, Any], **options: Any
    ) -> tuple[list[Sample], list[Sample]]:
        """`sample_while_running`, releasing each of `holds` ({text: something with .release(), e.g. a
        provider_server.Hold}) once this process sees the text in the cell: the state the hold keeps was
        on screen for certain. Every hold is released at the end, whatever happened. Returns the samples
        and this process's looks (which surely include each held state)."""
        looks: list[Sample] = []

        def release_when_shown(sample: Sample) -> None:
            looks.append(sample)
            for text, hold in holds.items():
                if text in sample.text:
                    hold.release()

        try:
            return self.sample_while_running(index, on_sample=release_when_shown, **options), looks
        finally:
            for hold in holds.values():
                hold.release()

    # --------------------------------------------------------- save / reopen
    def is_dirty(self) -> bool:
        cls = self.tab().get_attribute("class") or ""
        return "jp-mod-dirty" in cls.split()

    def save(self, timeout: float = 30.0) -> None:
        """Ctrl+S in the notebook; wait for the dirty mark to clear and the file to change."""
        assert self.name is not None
        before = self.lab.contents_model(self.name)["last_modified"]
        # Focus the notebook in command mode (Escape leaves a cell editor).
        self.panel.locator(".jp-Notebook").first.focus()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_dirty():
                if self.lab.contents_model(self.name)["last_modified"] != before:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not saved within {timeout}s (dirty={self.is_dirty()})")

    def close_notebook(self, timeout: float = 30.0, *, discard: bool = False) -> None:
        """Close the notebook's tab (its close icon).

        With unsaved changes this raises, unless `discard`: then the "Save your
        work" dialog is answered "Discard".  (A notebook is marked dirty as soon
        as its kernel connects: JupyterLab writes the kernel's language_info
        into its metadata.)
        """
        dirty = self.is_dirty()
        if dirty and not discard:
            raise RuntimeError(f"{self.name} has unsaved changes; save() first")
        tab = self.tab()
        tab.hover()
        tab.locator(".lm-TabBar-tabCloseIcon").click()
        if dirty:
            self.page.locator(".jp-Dialog .jp-Dialog-button", has_text=re.compile("discard", re.I)).click()
        tab.wait_for(state="detached", timeout=timeout * 1000)
        self._panel_id = None

    def close_and_reopen(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Close the notebook tab, then load the notebook again from the server (a fresh page load)."""
        assert self.name is not None
        self.close_notebook(timeout)
        self.page.goto(self.lab.notebook_url(self.name), timeout=timeout * 1000)
        self._wait_notebook_ready(timeout)

    # ----------------------------------------------------------------- misc
    def screenshot(self, path: str | os.PathLike, *, cell: int | None = None) -> Path:
        """Save a PNG of the page (or of one cell). A relative path goes under artifacts_dir."""
        p = Path(path)
        if not p.is_absolute() and self.artifacts_dir is not None:
            p = self.artifacts_dir / p
        p.parent.mkdir(parents=True, exist_ok=True)
        if cell is None:
            self.page.screenshot(path=str(p))
        else:
            self.cell(cell).screenshot(path=str(p))
        return p

    def evaluate(self, js: str, arg: Any = None) -> Any:
        return self.page.evaluate(js, arg)
