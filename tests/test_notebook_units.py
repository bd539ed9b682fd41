"""Pure functions and objects of the notebook layer, without a kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbagent.notebook.prompt import InterpolationError, first_code_block, interpolate
from nbagent.notebook.markdown.render import answer_bundle, close_open_fence


def test_streaming_bundle_closes_an_open_code_block_and_keeps_plain_text_exact():
    assert close_open_fence("text\n```python\nx = 1") == "text\n```python\nx = 1\n```"
    assert close_open_fence("```\na\n```\n") == "```\na\n```\n"
    bundle = answer_bundle("see <b>", "openai:gpt-4o · 1 → 2 tokens")
    assert bundle["text/markdown"] == "see &lt;b>\n\n---\n*openai:gpt-4o · 1 → 2 tokens*"
    assert bundle["text/plain"] == "see <b>\n\nopenai:gpt-4o · 1 → 2 tokens"


def test_interpolation():
    namespace = {"x": 2, "items": ["a", "b"]}
    assert interpolate("{x * 3} {items[1]} {x:03d} {items!r} {{x}}", namespace) == ("6 b 002 ['a', 'b'] {x}", [])
    assert interpolate("no braces", {}) == ("no braces", [])
    with pytest.raises(InterpolationError, match="unknown name 'y'"):
        interpolate("{y}", namespace)
    with pytest.raises(InterpolationError, match="literal braces"):
        interpolate("a { b", namespace)
    text, notes = interpolate("{big}", {"big": "z" * 5000})
    assert len(notes) == 1 and "5,000 characters" in notes[0] and text.startswith("z" * 2000) and len(text) < 2100


def test_first_code_block():
    assert first_code_block("x\n```python\nprint(1)\n```\n```\nsecond\n```") == "print(1)"
    assert first_code_block("no code") is None


def test_closing_a_panel_stops_it_following_the_settings():
    from nbagent.notebook.line_magics.panel import settings_panel
    from nbagent.notebook.state import AgentSettings

    settings = AgentSettings()
    panel = settings_panel(settings)
    temperature = panel.children[0]
    settings.temperature = 0.4
    assert temperature.value == 0.4
    temperature.value = 0.9
    assert settings.temperature == 0.9  # two-way
    panel.close()
    settings.temperature = 0.1
    assert temperature.value == 0.9


def test_load_ext_imports_only_the_front_of_the_notebook_layer():
    """The one lazy boundary: `%load_ext` loads the magics, the settings traits and the recorder of what
    cells show (it must see every cell from then on); the rest of the layer
    (and the core behind it) waits for the first magic call, which loads it through `layer()`."""
    code = ("import sys; from IPython.core.interactiveshell import InteractiveShell; "
            "shell = InteractiveShell.instance(); shell.run_line_magic('load_ext', 'nbagent'); "
            "print(sorted(m for m in sys.modules if m.startswith('nbagent'))); "
            "shell.run_line_magic('agent_settings', 'temperature=0.5'); "
            "print('nbagent.notebook.commands' in sys.modules, 'nbagent.agent' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == ("['nbagent', 'nbagent.notebook', 'nbagent.notebook.cell_outputs', 'nbagent.notebook.config', "
                      "'nbagent.notebook.magics']")
    assert out[-1] == "True True"
