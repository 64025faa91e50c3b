"""`make bench`: the scoped audit-trail list of one enterprise against raw SQL.

BENCH_ROWS (default 200000) audit events spread over the three demo enterprises in a fresh
SQLite database (or DATABASE_URL). Measures, per call, median of BENCH_REPEAT (default 15):
  floor   raw SQL: count(*) of the tenant's rows + first page ordered by time
  orm     FAB datamodel.query() with the tenant scope and base filter (count + page)
  page    the whole HTTP GET /audit/list/ as the enterprise admin (scope, query, template)
"""

from __future__ import annotations

import datetime
import os
import statistics
import tempfile
import time

os.environ.setdefault("REGPORTAL_INSTANCE", tempfile.mkdtemp(prefix="regportal-bench-"))
os.environ["CAPTCHA_ENABLED"] = "0"
os.environ["RATELIMIT_ENABLED"] = "0"

from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402


def _timed(fn, repeat):
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    rows = int(os.environ.get("BENCH_ROWS", "200000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "15"))
    app = create_app({"WTF_CSRF_ENABLED": False})
    from flask_migrate import upgrade

    from app.cli import create_permissions, sync_roles
    from app.demo import load_demo_data
    from app.extensions import db
    from app.models.org import Enterprise

    with app.app_context():
        upgrade()
        create_permissions()
        sync_roles()
        if db.session.query(Enterprise).count() == 0:
            load_demo_data()
        ent_ids = [e.id for e in db.session.query(Enterprise).order_by(Enterprise.id)]
        have = db.session.execute(text("SELECT count(*) FROM audit_event")).scalar()
        if have < rows:
            start = datetime.datetime(2026, 1, 1)
            batch = []
            for i in range(have, rows):
                batch.append({"created_on": start + datetime.timedelta(seconds=i),
                              "action": "update", "actor_name": f"user{i % 50}",
                              "ip": "10.0.0.1", "target_type": "enterprise",
                              "target_id": str(i), "target_label": f"row {i}",
                              "enterprise_id": ent_ids[i % len(ent_ids)]})
                if len(batch) == 10000:
                    db.session.execute(text(
                        "INSERT INTO audit_event (created_on, action, actor_name, ip, "
                        "target_type, target_id, target_label, enterprise_id) VALUES "
                        "(:created_on, :action, :actor_name, :ip, :target_type, :target_id, "
                        ":target_label, :enterprise_id)"), batch)
                    batch = []
            if batch:
                db.session.execute(text(
                    "INSERT INTO audit_event (created_on, action, actor_name, ip, target_type, "
                    "target_id, target_label, enterprise_id) VALUES (:created_on, :action, "
                    ":actor_name, :ip, :target_type, :target_id, :target_label, "
                    ":enterprise_id)"), batch)
            db.session.commit()
        eid = ent_ids[0]

        def floor():
            with db.engine.connect() as con:
                con.execute(text("SELECT count(*) FROM audit_event WHERE enterprise_id = :e"),
                            {"e": eid}).scalar()
                con.execute(text("SELECT id, created_on, action, actor_name, ip, target_type, "
                                 "target_label, detail FROM audit_event WHERE enterprise_id = :e "
                                 "ORDER BY created_on DESC LIMIT 25"), {"e": eid}).all()

        t_floor = _timed(floor, repeat)

    client = app.test_client()
    client.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026"})

    def page():
        r = client.get("/audit/list/")
        assert r.status_code == 200, r.status_code

    page()
    t_page = _timed(page, repeat)

    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == "AuditEventView")

    def orm():
        with app.test_request_context("/audit/list/"):
            from flask import g
            from flask_login import login_user

            from app.models.identity import AppUser

            user = db.session.query(AppUser).filter_by(username="ent.a").one()
            login_user(user)
            g.user = user
            filters = view._filters.get_joined_filters(view._base_filters)
            view.datamodel.query(filters, "created_on", "desc", page=0, page_size=25)
            db.session.remove()

    t_orm = _timed(orm, repeat)
    print(f"audit list, {rows} rows, tenant has ~{rows // 3}: median of {repeat}")
    print(f"  floor (raw SQL)      {t_floor * 1000:8.2f} ms   1.00x")
    print(f"  orm (scoped FAB)     {t_orm * 1000:8.2f} ms   {t_orm / t_floor:5.2f}x")
    print(f"  page (HTTP, render)  {t_page * 1000:8.2f} ms   {t_page / t_floor:5.2f}x")


if __name__ == "__main__":
    main()
