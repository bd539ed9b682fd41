"""The README's tools, structured-output and row-map examples run as written, offline, and do what their
comments say."""

from __future__ import annotations

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_tools_example_runs_offline(capsys) -> None:
    section = README.read_text().split("## Tools", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    output, kinds = capsys.readouterr().out.splitlines()
    results = json.loads(output)
    assert results["user_name"] == "Ada" and 1 <= results["roll_die"] <= 6
    assert kinds == "['request', 'response', 'request', 'response']"


def test_readme_structured_output_example_runs_offline(capsys) -> None:
    section = README.read_text().split("## Structured output", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out == "CityLocation(city='a', country='a')\n"


def test_readme_row_map_example_runs_offline(capsys) -> None:
    section = README.read_text().split("## One question over every row", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(README), "exec", dont_inherit=True), {"__name__": "readme_example"})  # as written: no future import
    estimate, dtypes, folded = capsys.readouterr().out.splitlines()
    assert estimate.startswith("3 rows → 2 requests to offline (0 cached, 1 duplicates folded)")
    assert dtypes == "{'sentiment': 'string', 'stars': 'Int64', '_error': 'string'}" and folded == "1"
