"""`python -m bench.usedcar`: used-car sales records and monthly reports at scale (issue 4,
"Performance").

Seeds BENCH_USEDCAR_ENTERPRISES (default 5,000) confirmed used-car enterprises in Guangzhou's
districts (all inside reg.usedcar's jurisdiction, 广州市商务局), BENCH_SALES (default 10,000,000)
sales records spread over them and twelve months of monthly trade reports each, with bulk
inserts (executemany on SQLite, COPY on PostgreSQL), into a fresh SQLite database under a
temporary instance, or into DATABASE_URL (seeded once; a second run reuses the rows).

Then, median of BENCH_REPEAT (default 15) calls, each beside its raw-SQL floor on the same data:
  sales list as the regulator: page 1, VIN (exact and prefix), plate prefix, a date range;
  as one enterprise: page 1;
  the regional aggregate of one month (amounts and counts by category);
  the import of a 10,000-row sheet (rows/s including validation, nothing committed).
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
REPORT_COLUMNS = ("enterprise_id, kind, year, period, filer_name, submitted_on, late, "
                  "changed_on")
ROW_COLUMNS = ("enterprise_id, report_id, position, category, amount, total_count, "
               "direct_count, consignment_count, local_transfer_count, transfer_out_count, "
               "operating_count, non_operating_count")
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
        _bulk(cur, pg, "usedcar_report", REPORT_COLUMNS,
              ((e, "usedcar_monthly", 2025 + (m + 11) // 12, (m + 10) % 12 + 1, "填报人",
                now, False, now) for e in ent_ids for m in range(1, 13)))
        cur.execute("SELECT id, enterprise_id FROM usedcar_report WHERE kind = "
                    f"'usedcar_monthly' AND enterprise_id >= {mark}", (ent_ids[0],))
        reports = cur.fetchall()
        _bulk(cur, pg, "usedcar_report_row", ROW_COLUMNS,
              ((eid, rid, pos, cat, 12.5 + pos, 3 + pos % 3, 2, 1 + pos % 3, 2 + pos % 3, 1,
                0, 3 + pos % 3) for rid, eid in reports for pos, cat in enumerate(CATEGORIES)))
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    print(f"  seeded {n_ent} enterprises, {n_sales} sales, {len(reports)} monthly reports in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)


def main() -> None:
    n_ent = int(os.environ.get("BENCH_USEDCAR_ENTERPRISES", "5000"))
    n_sales = int(os.environ.get("BENCH_SALES", "10000000"))
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
        seed(db, n_ent, n_sales)
        db.session.remove()


if __name__ == "__main__":
    main()
