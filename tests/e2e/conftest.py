"""Browser tests: a real RegPortal dev server (separate process, own database) driven by
Debian's Chromium through Playwright.

The server gets a temporary instance directory with a SQLite file, or, when the suite runs
against PostgreSQL (TEST_DATABASE_URL or a postgresql DATABASE_URL), a dedicated database
named `<db>_e2e` that is created before and dropped after the session.

The background-job consumer (`flask regportal worker`) runs beside the server, as `make run`
starts it, so imports and large exports go through the queue and the progress pages.

Without /usr/bin/chromium the tests are skipped, except under CI=true where that is a failure.
Screenshots go to test-artifacts/e2e/ (gitignored), together with the server and worker logs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
WAIT_MS = 15_000  # every single wait in a test
# A job's way through the queue: the idle Huey consumer polls its queue with a back-off of up
# to 10 s (huey's max_delay), then the page polls the job every second.
JOB_WAIT_MS = WAIT_MS + 10_000
SERVER_START_TIMEOUT = 60  # seconds
SETUP_TIMEOUT = 300  # seconds


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _postgres_base_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else ""


# ----- browser availability -----------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary; skip (locally) or fail (CI=true) when it is missing."""
    if not os.path.exists(CHROMIUM):
        if _in_ci():
            pytest.fail(f"{CHROMIUM} is missing, and browser tests are mandatory under CI=true "
                        "(install Debian's `chromium` package)", pytrace=False)
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install "
                    "chromium); skipped because it is absent and CI is not 'true'")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:  # pragma: no cover - playwright is in requirements-dev.txt
        pytest.fail(f"the `playwright` Python package is not importable: {exc}", pytrace=False)
    return CHROMIUM


# ----- database for the server ---------------------------------------------------------------
class _E2EDatabase:
    """SQLite file in the instance dir, or a dedicated PostgreSQL database."""

    def __init__(self, instance_dir: str):
        self.pg_base = _postgres_base_url()
        self._admin = None
        self.name = None
        if not self.pg_base:
            self.url = "sqlite:///" + os.path.join(instance_dir, "regportal.db")
            return
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        base = make_url(self.pg_base)
        self.name = f"{base.database or 'regportal'}_e2e"
        self.url = base.set(database=self.name).render_as_string(hide_password=False)
        self._admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self._recreate(create=True)

    def _recreate(self, create: bool) -> None:
        from sqlalchemy import text

        with self._admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            if create:
                con.execute(text(f'CREATE DATABASE "{self.name}"'))

    def drop(self) -> None:
        if self._admin is not None:
            try:
                self._recreate(create=False)
            finally:
                self._admin.dispose()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(instance_dir: str, db_url: str) -> dict:
    env = os.environ.copy()
    # tests/conftest.py points REGPORTAL_INSTANCE at the in-process test app's directory;
    # the server gets its own.
    env["REGPORTAL_INSTANCE"] = instance_dir
    env["DATABASE_URL"] = db_url
    env["CAPTCHA_ENABLED"] = "0"
    # Several journeys sign in from 127.0.0.1 within a minute; the login rate limit is
    # covered by the in-process tests, not here.
    env["RATELIMIT_ENABLED"] = "0"
    env["FLASK_APP"] = "run"
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("REGPORTAL_ENV", "FLASK_DEBUG", "FLASK_RUN_PORT", "FLASK_RUN_HOST",
                 "TEST_DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "SECRET_KEY",
                 "PUBLIC_BASE_URL", "PORT"):
        env.pop(name, None)
    return env


def _compile_catalogs() -> None:
    """`make test` compiles the catalogs; a bare pytest run may find them missing or stale."""
    stale = False
    for po in (ROOT / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        stale = stale or not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime
    if not stale:
        return
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), "compile", "-d", "translations"], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)


def _wait_until_up(proc: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the RegPortal server exited with {proc.returncode}:\n"
                        f"{log_path.read_text(errors='replace')[-4000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.3)
    pytest.fail(f"the RegPortal server did not answer {url} within {SERVER_START_TIMEOUT}s "
                f"({last}):\n{log_path.read_text(errors='replace')[-4000:]}", pytrace=False)


@pytest.fixture(scope="session")
def server_log() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "console-errors.log").unlink(missing_ok=True)
    return ARTIFACTS / "server.log"


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(chromium_path, server_log):
    """Set up a fresh instance (migrations, permissions, roles, demo data), serve it on a
    free port with the job worker beside it, yield its base URL, stop both and drop its
    database afterwards."""
    _compile_catalogs()
    instance_dir = tempfile.mkdtemp(prefix="regportal-e2e-")
    flask = [sys.executable, "-m", "flask", "--app", "run"]
    database = proc = log = worker = worker_log = None
    try:
        database = _E2EDatabase(instance_dir)
        env = _server_env(instance_dir, database.url)
        setup = subprocess.run([*flask, "regportal", "setup"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=SETUP_TIMEOUT)
        if setup.returncode != 0:
            pytest.fail(f"`flask regportal setup` failed ({setup.returncode}):\n"
                        f"{setup.stdout[-2000:]}\n{setup.stderr[-4000:]}", pytrace=False)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        # Links the server prints (certificate QR codes, mail) point at this server.
        env["PUBLIC_BASE_URL"] = base_url
        log = open(server_log, "w", encoding="utf-8")  # noqa: SIM115
        proc = subprocess.Popen(
            [*flask, "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        worker_log = open(ARTIFACTS / "worker.log", "w", encoding="utf-8")  # noqa: SIM115
        worker = subprocess.Popen([*flask, "regportal", "worker"], cwd=ROOT, env=env,
                                  stdout=worker_log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        _wait_until_up(proc, base_url + "/login/", server_log)
        if worker.poll() is not None:
            pytest.fail(f"the job worker exited with {worker.returncode}:\n"
                        f"{(ARTIFACTS / 'worker.log').read_text(errors='replace')[-4000:]}",
                        pytrace=False)
        yield base_url
    finally:
        _stop(worker)
        _stop(proc)
        for fh in (log, worker_log):
            if fh is not None:
                fh.close()
        if database is not None:
            database.drop()
        shutil.rmtree(instance_dir, ignore_errors=True)


# ----- Playwright ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class BrowserSession:
    """One isolated browser context (own cookies) with console errors recorded."""

    def __init__(self, browser, base_url: str, name: str):
        self.base_url = base_url
        self.name = name
        self.context = browser.new_context(base_url=base_url, locale="zh-CN",
                                           viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(WAIT_MS)
        self.context.set_default_navigation_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            self.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    def csp_errors(self) -> list[str]:
        return [e for e in self.console_errors if "Content Security Policy" in e]

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def new_session(browser, live_server, request):
    """Factory: new_session("label") -> BrowserSession; closed (and screenshotted on
    failure) at the end of the test."""
    sessions: list[BrowserSession] = []

    def make(label: str = "main") -> BrowserSession:
        s = BrowserSession(browser, live_server, label)
        sessions.append(s)
        return s

    yield make
    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    for s in sessions:
        if failed:
            try:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                s.page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}-{s.name}"
                                                       f".png"), full_page=True)
            except Exception:  # noqa: BLE001 - best effort on a failing page
                pass
        if s.console_errors:
            with open(ARTIFACTS / "console-errors.log", "a", encoding="utf-8") as fh:
                for e in s.console_errors:
                    fh.write(f"{request.node.name} [{s.name}] {e}\n")
        s.close()


@pytest.fixture()
def shot(request):
    """shot(page, "step") saves test-artifacts/e2e/<test>-<step>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prefix = request.node.name.removeprefix("test_")

    def save(page, step: str) -> Path:
        path = ARTIFACTS / f"{prefix}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
