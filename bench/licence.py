"""`python -m bench.licence`: the power-licensing module at scale (issue 6, "Performance").

Seeds BENCH_POWER_ENTERPRISES (default 20,000) power enterprises in Guangdong (all inside
reg.power's jurisdiction, 国家能源局南方监管局), BENCH_ELECTRICIANS (default 1,000,000)
electricians on their rosters, and BENCH_LICENCE_VERSIONS (default 5) versions of one licence
per enterprise (100,000 licence rows), with bulk inserts into a fresh SQLite database under a
temporary instance, or into DATABASE_URL (seeded once; a second run reuses the rows). One
probe enterprise gets a licence request with 300 proposed staff and 200 project records.

Median of BENCH_REPEAT (default 15) calls, each beside its floor, the minimal raw SQL giving
the same answer on the same data in the same run:
  uniqueness   is this ID number a live electrician anywhere? (the staff form's pre-check; the
               partial unique index is the guarantee) - an existing and an unknown number
  check        the completeness check of the probe request (licence_check.findings): floor =
               the same aggregates (conditions, equity, staff by type/title/kind, qualifying
               projects) as raw SQL
  licence list GET /power/licences/list/ as reg.power (100,000 rows in scope) through the test
               client, beside the floor (capped count + 25 rows) and the ORM query
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import time

os.environ.setdefault("REGPORTAL_INSTANCE", tempfile.mkdtemp(prefix="regportal-bench-"))
os.environ["CAPTCHA_ENABLED"] = "0"
os.environ["RATELIMIT_ENABLED"] = "0"

from sqlalchemy import select, text  # noqa: E402

from app import create_app  # noqa: E402
from bench.common import login, prepare, timed  # noqa: E402
from bench.usedcar import _bulk  # noqa: E402

USCC_PREFIX = "91449"  # seeded power enterprises only
DISTRICTS = {"440103": "荔湾区", "440104": "越秀区", "440105": "海珠区", "440106": "天河区",
             "440111": "白云区", "440112": "黄埔区", "440113": "番禺区"}
PAGE_SIZE = 25
COUNT_CAP = 10_000
KINDS = ("low_voltage", "high_voltage", "cable", "relay", "test")
TITLES = ("senior", "intermediate", "junior", "none")


def _id_number(i: int) -> str:
    return f"4401{i:013d}X"


def seed(db, n_ent: int, n_elec: int, n_versions: int) -> None:
    from app.models.org import Sector

    engine = db.engine
    pg = engine.dialect.name == "postgresql"
    have = db.session.execute(text("SELECT count(*) FROM enterprise WHERE uscc LIKE :p"),
                              {"p": USCC_PREFIX + "%"}).scalar()
    if have >= n_ent:
        print(f"  reusing {have} seeded power enterprises", file=sys.stderr)
        return
    t0 = time.perf_counter()
    from app.models.org import Region

    for code, name in DISTRICTS.items():  # the districts the enterprises are registered in
        if db.session.get(Region, code) is None:
            db.session.add(Region(code=code, name=name))
    db.session.commit()
    power = db.session.query(Sector).filter_by(code="power").one().id
    codes = list(DISTRICTS)
    now = datetime.datetime(2026, 11, 1)
    mark = "%s" if pg else "?"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if not pg:
            cur.execute("PRAGMA synchronous = OFF")
        _bulk(cur, pg, "enterprise", "name, uscc, region_code, status, legal_representative, "
              "address, created_on",
              ((f"广东测试{i:05d}电力工程有限公司", f"{USCC_PREFIX}{i:013d}",
                codes[i % len(codes)], "active", f"法人{i}", f"广州市测试路{i}号", now)
               for i in range(n_ent)))
        cur.execute(f"SELECT id FROM enterprise WHERE uscc LIKE {mark} ORDER BY id",
                    (USCC_PREFIX + "%",))
        ent_ids = [r[0] for r in cur.fetchall()]
        _bulk(cur, pg, "enterprise_sector", "enterprise_id, sector_id",
              ((e, power) for e in ent_ids))
        per = max(1, n_elec // n_ent)
        _bulk(cur, pg, "power_staff", "enterprise_id, staff_type, status, name, id_number, "
              "certificate_kind, certificate_no, created_on",
              ((ent_ids[i // per % n_ent], "electrician", "active", f"电工{i}",
                _id_number(i), KINDS[i % len(KINDS)], f"T{i:010d}", now)
               for i in range(n_elec)))
        raw.commit()

        def licences():
            for n, eid in enumerate(ent_ids):
                for v in range(1, n_versions + 1):
                    current = v == n_versions
                    yield (eid, f"CXS2020{n:07d}", v, "current" if current else "superseded",
                           '{"install": 3, "repair": 4}', f"广东测试{n:05d}电力工程有限公司",
                           f"{USCC_PREFIX}{n:013d}", datetime.date(2020 + v % 6, 3, 1),
                           datetime.date(2027, 2, 28), "new" if v == 1 else "item_change")

        _bulk(cur, pg, "power_licence", "enterprise_id, number, version, status, categories, "
              "holder_name, uscc, issued_on, expires_on, matter", licences())
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    print(f"  seeded {n_ent} enterprises, {n_elec} electricians, {n_ent * n_versions} "
          f"licence versions in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def probe_request(db, enterprise_id: int) -> int:
    """A licence request of the probe enterprise with 300 staff and 200 projects."""
    from app.models.licence import (
        EquityHolder,
        KeyPerson,
        KeyPersonRecord,
        LicenceRequest,
        ProjectRecord,
    )
    from app.models.staff import PowerStaff

    found = db.session.execute(select(LicenceRequest.id).where(
        LicenceRequest.enterprise_id == enterprise_id)).scalar()
    if found:
        return found
    req = LicenceRequest(enterprise_id=enterprise_id, matter="new",
                         categories={"install": 2, "repair": 3, "test": 4},
                         submitter_kind="legal", submitter_name="法人",
                         submitter_id_number="440106199001011234", details={})
    db.session.add(req)
    db.session.flush()
    db.session.add(EquityHolder(enterprise_id=enterprise_id, request_id=req.id, name="股东",
                                kind="legal", amount=1000, share=100))
    for role in ("technical", "safety"):
        person = KeyPerson(enterprise_id=enterprise_id, request_id=req.id, role=role,
                           name="负责人", id_number="440106199001011234", title="senior",
                           years=12, specialty="电气", mobile="13800138000")
        person.records = [KeyPersonRecord(
            enterprise_id=enterprise_id, kind="work", start_on=datetime.date(2010, 1, 1),
            organisation="供电局", detail="工程师", certifier="证明人",
            certifier_mobile="13800138000")]
        db.session.add(person)
    today = datetime.date.today()
    for i in range(300):
        technical = i < 120
        db.session.add(PowerStaff(
            enterprise_id=enterprise_id, request_id=req.id, status="proposed",
            staff_type="technical" if technical else "electrician", name=f"人员{i}",
            id_number=f"4419{i:013d}X", title=TITLES[i % 4] if technical else None,
            certificate_kind=None if technical else KINDS[i % len(KINDS)]))
    for i in range(200):
        db.session.add(ProjectRecord(
            enterprise_id=enterprise_id, request_id=req.id, name=f"工程{i}",
            category=("install", "repair", "test")[i % 3], voltage_kv=(10, 35, 110, 220)[i % 4],
            client="电网", completed_on=today - datetime.timedelta(days=30 + i * 7)))
    db.session.commit()
    return req.id


def _check_floor(db, req_id: int, enterprise_id: int, today: datetime.date):
    """The aggregates of the completeness check as raw SQL."""
    since = today.replace(year=today.year - 5).isoformat()
    sqls = [
        ("SELECT * FROM power_request WHERE id = :r", {"r": req_id}),
        ("SELECT * FROM power_licence WHERE id = (SELECT licence_id FROM power_request "
         "WHERE id = :r)", {"r": req_id}),
        ("SELECT category, level, item, minimum, waived_in_ftz FROM power_condition "
         "WHERE (category = 'install' AND level = 2) OR (category = 'repair' AND level = 3) "
         "OR (category = 'test' AND level = 4)", {}),
        ("SELECT count(id), coalesce(sum(share), 0) FROM power_equity WHERE request_id = :r",
         {"r": req_id}),
        ("SELECT p.role, p.years, p.title, count(r.id) FROM power_key_person p LEFT JOIN "
         "power_key_person_record r ON r.person_id = p.id AND r.kind = 'work' "
         "WHERE p.request_id = :r GROUP BY p.id, p.role, p.years, p.title", {"r": req_id}),
        ("SELECT staff_type, title, certificate_kind, count(id) FROM power_staff "
         "WHERE enterprise_id = :e AND (status IN ('active', 'leaving') OR "
         "(status = 'proposed' AND request_id = :r)) "
         "GROUP BY staff_type, title, certificate_kind", {"e": enterprise_id, "r": req_id}),
        ("SELECT m.slot, a.original_name FROM power_request_material m JOIN attachment a "
         "ON a.id = m.attachment_id WHERE m.request_id = :r", {"r": req_id}),
        ("SELECT category, voltage_kv, count(id) FROM power_project WHERE request_id = :r "
         "AND completed_on >= :s AND completed_on <= :t GROUP BY category, voltage_kv",
         {"r": req_id, "s": since, "t": today.isoformat()}),
    ]

    def run():
        with db.engine.connect() as con:
            for sql, params in sqls:
                con.execute(text(sql), params).all()
    return run


def main() -> None:
    n_ent = int(os.environ.get("BENCH_POWER_ENTERPRISES", "20000"))
    n_elec = int(os.environ.get("BENCH_ELECTRICIANS", "1000000"))
    n_versions = int(os.environ.get("BENCH_LICENCE_VERSIONS", "5"))
    repeat = int(os.environ.get("BENCH_REPEAT", "15"))
    app = create_app({"WTF_CSRF_ENABLED": False})
    from flask import g
    from flask_appbuilder.urltools import get_filter_args
    from flask_login import login_user

    from app.demo import USERS
    from app.extensions import db
    from app.models.base import jurisdiction_id_list
    from app.models.identity import AppUser
    from app.models.licence import LicenceRequest
    from app.models.org import Authority
    from app.services import licence_check

    users = {u[0]: u for u in USERS}
    with app.app_context():
        prepare(app)
        seed(db, n_ent, n_elec, n_versions)
        dialect = db.engine.dialect.name
        probe_ent = db.session.execute(text(
            "SELECT id FROM enterprise WHERE uscc = :u"),
            {"u": f"{USCC_PREFIX}{n_ent // 2:013d}"}).scalar_one()
        req_id = probe_request(db, probe_ent)
        aid = db.session.query(Authority).filter_by(name="国家能源局南方监管局").one().id
        jids = jurisdiction_id_list(aid, "power")
        db.session.remove()
    existing, unknown = _id_number(n_elec // 3), "440199999999999999"

    def unique_orm(number):
        from app.services import staff as staff_service

        def run():  # the staff form's pre-check, inside the loop's app context
            try:
                staff_service.check_available(number, "electrician", probe_ent)
            except staff_service.StaffConflictError:
                pass
        return run

    def unique_floor(number):
        def run():
            with db.engine.connect() as con:
                con.execute(text(
                    "SELECT enterprise_id, name, status FROM power_staff WHERE id_number = :n "
                    "AND staff_type = 'electrician' AND status <> 'left' ORDER BY id LIMIT 1"),
                    {"n": number}).first()
        return run

    today = datetime.date.today()

    def check_orm():  # load the request and check it, in one session as a request does
        req = db.session.get(LicenceRequest, req_id)
        found = licence_check.findings(req, today)
        db.session.expunge_all()
        return found

    print(f"power licensing, {n_ent:,} enterprises, {n_elec:,} electricians, "
          f"{n_ent * n_versions:,} licence versions, {dialect}; median of {repeat}, ms")
    print(f"  {'case':44} {'floor':>8} {'app':>8} {'ratio':>7}")
    with app.app_context():
        for label, number in (("uniqueness: existing ID number", existing),
                              ("uniqueness: unknown ID number", unknown)):
            t_floor = timed(unique_floor(number), repeat)
            t_app = timed(unique_orm(number), repeat)
            print(f"  {label:44} {t_floor * 1000:8.2f} {t_app * 1000:8.2f} "
                  f"{t_app / t_floor:7.2f}")
        t_floor = timed(_check_floor(db, req_id, probe_ent, today), repeat)
        t_app = timed(check_orm, repeat)
    print(f"  {'completeness check, 300 staff, 200 projects':44} {t_floor * 1000:8.2f} "
          f"{t_app * 1000:8.2f} {t_app / t_floor:7.2f}")

    # ----- the licence list as the regulator ---------------------------------------------
    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == "LicenceView")
    client = app.test_client()
    login(client, app, "reg.power", users["reg.power"][1], users["reg.power"][-1])
    # The cheapest raw form of the jurisdiction at this size: a correlated EXISTS (the id list
    # of 20,000 bound values costs more; both are measured).
    in_list = f"l.enterprise_id IN ({', '.join(map(str, jids))})"
    exists_sql = ("EXISTS (SELECT 1 FROM enterprise_sector es JOIN enterprise e ON e.id = "
                  "es.enterprise_id JOIN sector s ON s.id = es.sector_id WHERE es.enterprise_id "
                  "= l.enterprise_id AND s.code = 'power' AND e.region_code LIKE '44%')")

    def list_floor(scope_sql):
        def run():
            with db.engine.connect() as con:
                con.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM power_licence l WHERE "
                                 f"{scope_sql} LIMIT {COUNT_CAP + 1}) c")).scalar()
                con.execute(text(f"SELECT l.id, l.number, l.version, l.holder_name, "
                                 f"l.categories, l.issued_on, l.expires_on, l.status FROM "
                                 f"power_licence l WHERE {scope_sql} ORDER BY l.id DESC "
                                 f"LIMIT {PAGE_SIZE}")).all()
        return run

    def list_orm():
        with app.test_request_context("/power/licences/list/"):
            user = db.session.query(AppUser).filter_by(username="reg.power").one()
            login_user(user)
            g.user = user
            get_filter_args(view._filters)
            joined = view._filters.get_joined_filters(view._base_filters)
            view.datamodel.query(joined, "id", "desc", page=0, page_size=PAGE_SIZE)
            db.session.remove()

    def list_http():
        r = client.get("/power/licences/list/")
        assert r.status_code == 200, r.status_code

    with app.app_context():
        t_list = timed(list_floor(in_list), repeat)
        t_floor = timed(list_floor(exists_sql), repeat)
    t_orm = timed(list_orm, repeat)
    t_http = timed(list_http, repeat)
    print(f"  {'licence list: floor (EXISTS) vs ORM query':44} {t_floor * 1000:8.2f} "
          f"{t_orm * 1000:8.2f} {t_orm / t_floor:7.2f}")
    print(f"  {'licence list: GET /power/licences/list/':44} {t_floor * 1000:8.2f} "
          f"{t_http * 1000:8.2f} {t_http / t_floor:7.2f}   (raw SQL with the {len(jids):,}-id "
          f"list: {t_list * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
