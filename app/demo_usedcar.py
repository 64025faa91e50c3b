"""Used-car demo data (seed 001): ent.c's market (羊城二手车交易市场) registered as a market and
appraisal institution, its market filing confirmed through the engine and its appraisal filing
waiting in the confirmation queue, with a season of sales records and the monthly reports of
the months before last (each submitted inside its window, from the sales); last month's report
is missing, and the authority has extended its window for a week. ent.d's brokerage is
registered but not yet confirmed (sales and reports refused). Called by app.demo."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from stdnum.cn import ric

from app.demo_rental import vin_with_check_digit
from app.extensions import db
from app.models.identity import AppUser
from app.models.usedcar import UsedCarProfile, UsedCarSale
from app.workflows import engine
from app.workflows import usedcar as wf

PROFILES = {
    # enterprise key: (enterprise type, business types, licence no)
    "C": ("dealer", "market,appraisal", "440111000023451"),
    "D": ("dealer", "broker", None),
}

MARKET_FILING = {
    "business_type": "market", "foreign_trade_code": None, "share_cn": "100",
    "share_foreign": "0", "legal_representative": "李国栋", "registered_capital": "5000",
    "founded_on": "2012-03-15", "floor_area": "32000", "operating_from": "2012-03-15",
    "operating_to": None, "merchant_count": 186, "management_staff": 42,
    "domicile_region": "440111", "domicile_street": "机场路1308号",
    "scope": "二手车交易市场经营管理；二手车经纪；停车场服务",
    "business_region": "440111", "business_street": "机场路1308号A区",
    "filer_name": "何美玲", "filer_mobile": "13700137003",
    "filer_email": "hml@yangcheng.example.cn",
    "branches": [{"name": "广州市羊城二手车交易市场有限公司番禺分公司",
                  "licence_no": "440101000012341", "address": "广州市番禺区迎宾路88号",
                  "scope": "二手车交易服务"}],
    "branch_count": 1,
}
APPRAISAL_FILING = {
    **{k: v for k, v in MARKET_FILING.items()
       if k not in ("merchant_count", "management_staff", "branches", "branch_count")},
    "business_type": "appraisal", "professional_staff": 12, "floor_area": "600",
    "scope": "二手车鉴定评估", "branches": [], "branch_count": 0,
}

SURNAMES = "陈林黄张李王吴刘蔡杨许郑谢郭洪曾邱廖赖徐周叶苏庄"
GIVEN = ["志明", "淑芬", "建华", "丽娟", "国强", "美玲", "俊杰", "晓燕", "伟东", "秀英",
         "家豪", "嘉欣", "文辉", "慧敏", "海涛", "静怡"]
DISTRICTS = [("440106", "广州市天河区"), ("440111", "广州市白云区"), ("440104", "广州市越秀区"),
             ("440105", "广州市海珠区"), ("440113", "广州市番禺区")]
STREETS = ["天河路", "中山大道", "黄埔大道", "机场路", "广州大道北", "江南大道中", "迎宾路"]
MODELS = {
    "basic": [("大众牌SVW7155", "小型轿车"), ("丰田牌GTM7200", "小型轿车"),
              ("本田牌GHA7152", "小型轿车")],
    "mpv": [("别克牌SGM6521", "小型普通客车"), ("本田牌GHA6482", "小型普通客车")],
    "suv": [("丰田牌GTM6471", "小型普通客车"), ("大众牌SVW6471", "小型普通客车")],
    "cross": [("五菱牌LZW6407", "小型普通客车")],
    "truck": [("江铃牌JX1041", "轻型普通货车"), ("福田牌BJ1045", "轻型厢式货车")],
    "motorcycle": [("五羊本田牌WH125", "普通二轮摩托车")],
}
WMI = {"basic": "LSVAM", "mpv": "LSGUA", "suv": "LFMAP", "cross": "LZWAD", "truck": "LEFAD",
       "motorcycle": "LWBPC"}
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def _resident_id(rng: random.Random) -> str:
    """A valid 18-digit number (python-stdnum checks the district against the birth date:
    these Guangzhou districts and births from 1990 on)."""
    born = datetime.date(1990, 1, 1) + datetime.timedelta(days=rng.randrange(0, 5000))
    body = f"{rng.choice(('440104', '440105', '440106', '440111'))}{born:%Y%m%d}" \
           f"{rng.randrange(100, 999)}"
    return body + ric.calc_check_digit(body + "0")  # stdnum's takes the number with a digit


def _person(rng: random.Random) -> dict:
    district = rng.choice(DISTRICTS)[1]
    return {"name": rng.choice(SURNAMES) + rng.choice(GIVEN), "is_enterprise": False,
            "has_uscc": False, "code": _resident_id(rng),
            "address": f"{district}{rng.choice(STREETS)}{rng.randrange(1, 999)}号",
            "mobile": f"13{rng.randrange(0, 10)}{rng.randrange(10**7, 10**8)}"}


def _sale(rng: random.Random, enterprise, day: datetime.date, n: int) -> UsedCarSale:
    category = rng.choice(list(MODELS))
    model, vehicle_type = rng.choice(MODELS[category])
    buyer, seller = _person(rng), _person(rng)
    agent = _person(rng) if rng.random() < 0.3 else None
    plate = "粤A" + "".join(rng.choice(PLATE_LETTERS + "0123456789") for _ in range(5))
    vin = vin_with_check_digit(f"{WMI[category]}{rng.randrange(100, 999)}0RP{n:06d}")
    sale = UsedCarSale(
        enterprise_id=enterprise.id, report_date=day, plate=plate,
        registration_no=f"440{rng.randrange(10**8, 10**9)}", vin=vin, brand_model=model,
        vehicle_type=vehicle_type, category=category,
        transfer_office=rng.choice(["广州市公安局交通警察支队车辆管理所",
                                    "佛山市公安局交通警察支队车辆管理所"]),
        price=Decimal(rng.randrange(12, 380) * 1000), operator_name=enterprise.name,
        has_agent=agent is not None)
    for role, party in (("buyer", buyer), ("seller", seller), ("agent", agent)):
        if party is None:
            continue
        for key, value in party.items():
            setattr(sale, f"{role}_{key}", value)
    return sale


def _load_reports(ent_c, user, regulator, today: datetime.date) -> None:
    """Monthly reports of the two months before last, filed on the 10th of the month after
    (inside the window), from the sales: the transfers are local, the cars non-operating."""
    from app.services import report_windows, usedcar_reports
    from app.workflows.windows import Period

    last = Period.containing("month", today).previous
    for period in (last.previous.previous, last.previous):
        figures = usedcar_reports.prefill(usedcar_reports.MONTHLY, period.year, period.number,
                                          ent_c.id)
        if figures is None:
            continue
        for row in figures.rows.values():
            row["local_transfer_count"] = row["non_operating_count"] = row["total_count"]
        filed = datetime.datetime.combine(period.end, datetime.time(10)) \
            + datetime.timedelta(days=10)
        usedcar_reports.submit(usedcar_reports.MONTHLY, period.year, period.number, figures,
                               "何美玲", enterprise_id=ent_c.id, user_id=user.id, now=filed)
    report_windows.grant_extension(
        usedcar_reports.MONTHLY, str(last), ent_c.id,
        datetime.datetime.combine(today + datetime.timedelta(days=7), datetime.time(23, 59)),
        "企业系统升级，申请延期报送。", user_id=regulator.id)


def load_usedcar_demo(orgs: dict) -> None:
    users = {u.username: u for u in db.session.query(AppUser)}
    for key, (enterprise_type, business_types, licence_no) in PROFILES.items():
        ent = orgs[key]
        db.session.add(UsedCarProfile(enterprise_id=ent.id, has_uscc=True, tax_no=ent.uscc,
                                      licence_no=licence_no, enterprise_type=enterprise_type,
                                      business_types=business_types))
    db.session.commit()
    ent_c = orgs["C"]
    staff = engine.Actor(frozenset({engine.ENTERPRISE}), name="何美玲", user=users["ent.c"])
    regulator = engine.Actor(frozenset({engine.REGULATOR}), name="王芳",
                             user=users["reg.usedcar"])
    case = engine.create(wf.FILING, enterprise_id=ent_c.id, actor=staff,
                         payload=dict(MARKET_FILING))
    engine.fire(case, "approve", regulator, opinion="备案信息完整，予以确认。")
    engine.create(wf.FILING, enterprise_id=ent_c.id, actor=staff,
                  payload=dict(APPRAISAL_FILING))
    # Three months of sales, a few a day.
    rng = random.Random(2026)
    today = datetime.date.today()
    n = 0
    for back in range(92, 0, -1):
        day = today - datetime.timedelta(days=back)
        for _ in range(rng.randrange(0, 3)):
            n += 1
            db.session.add(_sale(rng, ent_c, day, n))
    db.session.commit()
    _load_reports(ent_c, users["ent.c"], users["reg.usedcar"], today)

