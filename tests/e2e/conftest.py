"""Fixtures for the browser tests: a private JupyterLab server and headless Debian Chromium via Playwright.

Without ``/usr/bin/chromium`` (or without the ``playwright`` package) the browser tests are skipped with a
one-line reason, which is also printed at the end of the run, so ``make test`` works on a learner's laptop.
CI sets ``COURSE_E2E_REQUIRED=1`` (see ``.ci/run``): there a missing browser is a failure, not a skip.

Playwright never downloads a browser here: it drives the system's Chromium through ``executable_path``.
Screenshots of every state go to ``<repo>/tmp/e2e-screenshots/run-<time>-<pid>/`` (git-ignored;
``COURSE_E2E_SHOTS`` moves the parent folder). Each run gets its own folder, so two runs at once do not mix
their pictures; only the newest few run folders are kept.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("COURSE_E2E_CHROMIUM", "/usr/bin/chromium"))
SHOTS_DIR = Path(os.environ.get("COURSE_E2E_SHOTS", REPO / "tmp" / "e2e-screenshots"))
KEEP_RUNS = 3  # screenshot folders of earlier runs kept beside the current one
REQUIRED = os.environ.get("COURSE_E2E_REQUIRED", "") not in ("", "0")

# Flags that let Debian's Chromium run headless as root on a machine with a closed network: no sandbox
# (root), no GPU, no QUIC, and none of the background services that would try to phone out.
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
VIEWPORT = {"width": 1280, "height": 1000}

# the fixture notebook is driven in the browser, not executed by nbval
collect_ignore_glob = ["*.ipynb"]

_SKIP_REASONS: list[str] = []
_NOTES: list[str] = []
_SHOTS_TAKEN: list[Path] = []


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run on this machine, or None if they can."""
    if not CHROMIUM.exists():
        return (f"browser test skipped: no Chromium at {CHROMIUM} "
                "(Debian/Ubuntu: `apt-get install chromium`; other systems: set COURSE_E2E_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser test skipped: the `playwright` package is missing (`pip install -r requirements.txt`)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives JupyterLab in headless Chromium (skipped without Chromium)")


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the skip reason once at the end, so it is seen without ``-rs``."""
    for reason in dict.fromkeys(_SKIP_REASONS):
        terminalreporter.write_line(reason, yellow=True)
    for note in dict.fromkeys(_NOTES):
        terminalreporter.write_line(note)
    for folder in _SHOTS_TAKEN:
        if any(folder.glob("*.png")):
            terminalreporter.write_line(f"browser test screenshots: {folder}")


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    """Skip (or, with COURSE_E2E_REQUIRED, fail) when the browser cannot run here."""
    reason = browser_unavailable_reason()
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(reason.replace("skipped", "cannot run (COURSE_E2E_REQUIRED is set)"), pytrace=False)
    _SKIP_REASONS.append(reason)
    pytest.skip(reason)


@pytest.fixture
def e2e_note():
    """A function that records a one-line note, printed at the end of the run (e.g. which notebook was used)."""
    return _NOTES.append


@pytest.fixture(scope="session")
def shots_dir() -> Path:
    """A fresh folder for this run's screenshots; older run folders beyond the newest KEEP_RUNS are removed."""
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    for old in sorted(SHOTS_DIR.glob("run-*"))[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    folder = SHOTS_DIR / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    folder.mkdir()
    _SHOTS_TAKEN.append(folder)
    return folder


@pytest.fixture(scope="module")
def lab(chromium_ready):
    """A JupyterLab server on 127.0.0.1 serving the repository root; stopped (with its kernels) afterwards."""
    from lab_server import start_lab

    checkpoints_before = set(_checkpoint_dirs())
    server = start_lab(REPO)
    try:
        yield server
    finally:
        server.stop()
    leftover = server.leftover_pids()
    assert not leftover, f"processes of the JupyterLab server still running after stop(): {leftover}"
    added = sorted(set(_checkpoint_dirs()) - checkpoints_before)
    assert not added, f"the browser session wrote checkpoint folders into the repository: {added}"


def _checkpoint_dirs() -> list[Path]:
    """Jupyter checkpoint folders inside the repository (outside .venv)."""
    return [p for p in REPO.rglob(".ipynb_checkpoints") if ".venv" not in p.parts]


@pytest.fixture(scope="module")
def browser(chromium_ready):
    """A headless Chromium context with a fresh, temporary profile (``--user-data-dir``)."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="course-e2e-chromium-")
    with sync_playwright() as pw:
        # launch_persistent_context passes the profile as --user-data-dir; a fresh folder every run
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT,
            timeout=60_000,
        )
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, lab):
    """A new browser tab, closed after the test together with the kernels it started; uncaught page errors
    are collected in ``page.errors``."""
    tab = browser.new_page()
    tab.set_default_timeout(60_000)
    tab.errors = []
    tab.on("pageerror", lambda err: tab.errors.append(str(err)))
    try:
        yield tab
    finally:
        tab.close()
        lab.shutdown_kernels()
