"""What a new user copies from the README works as written: the distribution's name is not the unrelated
`nbagent` on PyPI, every `pip install` line in the README, the docs and the notebooks installs the checkout
with extras that exist, the quickstart says how to get the code and its install line (no test extras)
installs the commands it runs, and its headless run leaves the checkout as it was."""

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


def quickstart() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]


def installed_by(extras: set[str]) -> set[str]:
    """The distributions `pip install -e '.[extras]'` brings in, followed through the metadata of what is
    installed here (a distribution not installed here ends its branch)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    meta = project()
    ours = canonicalize_name(meta["name"])
    wanted = [(Requirement(line), "") for line in meta["dependencies"]]
    wanted += [(Requirement(line), "") for extra in extras for line in meta["optional-dependencies"][extra]]
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    while wanted:
        requirement, extra = wanted.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name == ours:  # the self-reference: our own extras
            wanted += [(Requirement(line), "") for extra in requirement.extras for line in meta["optional-dependencies"][extra]]
            continue
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        found.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for line in requires:
            wanted += [(Requirement(line), extra) for extra in ["", *requirement.extras]]
    return found


def test_the_quickstart_says_how_to_get_the_code_and_its_commands_are_installed_by_its_install_line():
    from importlib.metadata import entry_points

    from packaging.utils import canonicalize_name

    text = quickstart()
    assert "git clone " in text
    [install] = [FROM_CHECKOUT.match(line.strip()) for line in PIP_INSTALL.findall(text)][:1]
    extras = set(filter(None, (install["extras"] or "").split(",")))
    assert "test" not in extras  # the main install needs no test tools
    installed = installed_by(extras)
    commands = set(re.findall(r"^jupyter (\w+)", text, re.MULTILINE) + re.findall(r"`jupyter (\w+)", text))
    assert {"lab", "execute"} <= commands
    for command in commands:
        [script] = entry_points(group="console_scripts", name=f"jupyter-{command}")
        assert canonicalize_name(script.dist.name) in installed, f"`jupyter {command}` is not installed by {install[0]}"


def test_the_headless_command_runs_the_quickstart_and_leaves_the_checkout_clean():
    import os
    import subprocess
    import sys

    [command] = re.findall(r"`(jupyter execute [^`]+)`", quickstart())
    assert "--inplace" not in command and "--output" not in command

    def snapshot() -> dict[str, bytes]:
        return {str(path): path.read_bytes() for path in sorted((ROOT / "notebooks").rglob("*")) if path.is_file()}

    before = snapshot()
    env = {name: value for name, value in os.environ.items()
           if name not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "NBAGENT_MODEL")}
    executable = Path(sys.executable).parent / "jupyter"
    run = subprocess.run([str(executable), *command.split()[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert snapshot() == before
