"""Every notebook in notebooks/ runs top to bottom in a real kernel on the offline model, with no key."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "NBAGENT_MODEL")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the maps' default cache file: a fresh one


def execute(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_offline(path, offline):
    notebook = execute(path)
    ask_cells = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.startswith("%%ask")]
    assert ask_cells
    for cell in ask_cells:
        if "raises-exception" in cell.metadata.get("tags", []):
            continue  # a cell showing its one-line error
        if "--each" in cell.source.splitlines()[0]:
            continue  # a map over rows ends with its summary and a table (test_map_rows_notebook_offline)
        markdown = [out for out in cell.outputs if "text/markdown" in out.get("data", {})]
        assert len(markdown) == 1, cell.source  # one answer output, stored as Markdown
        answer = markdown[0]["data"]["text/markdown"]
        if "--output-type" in cell.source.splitlines()[0]:
            pass  # the object the offline model made up (test_structured_output_notebook_shows_objects_offline)
        elif "--tools" in cell.source.splitlines()[0]:  # the offline model looks around with the kernel tools
            assert answer.startswith("⚙ `list_variables()` → "), answer
        elif not answer.startswith("⚙"):  # unless the user's own tools answered
            assert "offline** model" in answer
        assert "offline model" in answer


def test_data_exploration_uses_the_kernel_tools_offline(offline):
    notebook = execute(NOTEBOOKS[[p.name for p in NOTEBOOKS].index("data-exploration.ipynb")])
    answers = [out.data["text/markdown"] for cell in notebook.cells if cell.source.startswith("%%ask")
               for out in cell.outputs if out.output_type == "display_data"]
    data, error, plot, own_tool = answers
    assert '"penguins": "DataFrame 344 × 8"' in data
    assert "⚙ `last_error()` → KeyError: 'Emperor'" in error and "mean_mass[\\\"Emperor\\\"]" in error
    assert "[image/png image]" in plot  # the figure went with the question, as an image
    assert own_tool.startswith("⚙ `count_species(a)` → 0")


def test_structured_output_notebook_shows_objects_offline(offline):
    notebook = execute(NOTEBOOKS[[p.name for p in NOTEBOOKS].index("structured-output.ipynb")])
    outputs = {cell.source: cell.outputs for cell in notebook.cells if cell.cell_type == "code"}

    def text(source_start: str) -> str:
        [source] = [source for source in outputs if source.startswith(source_start)]
        return "".join(out.get("text", "") + out.get("data", {}).get("text/plain", "") for out in outputs[source])

    assert text("agent = Agent(") == "CityLocation(city='a', country='a', population=0)"
    assert text("async with agent.run_stream(").splitlines()[-1] == "True Landmark(name='a', year_built=0)"
    assert text("olympics") == "CityLocation(city='a', country='a', population=0)"
    assert text("landmark, sizes") == "(Landmark(name='a', year_built=0), {})"
    [error] = [out for out in outputs["%%ask --output-type Landmarks\nThree landmarks of London"] if out.output_type == "error"]
    assert error.evalue == "--output-type Landmarks: NameError: name 'Landmarks' is not defined"
    answer = next(out.data["text/markdown"] for out in outputs["%%ask --output-type CityLocation -o olympics\n"
                                                              "Where were the 2012 Olympics?"] if "data" in out)
    assert answer.startswith("| field | value |\n|---|---|\n| city | a |\n| country | a |\n| population | 0 |\n")
    assert "final_result(city=" in text("%agent_history")


def test_map_rows_notebook_offline(offline):
    notebook = execute(NOTEBOOKS[[p.name for p in NOTEBOOKS].index("map-rows.ipynb")])
    outputs = {cell.source.split("\n")[0]: cell.outputs for cell in notebook.cells if cell.cell_type == "code"}

    def text(start: str) -> str:
        [line] = [line for line in outputs if line.startswith(start)]
        return "".join(out.get("text", "") + out.get("data", {}).get("text/plain", "") for out in outputs[line])

    assert "'rows': 300" in text("print(labels.dtypes.to_dict())") and "'requests_sent': 60" in text("print(labels.dtypes.to_dict())")
    assert "'stars': Int64Dtype()" in text("print(labels.dtypes.to_dict())")
    assert text("again = agent.map(") == "(0, 300, True)"
    assert "60 requests to openai:gpt-4o-mini" in text("mini = Agent(") and "(your prices), batch $" in text("mini = Agent(")
    landed = int(text("from nbagent import FunctionModel").split()[0])
    cached, sent = (int(number) for number in re.findall(r"(\d+) (?:rows from the cache|requests sent now)",
                                                          text("resumed = counter.map(")))
    assert landed >= 100 and cached >= 100 and cached + sent == 240, (landed, cached, sent)
    assert "240 rows in all, 240 without error" in text("resumed = counter.map(")
    summary = text("%%ask --each reviews -o classified --output-type Review --model offline")
    assert "classified: 300 rows" in summary and "60 requests" in summary
    assert "positive    300" in text('classified["sentiment"].value_counts()')
    assert "%%ask --each reviews -o classified (300 rows)" in text("%agent_history")
    assert "offline  60" in text("%agent_usage")


def test_saved_quickstart_renders_without_widget_state(offline, tmp_path):
    notebook = execute(NOTEBOOKS[[p.name for p in NOTEBOOKS].index("quickstart.ipynb")])
    saved = tmp_path / "saved.ipynb"
    nbformat.write(notebook, saved)
    reread = nbformat.read(saved, as_version=4)
    first_answer = next(cell for cell in reread.cells if cell.source.startswith("%%ask"))
    [answer] = [out for out in first_answer.outputs if out.output_type == "display_data"]
    assert answer.data["text/markdown"].startswith("This is nbagent's built-in **offline** model. You asked:")
    assert "text/plain" in answer.data
    announced = "".join(out.get("text", "") for out in first_answer.outputs if out.output_type == "stream")
    assert "built-in `offline` model" in announced
    short = next(cell for cell in reread.cells if cell.source.startswith("print(len(short_answer"))
    assert short.outputs[0]["text"].startswith("12 words:")


def test_plain_ipython_streams_text(offline, tmp_path):
    """Without a notebook frontend (terminal IPython) the magics print the answer as text."""
    import subprocess
    import sys

    cells = "shell = get_ipython(); shell.run_cell('%load_ext nbagent'); shell.run_cell('%%ask\\nHello from a terminal')"
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENV}
    done = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--quick", "-c", cells],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert "TerminalInteractiveShell" in subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "-c", "print(type(get_ipython()).__name__)"],
        capture_output=True, text=True, env=env, timeout=60).stdout
    assert "You asked: “Hello from a terminal”" in done.stdout, done.stdout + done.stderr
    assert "offline model" in done.stdout
