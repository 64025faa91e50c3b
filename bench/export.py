"""`python -m bench.export`: the X11 export through the background-job path against raw
openpyxl write-only, with peak RSS growth.

Seeds BENCH_EXPORT_ROWS (default 100000) audit events of enterprise A into a fresh SQLite
database (or DATABASE_URL), then runs, each in a fresh process so memory figures do not
leak into each other:
  raw   raw SQL cursor -> openpyxl write-only workbook (the floor)
  job   the auditor's export of the audit trail as a background job: Job row, owner's scope
        (an authority: jurisdiction subquery on every chunk), ids then 1,000-row chunks,
        labels, formatters, formula neutralising, progress written to the Job row
and prints seconds, rows/s, the ratio job/raw speed and the peak RSS growth of each
(target: job >= 50 % of raw speed, RSS growth < 100 MB).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", "100000"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakRss:
    """Samples the resident set every 5 ms; peak growth over the start."""

    def __enter__(self):
        import gc

        gc.collect()
        self.base = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.base


def _app():
    os.environ["CAPTCHA_ENABLED"] = "0"
    os.environ["RATELIMIT_ENABLED"] = "0"
    from app import create_app

    return create_app({"WTF_CSRF_ENABLED": False, "HUEY_IMMEDIATE": True})


def seed() -> None:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.cli import create_permissions, sync_roles
    from app.demo import load_demo_data
    from app.extensions import db
    from app.models.org import Enterprise

    app = _app()
    with app.app_context():
        upgrade()
        create_permissions()
        sync_roles()
        if db.session.query(Enterprise).count() == 0:
            load_demo_data()
        eid = db.session.query(Enterprise.id).order_by(Enterprise.id).first()[0]
        have = db.session.execute(text(
            "SELECT count(*) FROM audit_event WHERE target_type = 'bench'")).scalar()
        start = datetime.datetime(2026, 1, 1)
        sql = text("INSERT INTO audit_event (created_on, action, actor_name, ip, target_type, "
                   "target_id, target_label, enterprise_id, detail) VALUES (:created_on, "
                   ":action, :actor_name, :ip, 'bench', :target_id, :target_label, :eid, "
                   ":detail)")
        batch = []
        for i in range(have, ROWS):
            batch.append({"created_on": start + datetime.timedelta(seconds=i),
                          "action": "update", "actor_name": f"user{i % 50}", "ip": "10.0.0.1",
                          "target_id": str(i), "target_label": f"车辆 粤A{i:05d}",
                          "eid": eid, "detail": "=HYPERLINK(\"x\")" if i % 1000 == 0 else
                          f"状态 operating → suspended #{i}"})
            if len(batch) == 10000:
                db.session.execute(sql, batch)
                batch = []
        if batch:
            db.session.execute(sql, batch)
        db.session.commit()


def phase_raw() -> dict:
    from openpyxl import Workbook
    from sqlalchemy import text

    from app.extensions import db
    from app.services.xlsx import safe_value

    app = _app()
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        with _PeakRss() as rss:
            t0 = time.perf_counter()
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("raw")
            ws.append(["created_on", "action", "actor_name", "ip", "target_type", "target_id",
                       "target_label", "detail", "changes"])
            n = 0
            result = db.session.execute(text(
                "SELECT created_on, action, actor_name, ip, target_type, target_id, "
                "target_label, detail, changes FROM audit_event WHERE target_type = 'bench' "
                "ORDER BY created_on DESC, id")).yield_per(1000)
            for row in result:
                ws.append([safe_value(v) for v in row])
                n += 1
            path = tempfile.mktemp(suffix=".xlsx")
            wb.save(path)
            seconds = time.perf_counter() - t0
        size = os.path.getsize(path)
        os.remove(path)
    return {"rows": n, "seconds": seconds, "rss_growth_mb": rss.growth, "bytes": size}


def phase_job() -> dict:
    from flask import g

    from app.extensions import db
    from app.models.base import unscoped
    from app.models.identity import AppUser
    from app.models.job import Job
    from app.services import jobs

    app = _app()
    with app.test_request_context():
        with unscoped():
            auditor = db.session.query(AppUser).filter_by(username="auditor").one()
        g.user = auditor
        job = jobs.create("export", {"source": "AuditEventView",
                                     "args": "_flt_0_target_type=bench",
                                     "name": "audit-trail.xlsx"},
                          title="bench", user=auditor)
        job_id = job.id
        db.session.commit()
    with app.app_context():
        with _PeakRss() as rss:
            t0 = time.perf_counter()
            jobs.execute(job_id)
            seconds = time.perf_counter() - t0
        with unscoped():
            job = db.session.get(Job, job_id)
            assert job.state == "done", job.error
            rows, size, path = job.total, job.result_size, jobs.result_path(job)
        os.remove(path)
    return {"rows": rows, "seconds": seconds, "rss_growth_mb": rss.growth, "bytes": size}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("raw", "job"):
        result = phase_raw() if sys.argv[1] == "raw" else phase_job()
        print(json.dumps(result))
        return
    os.environ.setdefault("REGPORTAL_INSTANCE", tempfile.mkdtemp(prefix="regportal-bench-"))
    t0 = time.perf_counter()
    seed()
    where = os.environ.get("DATABASE_URL") or "SQLite under " + os.environ["REGPORTAL_INSTANCE"]
    print(f"seeded {ROWS} audit events in {time.perf_counter() - t0:.1f} s ({where})")
    results = {}
    for phase in ("raw", "job"):
        out = subprocess.run([sys.executable, "-m", "bench.export", phase], check=True,
                             capture_output=True, text=True, env=os.environ).stdout
        results[phase] = json.loads(out.strip().splitlines()[-1])
    for phase, r in results.items():
        print(f"{phase:4}  {r['rows']:>7} rows  {r['seconds']:6.2f} s  "
              f"{r['rows'] / r['seconds']:>8.0f} rows/s  peak RSS +{r['rss_growth_mb']:.1f} MB  "
              f"{r['bytes'] / 2**20:.1f} MiB file")
    speed = results["raw"]["seconds"] / results["job"]["seconds"]
    print(f"job path speed = {speed:.0%} of raw write-only (target >= 50%); "
          f"RSS growth {results['job']['rss_growth_mb']:.1f} MB (target < 100 MB)")


if __name__ == "__main__":
    main()
