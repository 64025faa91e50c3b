"""Power-licensing demo data (seed 002): ent.p holds a licence with three versions, a staff
roster, a personnel change under review and a draft licence-item change with gaps; ent.q, a
first-time applicant in the 南沙 free-trade-zone pilot area, has a new-licence case on the FTZ
route under examination; the credit register has a few entries."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from app.demo_rental import demo_attachment
from app.demo_usedcar import GIVEN, SURNAMES, _resident_id
from app.extensions import db
from app.models.identity import AppUser
from app.models.licence import (
    CURRENT,
    ITEM_CHANGE,
    NEW,
    REGISTRATION_CHANGE,
    ROUTE_FTZ,
    SUPERSEDED,
    CreditRecord,
    EquityHolder,
    KeyPerson,
    KeyPersonRecord,
    Licence,
    LicenceRequest,
    PowerProfile,
    ProjectRecord,
    RequestMaterial,
)
from app.models.staff import ACTIVE, ELECTRICIAN, PROPOSED, TECHNICAL, PowerStaff
from app.services import licence_check
from app.workflows import engine
from app.workflows import licence as wf

PROFILES = {
    # key: enterprise type, capital (10k CNY), founded, postcode, telephone, email
    "P": ("limited", Decimal("5000"), datetime.date(2008, 6, 18), "510623", "020-38881234",
          "office@yuedian.example.cn"),
    "Q": ("private", Decimal("1200"), datetime.date(2021, 9, 1), "511458", "020-39006789",
          "hr@nsmingzhu.example.cn"),
}
CREDIT = [
    ("91440101MA5CUJ2E76", "广东粤电建设工程有限公司", "good", "无不良记录"),
    ("91440115MA9UQ8WE1G", "广州南沙明珠电力工程有限公司", "good", "新设企业，无不良记录"),
    ("91440300MA5G8LQ933", "深圳市迅达机电安装有限公司", "poor",
     "2025年因违规转包被行政处罚"),
]
TITLES = ["senior"] * 3 + ["intermediate"] * 9 + ["junior"] * 13
SPECIALTIES = ["电气工程", "输配电", "继电保护", "高电压技术", "电力系统自动化"]
KINDS = ["low_voltage"] * 20 + ["high_voltage"] * 28 + ["cable"] * 6 + ["relay"] * 3 + \
    ["test"] * 3


def _name(rng) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _roster(enterprise_id: int, rng, technical: int, electricians: int, status: str,
            request_id: int | None = None, today=None) -> None:
    today = today or datetime.date.today()
    for i in range(technical):
        db.session.add(PowerStaff(
            enterprise_id=enterprise_id, staff_type=TECHNICAL, status=status,
            name=_name(rng), id_number=_resident_id(rng), title=TITLES[i % len(TITLES)],
            specialty=rng.choice(SPECIALTIES), request_id=request_id,
            joined_on=today - datetime.timedelta(days=rng.randrange(200, 3000))
            if status == ACTIVE else None))
    for i in range(electricians):
        db.session.add(PowerStaff(
            enterprise_id=enterprise_id, staff_type=ELECTRICIAN, status=status,
            name=_name(rng), id_number=_resident_id(rng),
            certificate_kind=KINDS[i % len(KINDS)],
            certificate_no=f"T{_resident_id(rng)}", certificate_issuer="广东省应急管理厅",
            request_id=request_id,
            joined_on=today - datetime.timedelta(days=rng.randrange(200, 3000))
            if status == ACTIVE else None))


def _lead(request, role, name, id_number, title, years, rng) -> KeyPerson:
    person = KeyPerson(enterprise_id=request.enterprise_id, request_id=request.id, role=role,
                       name=name, id_number=id_number, title=title, years=years,
                       specialty="电气工程", mobile="13926001234")
    person.records = [
        KeyPersonRecord(enterprise_id=request.enterprise_id, kind="work",
                        start_on=datetime.date(2008, 7, 1), end_on=datetime.date(2016, 6, 30),
                        organisation="广东电网有限责任公司广州供电局", detail="输配电工程师",
                        certifier="梁振华", certifier_mobile="13802556677"),
        KeyPersonRecord(enterprise_id=request.enterprise_id, kind="work",
                        start_on=datetime.date(2016, 7, 1), organisation=request.enterprise.name,
                        detail="技术部经理", certifier="何志远", certifier_mobile="13710442211"),
        KeyPersonRecord(enterprise_id=request.enterprise_id, kind="training",
                        start_on=datetime.date(2023, 5, 8), end_on=datetime.date(2023, 5, 12),
                        organisation="中国电力企业联合会", detail="电力安全生产管理培训"),
    ]
    db.session.add(person)
    return person


def _materials(request, user_id: int) -> None:
    for m in licence_check.required_materials(request):
        db.session.add(RequestMaterial(
            enterprise_id=request.enterprise_id, request_id=request.id, slot=m.slot,
            attachment=demo_attachment(request.enterprise_id, user_id, f"{m.label}.pdf")))


def load_power_demo(orgs: dict) -> None:
    users = {u.username: u for u in db.session.query(AppUser)}
    rng = random.Random(2002)
    today = datetime.date.today()
    for uscc, name, rating, note in CREDIT:
        db.session.add(CreditRecord(uscc=uscc, enterprise_name=name, rating=rating, note=note,
                                    recorded_on=today - datetime.timedelta(days=90)))
    for key, (etype, capital, founded, postcode, phone, email) in PROFILES.items():
        ent = orgs[key]
        db.session.add(PowerProfile(enterprise_id=ent.id, enterprise_type=etype,
                                    registered_capital=capital, founded_on=founded,
                                    postal_address=ent.address, postcode=postcode,
                                    telephone=phone, email=email))
    licence_check.load_conditions(db.session)
    db.session.flush()

    # ent.p: a licence with three versions (new -> item change -> registration change).
    ent_p = orgs["P"]
    holder = {"uscc": ent_p.uscc, "address": ent_p.address}
    v1 = Licence(enterprise_id=ent_p.id, number=f"CXS{today.year - 5}00031", version=1,
                 status=SUPERSEDED, categories={"install": 4, "repair": 4},
                 holder_name="广东粤电建设工程公司", legal_representative="冯建民",
                 issued_on=today.replace(year=today.year - 5, month=3, day=15),
                 expires_on=today.replace(year=today.year + 1, month=3, day=14), matter=NEW,
                 superseded_on=datetime.datetime(today.year - 3, 6, 20), **holder)
    db.session.add(v1)
    db.session.flush()
    v2 = Licence(enterprise_id=ent_p.id, number=v1.number, version=2, previous_id=v1.id,
                 status=SUPERSEDED, categories={"install": 3, "repair": 4},
                 holder_name="广东粤电建设工程公司", legal_representative="冯建民",
                 issued_on=datetime.date(today.year - 3, 6, 20), expires_on=v1.expires_on,
                 matter=ITEM_CHANGE, superseded_on=datetime.datetime(today.year - 1, 11, 2),
                 **holder)
    db.session.add(v2)
    db.session.flush()
    db.session.add(Licence(
        enterprise_id=ent_p.id, number=v1.number, version=3, previous_id=v2.id,
        status=CURRENT, categories={"install": 3, "repair": 4}, holder_name=ent_p.name,
        legal_representative=ent_p.legal_representative,
        issued_on=datetime.date(today.year - 1, 11, 2), expires_on=v1.expires_on,
        matter=REGISTRATION_CHANGE, **holder))
    _roster(ent_p.id, rng, technical=25, electricians=60, status=ACTIVE, today=today)
    db.session.commit()

    # A personnel change under review: a new electrician joins.
    p_user = users["ent.p"]
    p_actor = engine.Actor(frozenset({engine.ENTERPRISE}), name=p_user.get_full_name(),
                           user=p_user)
    joiner = PowerStaff(enterprise_id=ent_p.id, staff_type=ELECTRICIAN, name="罗家豪",
                        id_number=_resident_id(rng), certificate_kind="cable",
                        certificate_no=f"T{_resident_id(rng)}",
                        certificate_issuer="广东省应急管理厅")
    wf.propose_join(joiner, p_actor)

    # A draft licence-item change (add 承试五级) with gaps the check lists.
    current = db.session.query(Licence).filter_by(enterprise_id=ent_p.id,
                                                  status=CURRENT).one()
    draft = LicenceRequest(enterprise_id=ent_p.id, matter=ITEM_CHANGE, licence_id=current.id,
                           categories={"install": 3, "repair": 4, "test": 5},
                           submitter_kind="legal", submitter_name=ent_p.legal_representative,
                           submitter_id_number=_resident_id(rng))
    db.session.add(draft)
    db.session.flush()
    db.session.add(EquityHolder(enterprise_id=ent_p.id, request_id=draft.id,
                                name="广东省粤电集团有限公司", kind="legal",
                                amount=Decimal("3500"), share=Decimal("70")))
    db.session.add(EquityHolder(enterprise_id=ent_p.id, request_id=draft.id, name="冯建民",
                                kind="natural", amount=Decimal("1500"), share=Decimal("30")))
    _lead(draft, "technical", "邓国华", _resident_id(rng), "senior", 16, rng)
    for i, (kv, days) in enumerate([(110, 400), (35, 700), (35, 900), (10, 300)]):
        db.session.add(ProjectRecord(
            enterprise_id=ent_p.id, request_id=draft.id, name=f"广州市白云区{kv}kV线路工程{i + 1}",
            category="install", voltage_kv=kv, client="广东电网有限责任公司广州供电局",
            amount=Decimal(800 + 300 * i), started_on=today - datetime.timedelta(days=days + 200),
            completed_on=today - datetime.timedelta(days=days)))
    db.session.commit()

    # ent.q: first licence on the FTZ route, accepted and under examination.
    ent_q = orgs["Q"]
    q_user = users["ent.q"]
    request = LicenceRequest(enterprise_id=ent_q.id, matter=NEW, route=ROUTE_FTZ,
                             categories={"install": 5}, nature="new", submitter_kind="legal",
                             submitter_name=ent_q.legal_representative,
                             submitter_id_number=_resident_id(rng))
    db.session.add(request)
    db.session.flush()
    db.session.add(EquityHolder(enterprise_id=ent_q.id, request_id=request.id,
                                name=ent_q.legal_representative, kind="natural",
                                amount=Decimal("1200"), share=Decimal("100")))
    _lead(request, "technical", "苏文斌", _resident_id(rng), "intermediate", 9, rng)
    _lead(request, "safety", "梁嘉怡", _resident_id(rng), "intermediate", 6, rng)
    _roster(ent_q.id, rng, technical=6, electricians=16, status=PROPOSED,
            request_id=request.id, today=today)
    db.session.flush()
    _materials(request, q_user.id)
    db.session.commit()
    q_actor = engine.Actor(frozenset({engine.ENTERPRISE}), name=q_user.get_full_name(),
                           user=q_user)
    case = wf.submit_request(request, q_actor)
    regulator = users["reg.power"]
    engine.fire(case, "accept", engine.Actor(frozenset({engine.REGULATOR}),
                                             name=regulator.get_full_name(), user=regulator),
                opinion="材料齐全，予以受理。")

    from app.demo_campaign import load_campaign_demo  # P15 (自查)
    from app.demo_evaluation import load_evaluation_demo  # P14 (好差评)

    load_campaign_demo(users, orgs)
    load_evaluation_demo(users, orgs)
