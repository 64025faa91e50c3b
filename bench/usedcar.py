"""`python -m bench.usedcar`: the used-car sales list at scale and the sales import (issue 4,
"Performance"; the regional aggregates are bench/usedcar_reports.py).

Seeds BENCH_USEDCAR_ENTERPRISES (default 5,000) confirmed used-car enterprises in Guangzhou's
districts (all inside reg.usedcar's jurisdiction, 广州市商务局) and BENCH_SALES (default
10,000,000) sales records spread over them, with bulk inserts (executemany on SQLite, COPY on
PostgreSQL), into a fresh SQLite database under a temporary instance, or into DATABASE_URL
(seeded once; a second run reuses the rows).

Then, median of BENCH_REPEAT (default 15) calls at three levels, as for the rental list:
  floor  the minimal raw SQL giving the same page: the capped count the page shows + the 25
         rows with the enterprise name, under the same scope (the jurisdiction's id list)
  orm    the FAB datamodel query with the scope and the search, as ModelView.list runs it
  http   the whole GET /usedcar/sales/list/ through the test client, logged in
Cases as the regulator reg.usedcar (every seeded sale): page 1, a VIN (exact), a VIN prefix,
a plate prefix, a week of report dates; as one seeded enterprise: page 1 and a month.
Then the import of a 10,000-row sales sheet: reading + clean_sale on every row + the
duplicate-VIN check, and the bulk insert of the rows (rolled back), in rows/s.
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
from bench.common import login, prepare, timed  # noqa: E402

DISTRICTS = [("440103", "荔湾区"), ("440104", "越秀区"), ("440105", "海珠区"),
             ("440106", "天河区"), ("440111", "白云区"), ("440112", "黄埔区"),
             ("440113", "番禺区"), ("440114", "花都区"), ("440115", "南沙区"),
             ("440117", "从化区"), ("440118", "增城区")]
CATEGORIES = ("basic", "mpv", "suv", "cross", "truck", "three_wheel", "low_speed", "trailer",
              "motorcycle", "other")
USCC_PREFIX = "91448"  # seeded enterprises only
FIRST_DAY = datetime.date(2025, 12, 1)
DAYS = 365
SALE_COLUMNS = (
    "enterprise_id, report_date, buyer_name, buyer_is_enterprise, buyer_has_uscc, buyer_code, "
    "buyer_address, buyer_mobile, seller_name, seller_is_enterprise, seller_has_uscc, "
    "seller_code, seller_address, seller_mobile, has_agent, plate, registration_no, vin, "
    "brand_model, vehicle_type, category, transfer_office, price, operator_name, created_on, "
    "changed_on")
PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _plate(i: int) -> str:
    out = []
    for _ in range(5):
        i, r = divmod(i, len(PLATE_CHARS))
        out.append(PLATE_CHARS[r])
    return "粤A" + "".join(reversed(out))


def _bulk(cur, pg: bool, table: str, columns: str, rows, batch: int = 50_000) -> None:
    if pg:
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    n = columns.count(",") + 1
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * n)})"
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == batch:
            cur.executemany(sql, chunk)
            chunk = []
    if chunk:
        cur.executemany(sql, chunk)


def seed(db, n_ent: int, n_sales: int) -> None:
    from app.models.org import Region, Sector

    engine = db.engine
    pg = engine.dialect.name == "postgresql"
    have = db.session.execute(text("SELECT count(*) FROM enterprise WHERE uscc LIKE :p"),
                              {"p": USCC_PREFIX + "%"}).scalar()
    if have >= n_ent:
        print(f"  reusing {have} seeded enterprises and their sales", file=sys.stderr)
        return
    t0 = time.perf_counter()
    for code, name in DISTRICTS:
        if db.session.get(Region, code) is None:
            db.session.add(Region(code=code, name=name))
    db.session.commit()
    usedcar = db.session.query(Sector).filter_by(code="usedcar").one().id
    now = datetime.datetime(2026, 11, 1)
    mark = "%s" if pg else "?"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if not pg:
            cur.execute("PRAGMA synchronous = OFF")
        _bulk(cur, pg, "enterprise", "name, uscc, region_code, status, contact_name, "
              "contact_mobile, address, created_on",
              ((f"广州测试{i:04d}二手车有限公司", f"{USCC_PREFIX}{i:013d}",
                DISTRICTS[i % len(DISTRICTS)][0], "active", f"填报人{i}", f"139{i:08d}",
                f"广州市测试路{i}号", now) for i in range(n_ent)))
        cur.execute(f"SELECT id FROM enterprise WHERE uscc LIKE {mark} ORDER BY id",
                    (USCC_PREFIX + "%",))
        ent_ids = [r[0] for r in cur.fetchall()]
        _bulk(cur, pg, "enterprise_sector", "enterprise_id, sector_id",
              ((e, usedcar) for e in ent_ids))
        _bulk(cur, pg, "usedcar_profile", "enterprise_id, has_uscc, enterprise_type, "
              "business_types, confirmed_on, created_on",
              ((e, True, "dealer", "dealer", now, now) for e in ent_ids))
        raw.commit()

        def sales():
            for i in range(n_sales):
                eid = ent_ids[i % n_ent]
                day = FIRST_DAY + datetime.timedelta(days=(i * DAYS) // n_sales)
                agent = i % 4 == 0
                yield (eid, day, f"买方{i % 9973}", False, False, "110105194912310021",
                       "广州市天河区测试路1号", "13800138000", f"卖方{i % 7919}", False, False,
                       "11010519491231002X", "广州市白云区测试路2号", "13900139000", agent,
                       _plate(i), f"440{i:09d}", f"LSVAM{i:012d}", "大众牌SVW7155", "小型轿车",
                       CATEGORIES[i % 7], "广州市公安局交通警察支队车辆管理所",
                       30000 + (i % 500) * 1000, "广州测试二手车有限公司", now, now)

        _bulk(cur, pg, "usedcar_sale", SALE_COLUMNS, sales())
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    print(f"  seeded {n_ent} enterprises, {n_sales} sales in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)


PAGE_SIZE = 25
COUNT_CAP = 10_000
PAGE_COLUMNS = ("s.id, s.report_date, s.buyer_name, s.seller_name, s.vehicle_type, s.plate, "
                "s.vin, s.price, e.name")


def _floor(db, scope_sql: str, where: str, params: dict):
    cond = f"{scope_sql} AND {where}"
    count_sql = (f"SELECT count(*) FROM (SELECT 1 FROM usedcar_sale s WHERE {cond} "
                 f"LIMIT {COUNT_CAP + 1}) c")
    page_sql = (f"SELECT {PAGE_COLUMNS} FROM usedcar_sale s JOIN enterprise e ON "
                f"e.id = s.enterprise_id WHERE {cond} ORDER BY s.id DESC LIMIT {PAGE_SIZE}")

    def run():
        with db.engine.connect() as con:
            con.execute(text(count_sql), params).scalar()
            return con.execute(text(page_sql), params).all()
    return run


def _sheet(path: str, n: int) -> None:
    """n valid sales rows in the import template's columns, as a user would fill them."""
    import random

    from openpyxl import Workbook

    from app.demo_usedcar import _sale
    from app.services.usedcar_sales import FIELDS, SALES_IMPORT

    rng = random.Random(7)

    class _Ent:
        id = 0
        name = "广州测试二手车有限公司"

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append([str(c.header) for c in SALES_IMPORT.columns])
    day = datetime.date(2026, 10, 15)
    for i in range(n):
        sale = _sale(rng, _Ent, day, 900_000 + i)
        row = []
        for field in FIELDS:
            value = getattr(sale, field)
            if isinstance(value, bool):
                value = "是" if value else "否"
            elif value is None:
                value = ""
            elif field == "price":
                value = float(value)
            row.append(value)
        ws.append(row)
    wb.save(path)


def main() -> None:
    n_ent = int(os.environ.get("BENCH_USEDCAR_ENTERPRISES", "5000"))
    n_sales = int(os.environ.get("BENCH_SALES", "10000000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "15"))
    n_import = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
    app = create_app({"WTF_CSRF_ENABLED": False})
    from flask import g
    from flask_appbuilder.urltools import get_filter_args
    from flask_login import login_user

    from app import security as s
    from app.demo import USERS
    from app.extensions import db
    from app.models.base import jurisdiction_id_list
    from app.models.identity import AppUser
    from app.models.org import Authority

    users = {u[0]: u for u in USERS}
    with app.app_context():
        prepare(app)
        seed(db, n_ent, n_sales)
        dialect = db.engine.dialect.name
        aid = db.session.query(Authority).filter_by(name="广州市商务局").one().id
        jids = jurisdiction_id_list(aid, "usedcar")
        probe = db.session.execute(text(
            "SELECT enterprise_id, vin, plate FROM usedcar_sale WHERE id = "
            "(SELECT max(id) / 2 FROM usedcar_sale)")).one()
        probe_ent, probe_vin, probe_plate = probe
        # A user of the probe enterprise (created once).
        sm = app.appbuilder.sm
        if sm.find_user(username="bench.ent") is None:
            user = sm.add_user("bench.ent", "测", "试", "bench.ent@bench.example.cn",
                               sm.find_role(s.ROLE_ENT_ADMIN), password="Enterprise#2026")
            user.enterprise_id = probe_ent
            user.must_change_password = False
            db.session.commit()
        db.session.remove()

    in_list = f"s.enterprise_id IN ({', '.join(map(str, jids))})"
    week = ("2026-06-01", "2026-06-07")
    prefix = ((lambda col: f"{col} >= :p AND {col} < :p_hi") if dialect == "sqlite"
              else (lambda col: f"{col} LIKE :p || '%'"))
    vin_prefix, plate_prefix = probe_vin[:14], probe_plate[:5]

    def params(p=""):
        return {"p": p, "p_hi": p + "\U0010ffff", "ent": probe_ent, "vin": probe_vin,
                "d0": week[0], "d1": week[1]}

    cases = [
        ("page 1", "reg.usedcar", "", in_list, "1 = 1", params()),
        ("VIN", "reg.usedcar", f"search_type=vin&keyword={probe_vin}", in_list,
         "s.vin = :vin", params()),
        (f"VIN {vin_prefix}*", "reg.usedcar", f"search_type=vin&keyword={vin_prefix}", in_list,
         prefix("s.vin"), params(vin_prefix)),
        (f"plate {plate_prefix}*", "reg.usedcar", f"search_type=plate&keyword={plate_prefix}",
         in_list, prefix("s.plate"), params(plate_prefix)),
        ("a week of dates", "reg.usedcar", f"search_type=date&keyword={week[0]}~{week[1]}",
         in_list, "s.report_date >= :d0 AND s.report_date <= :d1", params()),
        ("page 1", "bench.ent", "", "s.enterprise_id = :ent", "1 = 1", params()),
        ("a month", "bench.ent", "search_type=date&keyword=2026-06", "s.enterprise_id = :ent",
         "s.report_date >= '2026-06-01' AND s.report_date < '2026-07-01'", params()),
    ]

    view = next(v for v in app.appbuilder.baseviews
                if v.__class__.__name__ == "UsedCarSaleView")
    clients = {}
    for username in ("reg.usedcar", "bench.ent"):
        c = app.test_client()
        password, secret = ((users[username][1], users[username][-1]) if username in users
                            else ("Enterprise#2026", None))
        login(c, app, username, password, secret)
        clients[username] = c

    def orm_for(username, qs):
        def run():
            with app.test_request_context(f"/usedcar/sales/list/?{qs}"):
                user = db.session.query(AppUser).filter_by(username=username).one()
                login_user(user)
                g.user = user
                get_filter_args(view._filters)
                joined = view._filters.get_joined_filters(view._base_filters)
                view.datamodel.query(joined, "id", "desc", page=0, page_size=PAGE_SIZE)
                db.session.remove()
        return run

    def http_for(username, qs):
        client = clients[username]

        def run():
            r = client.get(f"/usedcar/sales/list/?{qs}")
            assert r.status_code == 200, r.status_code
        return run

    print(f"used-car sales list, {n_ent:,} enterprises, {n_sales:,} sales, {dialect}; "
          f"median of {repeat}, ms; count capped at {COUNT_CAP:,}")
    print(f"  {'case':36} {'floor':>8} {'orm':>8} {'http':>8} {'orm/fl':>7} {'http/fl':>8}")
    for name, username, qs, scope_sql, where, p in cases:
        with app.app_context():
            t_floor = timed(_floor(db, scope_sql, where, p), repeat)
        t_orm = timed(orm_for(username, qs), repeat)
        t_http = timed(http_for(username, qs), repeat)
        print(f"  {username + ': ' + name:36} {t_floor * 1000:8.2f} {t_orm * 1000:8.2f} "
              f"{t_http * 1000:8.2f} {t_orm / t_floor:7.2f} {t_http / t_floor:8.2f}")

    # ----- the import of a 10,000-row sheet ----------------------------------------------
    from app.services import xlsx_import
    from app.services.usedcar_sales import SALES_IMPORT, save_import

    path = os.path.join(tempfile.mkdtemp(prefix="regportal-bench-"), "sales.xlsx")
    _sheet(path, n_import)
    t0 = time.perf_counter()
    result = xlsx_import.read(SALES_IMPORT, path)
    t_read = time.perf_counter() - t0
    assert result.ok, result.errors[:3]
    with app.test_request_context("/"):
        user = db.session.query(AppUser).filter_by(username="bench.ent").one()
        g.user = user
        t0 = time.perf_counter()
        save_import(result.rows, {})
        db.session.flush()
        t_save = time.perf_counter() - t0
        db.session.rollback()
        db.session.remove()
    print(f"import of {n_import:,} sales rows: read + validate {t_read:.2f} s "
          f"({n_import / t_read:,.0f} rows/s); with the bulk insert {t_read + t_save:.2f} s "
          f"({n_import / (t_read + t_save):,.0f} rows/s)")


if __name__ == "__main__":
    main()
