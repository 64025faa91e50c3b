"""`python -m bench.usedcar_reports`: regional aggregates of used-car monthly reports (issue 4,
"Performance": one month across the region, <= 200 ms).

Seeds BENCH_ENTERPRISES (default 5,000) confirmed used-car enterprises over Guangzhou's
districts and BENCH_MONTHS (default 12) monthly reports each (ten category rows per report:
600,000 rows by default) with bulk inserts into a fresh SQLite database under a temporary
instance, or into DATABASE_URL (seeded once; a second run reuses the rows). Then, as the
Guangzhou regulator reg.usedcar (jurisdiction: every seeded enterprise), the median of
BENCH_REPEAT (default 15) calls at three levels:

  floor  the raw SQL of the same figures (GROUP BY period, category over reports joined with
         their rows) under the same scope (the jurisdiction's literal id list, as the app)
  orm    app.services.usedcar_reports.aggregates() in a request context as the regulator,
         the jurisdiction looked up again on every call (as every request does)
  http   the whole GET /usedcar/oversight/aggregates/ through the test client (the page:
         both tables, both SVG charts, the region list)

Cases: one month; one month and one district; twelve months. Plus the missing-reports
query for one month (every enterprise reported: an empty list after the anti-join).
"""

from __future__ import annotations

import datetime
import os
import random
import sys
import tempfile
import time

os.environ.setdefault("REGPORTAL_INSTANCE", tempfile.mkdtemp(prefix="regportal-bench-"))
os.environ["CAPTCHA_ENABLED"] = "0"
os.environ["RATELIMIT_ENABLED"] = "0"

import pyotp  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402
from bench.common import prepare  # noqa: E402
from bench.common import timed as _timed  # noqa: E402

DISTRICTS = ["440103", "440104", "440105", "440106", "440111", "440112", "440113", "440114",
             "440115", "440117", "440118"]
YEAR = 2026
USCC_PREFIX = "91449"




def seed(db, n_ent: int, months: int) -> None:
    from sqlalchemy import insert

    from app.models.org import Enterprise, Region, Sector, enterprise_sector
    from app.models.usedcar import (
        CATEGORIES,
        UsedCarProfile,
        UsedCarReport,
        UsedCarReportRow,
    )

    for code in DISTRICTS:
        if db.session.get(Region, code) is None:
            db.session.add(Region(code=code, name=f"广州市{code[-2:]}区"))
    db.session.flush()
    sector = db.session.query(Sector).filter_by(code="usedcar").one().id
    first = (db.session.execute(text("SELECT max(id) FROM enterprise")).scalar() or 0) + 1
    now = datetime.datetime(YEAR, 12, 20)
    ids = range(first, first + n_ent)
    db.session.execute(insert(Enterprise.__table__), [
        {"id": i, "name": f"广州二手车企业{i:06d}", "uscc": f"{USCC_PREFIX}{i:013d}",
         "region_code": DISTRICTS[i % len(DISTRICTS)], "status": "active", "created_on": now}
        for i in ids])
    db.session.execute(insert(enterprise_sector), [
        {"enterprise_id": i, "sector_id": sector} for i in ids])
    db.session.execute(insert(UsedCarProfile.__table__), [
        {"enterprise_id": i, "has_uscc": True, "enterprise_type": "dealer",
         "business_types": "market" if i % 10 else "appraisal", "created_on": now,
         "confirmed_on": datetime.datetime(YEAR - 1, 12, 1)} for i in ids])
    rng = random.Random(4)
    report_id = (db.session.execute(text("SELECT max(id) FROM usedcar_report")).scalar() or 0)
    for month in range(1, months + 1):
        reports, rows = [], []
        for i in ids:
            report_id += 1
            reports.append({"id": report_id, "enterprise_id": i, "kind": "usedcar_monthly",
                            "year": YEAR, "period": month, "filer_name": "填报人",
                            "submitted_on": now, "late": False, "changed_on": now})
            for position, cat in enumerate(CATEGORIES):
                total = rng.randint(0, 6)
                direct = rng.randint(0, total)
                local = rng.randint(0, total)
                operating = rng.randint(0, total)
                rows.append({"report_id": report_id, "enterprise_id": i,
                             "position": position, "category": cat,
                             "amount": rng.randint(0, 90000) / 100, "total_count": total,
                             "direct_count": direct, "consignment_count": total - direct,
                             "local_transfer_count": local,
                             "transfer_out_count": total - local,
                             "operating_count": operating,
                             "non_operating_count": total - operating})
        db.session.execute(insert(UsedCarReport.__table__), reports)
        db.session.execute(insert(UsedCarReportRow.__table__), rows)
        db.session.commit()
        print(f"  seeded month {month}: {len(reports):,} reports, {len(rows):,} rows",
              file=sys.stderr)
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def main() -> None:
    from flask import g
    from flask_login import login_user

    from app.extensions import db
    from app.models.base import jurisdiction_id_list
    from app.models.identity import AppUser
    from app.services import usedcar_reports as svc

    n_ent = int(os.environ.get("BENCH_ENTERPRISES", "5000"))
    months = int(os.environ.get("BENCH_MONTHS", "12"))
    repeat = int(os.environ.get("BENCH_REPEAT", "15"))
    config = {"TESTING": True, "WTF_CSRF_ENABLED": False}
    if not os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            os.environ["REGPORTAL_INSTANCE"], "bench.db")
    app = create_app(config)
    with app.app_context():
        prepare(app)
        seeded = db.session.execute(text(
            "SELECT count(*) FROM enterprise WHERE uscc LIKE :p"), {"p": USCC_PREFIX + "%"}
        ).scalar()
        if not seeded:
            t0 = time.perf_counter()
            seed(db, n_ent, months)
            print(f"seeded in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        user = db.session.query(AppUser).filter_by(username="reg.usedcar").one()
        uid, aid, secret = user.id, user.authority_id, user.totp_secret
        jids = jurisdiction_id_list(aid, "usedcar")
        rows = db.session.execute(text("SELECT count(*) FROM usedcar_report_row")).scalar()
        dialect = db.engine.dialect.name
    print(f"{dialect}: {len(jids):,} enterprises in reg.usedcar's jurisdiction, "
          f"{rows:,} report rows; median of {repeat}")

    scope = f"r.enterprise_id IN ({', '.join(map(str, jids))})"
    sums = ", ".join(f"sum(w.{c})" for c in svc.VALUE_FIELDS)

    def floor(start, end, district=None):
        region = (f" AND r.enterprise_id IN (SELECT id FROM enterprise WHERE region_code = "
                  f"'{district}')") if district else ""
        sql = text(f"SELECT r.year, r.period, w.category, count(*), {sums} "
                   "FROM usedcar_report r JOIN usedcar_report_row w ON w.report_id = r.id "
                   f"WHERE r.kind = 'usedcar_monthly' AND r.year = {YEAR} "
                   f"AND r.period BETWEEN {start} AND {end} AND {scope}{region} "
                   "GROUP BY r.year, r.period, w.category")

        def run():
            with app.app_context():
                db.session.execute(sql, execution_options={"skip_tenant_scope": True}).all()
                db.session.remove()
        return run

    def orm(fn):
        def run():
            with app.test_request_context():
                user = db.session.get(AppUser, uid)
                login_user(user)
                g.user = user
                fn()
                db.session.remove()
        return run

    client = app.test_client()
    resp = client.post("/login/", data={"username": "reg.usedcar", "password": "Review#2026"})
    if resp.status_code == 302 and "/login/totp/" in resp.location:
        with app.app_context():
            db.session.query(AppUser).filter_by(id=uid).update({"totp_last_counter": None})
            db.session.commit()
            db.session.remove()
        resp = client.post("/login/totp/", data={"code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 302 and "/login" not in resp.location, resp.location

    def http(query):
        def run():
            r = client.get(f"/usedcar/oversight/aggregates/?{query}")
            assert r.status_code == 200, r.status_code
        return run

    last = min(months, 9)
    cases = [
        (f"one month ({YEAR}-{last:02d})", floor(last, last),
         orm(lambda: svc.aggregates((YEAR, last), (YEAR, last))),
         http(f"start={YEAR}-{last:02d}&end={YEAR}-{last:02d}")),
        ("one month, one district", floor(last, last, DISTRICTS[4]),
         orm(lambda: svc.aggregates((YEAR, last), (YEAR, last), DISTRICTS[4])),
         http(f"start={YEAR}-{last:02d}&end={YEAR}-{last:02d}&region={DISTRICTS[4]}")),
        (f"{months} months", floor(1, months),
         orm(lambda: svc.aggregates((YEAR, 1), (YEAR, months))),
         http(f"start={YEAR}-01&end={YEAR}-{months:02d}")),
    ]
    print(f"{'case':<28}{'floor':>10}{'orm':>10}{'http':>10}{'orm/floor':>11}")
    for label, f, o, h in cases:
        tf, to, th = (_timed(x, repeat) * 1000 for x in (f, o, h))
        print(f"{label:<28}{tf:>8.1f}ms{to:>8.1f}ms{th:>8.1f}ms{to / tf:>10.2f}x")
    tm = _timed(orm(lambda: svc.missing("usedcar_monthly", YEAR, last)), repeat) * 1000
    print(f"{'missing reports, one month':<28}{'':>10}{tm:>8.1f}ms")


if __name__ == "__main__":
    main()
