"""What a new user copies to install nbagent installs this project: the distribution's name is not the
unrelated `nbagent` on PyPI, every `pip install` line in the README, the docs and the notebooks installs
from the checkout, and every extra such a line names exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PIP_INSTALL = re.compile(r"pip install ([^`\n&;)#]+)")
FROM_CHECKOUT = re.compile(r"^(?:-e )?'?\.(?:\[(?P<extras>[\w,-]+)\])?'?$")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def documents() -> dict[str, str]:
    """The README, the docs and the notebooks (their cells' sources), by path."""
    found = {str(path.relative_to(ROOT)): path.read_text() for path in [ROOT / "README.md", *ROOT.glob("*/*.md")]}
    for notebook in ROOT.glob("notebooks/*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        found[str(notebook.relative_to(ROOT))] = "\n".join("".join(cell["source"]) for cell in cells)
    return found


def test_the_distribution_is_not_the_other_nbagent_on_pypi():
    meta = project()
    assert meta["name"] != "nbagent"
    self_references = [requirement for extra in meta["optional-dependencies"].values() for requirement in extra
                       if requirement.split("[")[0] in ("nbagent", meta["name"])]
    assert self_references and all(requirement.startswith(meta["name"] + "[") for requirement in self_references)


def test_every_install_line_installs_this_checkout():
    extras = set(project()["optional-dependencies"])
    lines = [(path, line.strip()) for path, text in documents().items() for line in PIP_INSTALL.findall(text)]
    assert len(lines) >= 3
    for path, line in lines:
        installed = FROM_CHECKOUT.match(line)
        assert installed, f"{path}: `pip install {line}` does not install this checkout"
        named = set(filter(None, (installed["extras"] or "").split(",")))
        assert named <= extras, f"{path}: `pip install {line}` names an extra pyproject.toml lacks: {named - extras}"
