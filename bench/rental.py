"""`python -m bench.rental`: the filed-vehicle list at scale (issue 3, "Performance").

Seeds BENCH_ENTERPRISES (default 2,000) rental enterprises across Guangdong's 21 prefectures and
BENCH_VEHICLES (default 1,000,000) vehicles with bulk inserts (executemany on SQLite, COPY on
PostgreSQL), into a fresh SQLite database under a temporary instance, or into DATABASE_URL
(seeded once: a second run on the same database reuses the rows). Then, for each case, the
median of BENCH_REPEAT (default 15) calls at three levels:

  floor  the minimal raw SQL producing the same page on the same data: the count the page
         shows (exact `count(*)`, or the capped count when the app caps it) + the 25 page rows
         with the enterprise name, under the same scope
  orm    the FAB datamodel query with the scope (base filter + ORM loader criteria), the
         filters parsed from the same URL: what ModelView.list runs before rendering
  http   the whole GET through the test client, logged in (password + TOTP)

Cases, as the regulator reg.rental (jurisdiction: rental sector, region 44, i.e. every vehicle):
page 1; page 20,000 (offset 500,000; by page number and by the keyset cursor `?after=`); plate
prefix; state + enterprise. Then page 1 and a state filter as the enterprise admin ent.a, and
page 1 as the unscoped system admin. Ratios are to the floor of the same case; "deep/p1" is the
deep page's median over page 1's at the same level (target <= 2).
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

from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402
from bench.common import login as _login  # noqa: E402
from bench.common import timed as _timed  # noqa: E402

CITIES = [  # prefecture code, name, plate letter
    ("440100", "广州市", "A"), ("440300", "深圳市", "B"), ("440400", "珠海市", "C"),
    ("440500", "汕头市", "D"), ("440600", "佛山市", "E"), ("440200", "韶关市", "F"),
    ("440800", "湛江市", "G"), ("441200", "肇庆市", "H"), ("440700", "江门市", "J"),
    ("440900", "茂名市", "K"), ("441300", "惠州市", "L"), ("441400", "梅州市", "M"),
    ("441500", "汕尾市", "N"), ("441600", "河源市", "P"), ("441700", "阳江市", "Q"),
    ("441800", "清远市", "R"), ("441900", "东莞市", "S"), ("442000", "中山市", "T"),
    ("445100", "潮州市", "U"), ("445200", "揭阳市", "V"), ("445300", "云浮市", "W"),
]
BRANDS = [("大众", "朗逸"), ("丰田", "卡罗拉"), ("本田", "思域"), ("比亚迪", "秦PLUS"),
          ("日产", "轩逸"), ("别克", "英朗"), ("吉利", "帝豪"), ("特斯拉", "Model 3")]
USCC_PREFIX = "91449"  # seeded enterprises only (demo ones start 91440)
PAGE_SIZE = 25
COUNT_CAP = 10_000
# Vehicle columns the list shows (VehicleView.list_columns through their properties).
PAGE_COLUMNS = ("v.id, v.plate, v.vin, v.brand, v.model, v.vehicle_type, v.seats, v.usage, "
                "v.state, v.filed_on, v.certificate_no, e.name")


def _state(i: int) -> str:
    r = i % 100
    return "operating" if r < 85 else "suspended" if r < 93 else "terminated" if r < 98 \
        else "scrapped"



def seed(db, n_ent: int, n_veh: int) -> None:
    from app.models.org import Region, Sector

    engine = db.engine
    pg = engine.dialect.name == "postgresql"
    have = db.session.execute(text("SELECT count(*) FROM enterprise WHERE uscc LIKE :p"),
                              {"p": USCC_PREFIX + "%"}).scalar()
    if have >= n_ent:
        print(f"  reusing {have} seeded enterprises and their vehicles", file=sys.stderr)
        return
    t0 = time.perf_counter()
    for code, name, _ in CITIES:
        if db.session.get(Region, code) is None:
            db.session.add(Region(code=code, name=name))
    db.session.commit()
    rental = db.session.query(Sector).filter_by(code="rental").one().id
    now = datetime.datetime(2026, 1, 1)
    ents = [(f"广东{CITIES[i % 21][1][:-1]}测试{i:04d}汽车租赁有限公司", f"{USCC_PREFIX}{i:013d}",
             CITIES[i % 21][0], "active", f"法人{i}", f"联系人{i}", f"139{i:08d}",
             f"{CITIES[i % 21][1]}测试路{i}号", now) for i in range(n_ent)]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.executemany(
            "INSERT INTO enterprise (name, uscc, region_code, status, legal_representative, "
            "contact_name, contact_mobile, address, created_on) VALUES "
            + ("(%s, %s, %s, %s, %s, %s, %s, %s, %s)" if pg else "(?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            ents)
        cur.execute("SELECT id, region_code FROM enterprise WHERE uscc LIKE "
                    + ("%s" if pg else "?") + " ORDER BY id", (USCC_PREFIX + "%",))
        by_city: dict[str, list[int]] = {}
        ent_ids = []
        for eid, region in cur.fetchall():
            by_city.setdefault(region, []).append(eid)
            ent_ids.append(eid)
        cur.executemany("INSERT INTO enterprise_sector (enterprise_id, sector_id) VALUES "
                        + ("(%s, %s)" if pg else "(?, ?)"), [(e, rental) for e in ent_ids])
        raw.commit()

        cols = ("plate, vin, brand, model, vehicle_type, seats, colour, usage, owner_name, "
                "registered_on, state, state_since, certificate_no, filed_on, changed_on, "
                "enterprise_id")
        day0 = datetime.date(2018, 1, 1)

        def rows():
            for i in range(n_veh):
                code, city, letter = CITIES[i % 21]
                owners = by_city[code]
                eid = owners[(i // 21) % len(owners)]
                brand, model = BRANDS[i % len(BRANDS)]
                filed = day0 + datetime.timedelta(days=i * 2900 // n_veh)
                state = _state(i)
                yield (f"粤{letter}{i // 21:05d}", f"LBV{i:014d}", brand, model,
                       "small" if i % 7 else "micro", 5 if i % 9 else 7, "白",
                       "rental" if i % 5 else "time_share", f"{city}测试车主{i % 997}",
                       filed - datetime.timedelta(days=30), state,
                       filed if state == "operating" else filed + datetime.timedelta(days=60),
                       f"GDZLC{2018 + i * 8 // n_veh}{i:08d}", filed, now, eid)

        if pg:
            with cur.copy(f"COPY vehicle ({cols}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        else:
            cur.execute("PRAGMA synchronous = OFF")
            batch = []
            sql = f"INSERT INTO vehicle ({cols}) VALUES ({', '.join('?' * 16)})"
            for row in rows():
                batch.append(row)
                if len(batch) == 50_000:
                    cur.executemany(sql, batch)
                    batch = []
            if batch:
                cur.executemany(sql, batch)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    print(f"  seeded {n_ent} enterprises, {n_veh} vehicles in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)



def main() -> None:
    n_ent = int(os.environ.get("BENCH_ENTERPRISES", "2000"))
    n_veh = int(os.environ.get("BENCH_VEHICLES", "1000000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "15"))
    app = create_app({"WTF_CSRF_ENABLED": False})
    from flask import g
    from flask_appbuilder.urltools import get_filter_args
    from flask_login import login_user
    from flask_migrate import upgrade

    from app.cli import create_permissions, sync_roles
    from app.demo import USERS, load_demo_data
    from app.extensions import db
    from app.models.identity import AppUser
    from app.models.org import Authority, Enterprise
    from app.views import base as view_base

    users = {u[0]: u for u in USERS}
    with app.app_context():
        upgrade()
        create_permissions()
        sync_roles()
        if db.session.query(Enterprise).count() == 0:
            load_demo_data()
        seed(db, n_ent, n_veh)
        dialect = db.engine.dialect.name
        aid = db.session.query(Authority).filter_by(name="广东省交通运输厅").one().id
        ent_a = db.session.query(AppUser).filter_by(username="ent.a").one().enterprise_id
        # An enterprise in the middle of the seeded ones, and a plate prefix with 10 rows.
        probe = db.session.execute(text(
            "SELECT v.enterprise_id, v.plate, e.uscc FROM vehicle v JOIN enterprise e ON "
            "e.id = v.enterprise_id WHERE v.id = (SELECT max(id) / 2 FROM vehicle)")).one()
        probe_ent, plate_prefix, probe_uscc = probe[0], probe[1][:-1], probe[2]
        db.session.remove()

    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == "VehicleView")
    datamodel = view.datamodel
    from flask_appbuilder.models.sqla.filters import FilterEqual, FilterStartsWith

    def flt_index(column, kind):
        flts = datamodel.get_filters([column]).get_search_filters()[column]
        return next(i for i, f in enumerate(flts) if isinstance(f, kind))

    sw = flt_index("plate", FilterStartsWith)
    eq = flt_index("state", FilterEqual)
    deep_page = 500_000 // PAGE_SIZE  # FAB pages are 0-based: this one starts at row 500,001
    capped = getattr(view_base, "COUNT_CAP", None) is not None

    jurisdiction = (
        "SELECT e.id FROM enterprise e JOIN enterprise_sector es ON es.enterprise_id = e.id "
        "JOIN authority_sector s ON s.sector_id = es.sector_id JOIN authority a ON "
        "a.id = s.authority_id WHERE a.id = :aid AND e.region_code LIKE a.region_prefix || '%'")
    with app.app_context():
        jids = [r[0] for r in db.session.execute(text(jurisdiction), {"aid": aid})]
    # The regulator's floor scopes by the literal id list, as the app does since the
    # subquery form misleads SQLite's planner (the list is fetched in the floor too).
    scopes = {"reg.rental": f"v.enterprise_id IN ({', '.join(map(str, jids))})",
              "ent.a": "v.enterprise_id = :ent", "admin": "1 = 1"}

    def floor_for(scope_sql, where="1 = 1", offset=0, keyset=None):
        params = {"aid": aid, "ent": ent_a, "probe_ent": probe_ent,
                  "plate": plate_prefix, "plate_hi": plate_prefix + "\uffff", "off": offset}
        cond = f"{scope_sql} AND {where}"
        if capped:
            count_sql = (f"SELECT count(*) FROM (SELECT 1 FROM vehicle v WHERE {cond} "
                         f"LIMIT {COUNT_CAP + 1}) c")
        else:
            count_sql = f"SELECT count(*) FROM vehicle v WHERE {cond}"
        page_cond = cond if keyset is None else f"{cond} AND v.id < {keyset}"
        page_sql = (f"SELECT {PAGE_COLUMNS} FROM vehicle v JOIN enterprise e ON "
                    f"e.id = v.enterprise_id WHERE {page_cond} ORDER BY v.id DESC "
                    f"LIMIT {PAGE_SIZE} OFFSET :off")

        def run():
            with db.engine.connect() as con:
                if scope_sql is scopes["reg.rental"]:
                    con.execute(text(jurisdiction), params).all()
                con.execute(text(count_sql), params).scalar()
                return con.execute(text(page_sql), params).all()
        return run

    plate_where = ("v.plate >= :plate AND v.plate < :plate_hi" if dialect == "sqlite"
                   else "v.plate LIKE :plate || '%'")
    deep_after = None
    with app.app_context():
        deep_rows = floor_for(scopes["reg.rental"], offset=deep_page * PAGE_SIZE)()
        deep_after = deep_rows[0][0] + 1  # the cursor a "next" link would carry
    cases = [
        # name, user, query string, floor
        ("page 1", "reg.rental", "", floor_for(scopes["reg.rental"])),
        (f"page {deep_page:,} (offset)", "reg.rental", f"page_VehicleView={deep_page}",
         floor_for(scopes["reg.rental"], offset=deep_page * PAGE_SIZE)),
        (f"page {deep_page:,} (keyset)", "reg.rental",
         f"page_VehicleView={deep_page}&after_VehicleView={deep_after}",
         floor_for(scopes["reg.rental"], keyset=deep_after)),
        (f"plate {plate_prefix}*", "reg.rental", f"_flt_{sw}_plate={plate_prefix}",
         floor_for(scopes["reg.rental"], plate_where)),
        ("state + enterprise", "reg.rental",
         f"_flt_{eq}_state=suspended&enterprise={probe_uscc}",
         floor_for(scopes["reg.rental"], "v.state = 'suspended' AND "
                   "v.enterprise_id = :probe_ent")),
        ("page 1", "ent.a", "", floor_for(scopes["ent.a"])),
        ("state", "ent.a", f"_flt_{eq}_state=suspended",
         floor_for(scopes["ent.a"], "v.state = 'suspended'")),
        ("page 1", "admin", "", floor_for(scopes["admin"])),
    ]

    clients = {}
    for username in ("reg.rental", "ent.a", "admin"):
        c = app.test_client()
        _, password, *_rest, secret = users[username]
        _login(c, app, username, password, secret)
        clients[username] = c

    def orm_for(username, qs):
        def run():
            with app.test_request_context(f"/vehicles/list/?{qs}"):
                user = db.session.query(AppUser).filter_by(username=username).one()
                login_user(user)
                g.user = user
                get_filter_args(view._filters)
                joined = view._filters.get_joined_filters(view._base_filters)
                args = dict(p.split("=") for p in qs.split("&") if p)
                cursor = ({"after": int(args["after_VehicleView"])}
                          if "after_VehicleView" in args and capped else {})
                count, rows = datamodel.query(joined, "id", "desc",
                                              page=int(args.get("page_VehicleView", 0)),
                                              page_size=PAGE_SIZE, **cursor)
                assert rows, qs
                db.session.remove()
        return run

    def http_for(username, qs):
        client = clients[username]

        def run():
            r = client.get(f"/vehicles/list/?{qs}")
            assert r.status_code == 200, r.status_code
            assert b"/vehicles/show/" in r.data, qs
        return run

    counting = f"capped at {COUNT_CAP:,}" if capped else "exact"
    print(f"vehicle list, {n_ent:,} enterprises, {n_veh:,} vehicles, {dialect}; "
          f"median of {repeat}, ms; count {counting}")
    print(f"  {'case':34} {'floor':>8} {'orm':>8} {'http':>8} {'orm/fl':>7} {'http/fl':>8}")
    results = {}
    for name, username, qs, floor in cases:
        with app.app_context():
            t_floor = _timed(floor, repeat)
        t_orm = _timed(orm_for(username, qs), repeat)
        t_http = _timed(http_for(username, qs), repeat)
        results[(name, username)] = (t_floor, t_orm, t_http)
        print(f"  {username + ': ' + name:34} {t_floor * 1000:8.2f} {t_orm * 1000:8.2f} "
              f"{t_http * 1000:8.2f} {t_orm / t_floor:7.2f} {t_http / t_floor:8.2f}")
    p1 = results[("page 1", "reg.rental")]
    for name, _, _, _ in cases[1:3]:
        d = results[(name, "reg.rental")]
        print(f"  deep/p1 {name:26}          {d[1] / p1[1]:8.2f} {d[2] / p1[2]:8.2f}")


if __name__ == "__main__":
    main()
