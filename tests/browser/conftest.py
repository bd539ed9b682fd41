"""Fixtures for the browser tests: a JupyterLab server and a Chromium page on it.

* ``lab_env`` (module): extra environment for the server and so its kernels;
  override it in a test module, e.g. to point OPENAI_BASE_URL at a loopback
  server that a module fixture started.
* ``lab`` (module): a running :class:`JupyterLab`.
* ``chromium`` (module): a headless Debian chromium (Playwright sync API).
* ``page`` (module): a :class:`LabPage` in a fresh browser context.

These tests are skipped when Playwright or /usr/bin/chromium is missing,
unless NBAGENT_BROWSER_TESTS=1 (as CI sets), where that is a failure.
On a failing test a screenshot goes to artifacts/browser/FAILED-<test>.png.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .lab import CHROMIUM_PATH, JupyterLab, LabPage, chromium_available, launch_chromium

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
REQUIRED = os.environ.get("NBAGENT_BROWSER_TESTS") == "1"
# The hang guard of a browser test (pytest-timeout's 120 s elsewhere): the first test of a module also
# starts JupyterLab, Chromium, a kernel and the notebook's setup cells, which took over 120 s on this
# 2-core machine under load. A bound on a failure only.
BROWSER_TEST_TIMEOUT = 600


def pytest_collection_modifyitems(items) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(item.path).resolve().parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BROWSER_TEST_TIMEOUT))


def _missing_requirement() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[browser]')"
    if not chromium_available():
        return f"{CHROMIUM_PATH} is missing (run .ci/install-browser.sh)"
    return None


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    missing = _missing_requirement()
    if missing is None:
        return
    if REQUIRED:
        pytest.fail(f"NBAGENT_BROWSER_TESTS=1 but {missing}", pytrace=False)
    pytest.skip(f"browser tests: {missing}; set NBAGENT_BROWSER_TESTS=1 to require them")


@pytest.fixture(autouse=True)
def _require_browser(browser_requirements) -> None:
    """Every test under tests/browser is skipped (or fails) on a missing browser."""


@pytest.fixture(scope="session")
def browser_artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def lab_env() -> dict[str, str]:
    """Extra environment for the server and its kernels; override per module."""
    return {}


@pytest.fixture(scope="module")
def lab(request, browser_requirements, lab_env, browser_artifacts):
    server = JupyterLab(env=lab_env)
    server.start()
    try:
        yield server
    finally:
        name = re.sub(r"\W+", "_", request.module.__name__.rsplit(".", 1)[-1])
        server.stop(copy_log_to=browser_artifacts / f"{name}-server.log")


@pytest.fixture(scope="module")
def chromium(browser_requirements):
    # Module scope on purpose: Playwright's sync API runs its own event loop,
    # which should not outlive the browser modules while other (asyncio) tests run.
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def page(lab, chromium, browser_artifacts):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(120_000)  # a bound on a failure only
    pg = context.new_page()
    try:
        yield LabPage(lab, pg, artifacts_dir=browser_artifacts)
    finally:
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request, browser_artifacts):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed or "page" not in request.fixturenames:
        return
    try:
        lab_page = request.getfixturevalue("page")
        name = re.sub(r"\W+", "_", request.node.name)
        lab_page.screenshot(browser_artifacts / f"FAILED-{name}.png")
    except Exception:
        pass
