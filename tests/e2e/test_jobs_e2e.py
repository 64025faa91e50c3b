"""Browser journey for background exports: a server of its own where every export runs as a
job (EXPORT_SYNC_MAX_ROWS=0) and the Huey consumer is started only once the page shows the
queued job, so the progress bar's polling script (static/js/jobs.js, under the CSP) is what
turns it into a download link."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from .conftest import (
    ARTIFACTS,
    ROOT,
    SETUP_TIMEOUT,
    WAIT_MS,
    BrowserSession,
    _compile_catalogs,
    _free_port,
    _postgres_base_url,
    _server_env,
    _stop,
    _wait_until_up,
)

expect.set_options(timeout=WAIT_MS)
FLASK = [sys.executable, "-m", "flask", "--app", "run"]


class _Database:
    """SQLite in the instance dir, or PostgreSQL `<db>_e2e_jobs` (not the shared e2e one)."""

    def __init__(self, instance_dir: str):
        base = _postgres_base_url()
        self._admin = None
        if not base:
            self.url = "sqlite:///" + os.path.join(instance_dir, "regportal.db")
            return
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(base)
        self.name = f"{url.database or 'regportal'}_e2e_jobs"
        self.url = url.set(database=self.name).render_as_string(hide_password=False)
        self._admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with self._admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            con.execute(text(f'CREATE DATABASE "{self.name}"'))

    def drop(self) -> None:
        if self._admin is None:
            return
        from sqlalchemy import text

        with self._admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()



@pytest.fixture(scope="module")
def jobs_server(chromium_path):
    """(base_url, start_worker): the server runs at once, the consumer when asked."""
    _compile_catalogs()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    instance_dir = tempfile.mkdtemp(prefix="regportal-e2e-jobs-")
    database = server = None
    procs = []
    logs = []
    try:
        database = _Database(instance_dir)
        env = _server_env(instance_dir, database.url)
        env["EXPORT_SYNC_MAX_ROWS"] = "0"
        env["HUEY_IMMEDIATE"] = "0"
        setup = subprocess.run([*FLASK, "regportal", "setup"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=SETUP_TIMEOUT)
        if setup.returncode != 0:
            pytest.fail(f"setup failed:\n{setup.stdout[-2000:]}\n{setup.stderr[-4000:]}",
                        pytrace=False)
        port = _free_port()
        server_log = ARTIFACTS / "jobs-server.log"
        logs.append(open(server_log, "w", encoding="utf-8"))  # noqa: SIM115
        server = subprocess.Popen(
            [*FLASK, "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
            cwd=ROOT, env=env, stdout=logs[-1], stderr=subprocess.STDOUT,
            start_new_session=True)
        procs.append(server)
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_up(server, base_url + "/login/", server_log)

        def start_worker():
            logs.append(open(ARTIFACTS / "jobs-worker.log", "w", encoding="utf-8"))  # noqa: SIM115
            procs.append(subprocess.Popen(
                [*FLASK, "regportal", "worker"], cwd=ROOT, env=env, stdout=logs[-1],
                stderr=subprocess.STDOUT, start_new_session=True))

        yield base_url, start_worker
    finally:
        for proc in procs:
            _stop(proc)
        for log in logs:
            log.close()
        if database is not None:
            database.drop()
        shutil.rmtree(instance_dir, ignore_errors=True)


def test_large_export_shows_progress_then_the_download(browser, jobs_server, shot):
    base_url, start_worker = jobs_server
    s = BrowserSession(browser, base_url, "ent.a")
    try:
        page = s.page
        page.goto("/login/")
        page.fill("#username", "ent.a")
        page.fill("#password", "Enterprise#2026")
        with page.expect_navigation():
            page.click("#login-submit")
        page.goto("/enterprise/users/list/")
        with page.expect_navigation():
            page.click("#export-xlsx")
        expect(page).to_have_url(re.compile(r"/jobs/$"))
        row = page.locator("tr.job-row").first
        expect(row).to_have_class(re.compile(r"job-queued"))
        expect(row.locator("progress.job-bar")).to_have_attribute("value", "0")
        expect(row.locator("a.job-download")).to_be_hidden()
        shot(page, "queued")

        start_worker()  # the page's script polls the job until it is done
        expect(row).to_have_class(re.compile(r"job-done"), timeout=60_000)
        expect(row.locator(".job-percent")).to_have_text("100%")
        expect(row.locator("a.job-download")).to_be_visible()
        shot(page, "done")
        with page.expect_download() as info:
            row.locator("a.job-download").click()
        with open(info.value.path(), "rb") as fh:
            rows = list(load_workbook(io.BytesIO(fh.read())).active.iter_rows(values_only=True))
        assert rows[0][0] == "用户名" and [r[0] for r in rows[1:]] == ["ent.a"]
        assert not s.csp_errors(), s.csp_errors()
        errors = [e for e in s.console_errors if "favicon.ico" not in e]
        assert not errors, errors  # the polling script ran without an error
    finally:
        s.close()
