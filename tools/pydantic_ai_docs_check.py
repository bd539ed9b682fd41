"""Do PydanticAI's documentation examples run the same with nbagent? A developer's measurement (SPEC §11).

    python tools/pydantic_ai_docs_check.py PATH_TO_PYDANTIC_AI_CHECKOUT [--page agent] [--show NAME] [--json FILE]

PATH is a local checkout (or export) of github.com/pydantic/pydantic-ai; nothing of it is copied into
this repository. For each Python block of the pages below, the script:

- skips the blocks that need something out of scope (logfire, pydantic_evals, MCP servers, the
  `pydantic_graph` package, UI adapters, durable execution) or that the docs themselves mark as not
  runnable (`test="skip"`);
- rewrites `pydantic_ai` to `nbagent` in the imports (the PydanticAI run keeps them as they are);
- replaces a real provider's model (`'openai:gpt-5.2'`, `'anthropic:...'`, ...) by the library's own
  `TestModel()`, so both libraries answer offline and deterministically (blocks that build a
  `FunctionModel` or `TestModel` themselves keep them);
- runs every block in a child process per library (blocks with a `title` are importable by later ones
  under that module name, as the docs' `requires=` expects; `main()` is awaited and `call_name=`
  functions are called), capturing what it prints and the exception it ends with, if any;
- compares the two: the same printed output (timestamps, ids and addresses masked) and the same
  exception class name count as "same".

A block that does not run under PydanticAI itself in this harness (a module it needs is missing, a
real key is asked for) is reported as not runnable and left out of the ratio. `--show NAME` prints
both outputs of one block (NAME is a substring of `page:line` or of its title).
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import contextlib
import difflib
import inspect
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import traceback
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path

PAGES = ("agent", "tools", "tools-advanced", "output", "message-history", "dependencies", "testing",
         "multi-agent-applications")

OUT_OF_SCOPE = {
    "logfire": r"\blogfire\b",
    "pydantic_evals": r"\bpydantic_evals\b",
    "MCP servers": r"pydantic_ai\.mcp\b|\bMCPServer|FastMCP",
    "pydantic_graph": r"\bpydantic_graph\b",
    "UI adapters": r"pydantic_ai\.ui\b|\bag_ui\b|VercelAIAdapter|AGUIAdapter|to_ag_ui|to_web\(",
    "durable execution": r"pydantic_ai\.durable_exec|\btemporalio\b|\bdbos\b|\bprefect\b",
}

PROVIDERS = ("openai", "openai-chat", "openai-responses", "anthropic", "google", "google-gla", "google-vertex",
             "groq", "mistral", "cohere", "bedrock", "deepseek", "grok", "xai", "huggingface", "cerebras",
             "heroku", "openrouter", "vercel", "together", "fireworks", "ollama", "azure", "github",
             "moonshotai", "litellm", "nebius", "ovhcloud", "alibaba", "sambanova", "gateway/[a-z-]+")
MODEL_STRING = re.compile(r"""(['"])(?:%s):[A-Za-z0-9._:/-]+\1""" % "|".join(PROVIDERS))
FENCE = re.compile(r"^```(?:python|py)\b\s*(\{[^}]*\})?\s*$")
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
IMPORT_LINE = re.compile(r"^(\s*)(from|import)\s+pydantic_ai\b", re.M)

TIMEOUT_SECONDS = 30
VOLATILE = [
    (re.compile(r"datetime\.datetime\([^)]*\)|datetime\.date\([^)]*\)"), "<datetime>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "<datetime>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b(pyd_ai_|call_|toolu_)[A-Za-z0-9_]+"), "<tool-call-id>"),
    (re.compile(r"0x[0-9a-f]{6,}"), "<address>"),
    (re.compile(r"\b\d+\.\d{4,}\b"), "<float>"),
]

FAKE_MODULES = {
    # Stand-ins for the modules the docs import but do not show; written for this harness.
    "fake_database": '''
class QueryError(RuntimeError):
    pass


class _Users:
    def get(self, name):
        return {"John Doe": 123}.get(name)


class DatabaseConn:
    users = _Users()

    async def execute(self, query):
        return []

    async def get_forecast(self, user_id):
        return "sunny"

    async def store_forecast(self, user_id, forecast):
        pass
''',
    "weather_service": '''
class WeatherService:
    def get_forecast(self, location, forecast_date):
        return "The forecast in " + str(location) + " is 24°C and sunny."

    def get_historic_weather(self, location, forecast_date):
        return "The weather in " + str(location) + " was 18°C and partly cloudy."

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args):
        pass
''',
}


@dataclass
class Block:
    page: str
    line: int
    code: str
    attributes: dict[str, str] = field(default_factory=dict)
    out_of_scope: str | None = None

    @property
    def name(self) -> str:
        title = self.attributes.get("title")
        return f"{self.page}:{self.line}" + (f" ({title})" if title else "")

    @property
    def module(self) -> str | None:
        title = self.attributes.get("title", "")
        return title[:-3] if title.endswith(".py") and title[:-3].isidentifier() else None


def extract(docs: Path, pages: tuple[str, ...]) -> list[Block]:
    blocks: list[Block] = []
    for page in pages:
        lines = (docs / f"{page}.md").read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            opening = FENCE.match(lines[index].strip())
            if opening is None:
                index += 1
                continue
            indent = len(lines[index]) - len(lines[index].lstrip())
            body: list[str] = []
            start = index + 1
            index += 1
            while index < len(lines) and lines[index].strip() != "```":
                body.append(lines[index][indent:])
                index += 1
            index += 1
            attributes = dict(ATTRIBUTE.findall(opening.group(1) or ""))
            block = Block(page, start, "\n".join(body) + "\n", attributes)
            block.out_of_scope = _out_of_scope(block)
            blocks.append(block)
    return blocks


def _out_of_scope(block: Block) -> str | None:
    for reason, pattern in OUT_OF_SCOPE.items():
        if re.search(pattern, block.code):
            return reason
    if block.attributes.get("test") == "skip":
        return 'marked test="skip" by the docs'
    return None


def prepare(code: str, library: str) -> str:
    """The block as it runs under `library`: real models replaced, imports renamed for nbagent."""
    code = MODEL_STRING.sub("__docs_model__()", code)
    if library == "nbagent":
        code = IMPORT_LINE.sub(lambda match: f"{match.group(1)}{match.group(2)} nbagent", code)
    return code


# ---------------------------------------------------------------------------------------------- child


class BlockTimeout(Exception):
    pass


def _on_alarm(signum, frame):  # noqa: ANN001 - a signal handler
    raise BlockTimeout(f"the block ran longer than {TIMEOUT_SECONDS} s")


def run_child(library: str, blocks_file: str, results_file: str) -> None:
    """Run every block under one library, in order, and write what each printed and raised."""
    blocks = [Block(**data) for data in json.loads(Path(blocks_file).read_text())]
    test_model = __import__(f"{library}.models.test", fromlist=["TestModel"]).TestModel
    builtins.__docs_model__ = lambda: test_model()  # type: ignore[attr-defined]
    modules = Path(tempfile.mkdtemp(prefix=f"docs_check_{library}_"))
    for name, source in FAKE_MODULES.items():
        (modules / f"{name}.py").write_text(source)
    for block in blocks:
        if block.module and not block.out_of_scope:
            (modules / f"{block.module}.py").write_text(prepare(block.code, library))
    sys.path.insert(0, str(modules))
    os.chdir(modules)
    signal.signal(signal.SIGALRM, _on_alarm)
    baseline = set(sys.modules)
    results = {}
    for block in blocks:
        if block.out_of_scope:
            continue
        for name in set(sys.modules) - baseline:  # each block imports the titled modules afresh
            if name.split(".")[0] in {b.module for b in blocks} | set(FAKE_MODULES):
                del sys.modules[name]
        results[block.name] = _run_block(block, library)
    Path(results_file).write_text(json.dumps(results))


def _run_block(block: Block, library: str) -> dict[str, str | None]:
    printed = io.StringIO()
    error: BaseException | None = None
    module = types.ModuleType("__main__")  # a real module, so pydantic resolves the block's own classes
    namespace = module.__dict__
    script, sys.modules["__main__"] = sys.modules["__main__"], module
    random.seed(0)  # blocks that roll dice roll the same under both libraries
    signal.alarm(TIMEOUT_SECONDS)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(prepare(block.code, library), block.name, "exec"), namespace)
            target = namespace.get(block.attributes.get("call_name", "main"))
            if callable(target) and not re.search(r"asyncio\.run\(|run_until_complete", block.code):
                outcome = target()
                if inspect.isawaitable(outcome):
                    asyncio.run(outcome)
    except BaseException as exc:  # noqa: BLE001 - every way a block can end is recorded
        error = exc
    finally:
        signal.alarm(0)
        sys.modules["__main__"] = script
    detail = None
    if error is not None:
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()[-300:]
    return {"printed": printed.getvalue(), "error": type(error).__name__ if error else None, "detail": detail}


# ---------------------------------------------------------------------------------------------- parent


def normalise(text: str) -> str:
    for pattern, mask in VOLATILE:
        text = pattern.sub(mask, text)
    return text


NOT_RUNNABLE = {"ModuleNotFoundError", "ImportError", "BlockTimeout", "NameError", "ConnectError"}
"""How a block ends under PydanticAI when it cannot run here: a module or a name the docs do not show,
the network, a real key."""


def verdict(reference: dict, ours: dict) -> str:
    if reference["error"] in NOT_RUNNABLE or re.search(r"API_KEY|Please install", reference["detail"] or ""):
        return "not runnable"
    same = normalise(reference["printed"]) == normalise(ours["printed"]) and reference["error"] == ours["error"]
    return "same" if same else "different"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, nargs="?", help="a local checkout of pydantic/pydantic-ai (its docs/ is read)")
    parser.add_argument("--page", action="append", choices=PAGES, help="only these pages (repeatable)")
    parser.add_argument("--show", help="print both runs of the blocks whose name contains this")
    parser.add_argument("--json", type=Path, help="write every block's verdict and outputs here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return
    if args.checkout is None:
        parser.error("give the path of a pydantic-ai checkout")
    docs = args.checkout / "docs"
    if not (docs / "agent.md").exists():
        parser.error(f"{docs} has no agent.md: give the root of a pydantic-ai checkout")
    blocks = extract(docs, tuple(args.page or PAGES))
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        blocks_file = Path(scratch, "blocks.json")
        blocks_file.write_text(json.dumps([asdict(block) for block in blocks]))
        repository = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": repository, "PYTHONHASHSEED": "0"}
        for key in [name for name in env if name.endswith("_API_KEY")]:
            del env[key]  # a block must never reach a real provider
        children = {}
        for library in ("pydantic_ai", "nbagent"):
            out = Path(scratch, f"{library}.json")
            children[library] = (subprocess.Popen([sys.executable, __file__, "--child", library, str(blocks_file),
                                                   str(out)], env=env, stderr=subprocess.PIPE, text=True), out)
        for library, (child, out) in children.items():
            _, stderr = child.communicate()
            if child.returncode != 0 or not out.exists():
                sys.exit(f"the {library} run failed:\n{stderr[-3000:]}")
            results[library] = json.loads(out.read_text())
    report(blocks, results, args)


def report(blocks: list[Block], results: dict, args: argparse.Namespace) -> None:
    counts: dict[str, int] = {}
    rows = []
    for block in blocks:
        if block.out_of_scope:
            outcome = f"out of scope: {block.out_of_scope}"
            counts["out of scope"] = counts.get("out of scope", 0) + 1
        else:
            reference, ours = results["pydantic_ai"][block.name], results["nbagent"][block.name]
            outcome = verdict(reference, ours)
            counts[outcome] = counts.get(outcome, 0) + 1
        rows.append((block, outcome))
        print(f"{outcome:<14.14} {block.name}")
        if args.show and args.show in block.name and not block.out_of_scope:
            for library in ("pydantic_ai", "nbagent"):
                result = results[library][block.name]
                print(f"  --- {library}: {result['error'] or 'no error'} {result['detail'] or ''}")
            diff = difflib.unified_diff(normalise(reference["printed"]).splitlines(),
                                        normalise(ours["printed"]).splitlines(), "pydantic_ai", "nbagent",
                                        lineterm="")
            print("\n".join("  " + line for line in diff))
    compared = counts.get("same", 0) + counts.get("different", 0)
    share = counts.get("same", 0) / compared if compared else 0.0
    print(f"\n{len(blocks)} blocks: " + ", ".join(f"{count} {name}" for name, count in sorted(counts.items())))
    print(f"same behaviour: {counts.get('same', 0)} of {compared} in-scope runnable blocks ({share:.0%})")
    if args.json:
        args.json.write_text(json.dumps([{"block": block.name, "outcome": outcome,
                                          **{library: results[library].get(block.name) for library in results}}
                                         for block, outcome in rows], indent=1))


if __name__ == "__main__":
    main()
