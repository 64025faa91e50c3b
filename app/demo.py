"""Demo data (only into an empty database, never in production). The README lists these
accounts; the TOTP secrets are public demo values."""

from __future__ import annotations

import datetime

from flask import current_app

from app import security as s
from app.extensions import db
from app.models.org import SECTOR_CODES, Authority, Enterprise, Region, Sector, region_prefix

REGIONS = [
    ("440000", "广东省"), ("440100", "广州市"), ("440106", "天河区"), ("440111", "白云区"),
    ("440300", "深圳市"), ("440304", "福田区"), ("440305", "南山区"), ("110000", "北京市"),
    ("110105", "朝阳区"), ("310000", "上海市"), ("310115", "浦东新区"), ("440115", "南沙区"),
]

AUTHORITIES = [
    # key, name, region, sectors
    ("gd_transport", "广东省交通运输厅", "440000", ["rental"]),
    ("gz_commerce", "广州市商务局", "440100", ["usedcar"]),
    ("gd_audit", "广东省政务服务数据审计办公室", "440000", ["rental", "usedcar", "power"]),
    ("south_energy", "国家能源局南方监管局", "440000", ["power"]),
]

ENTERPRISES = [
    # key, name, uscc, region, sectors, legal rep, contact, mobile, address
    ("A", "广州市穗通汽车租赁有限公司", "91440101MA59XXKL1H", "440106", ["rental"], "陈志强",
     "林晓燕", "13800138001", "广州市天河区天河路385号太古汇一座12楼"),
    ("B", "深圳市鹏程小客车租赁有限公司", "91440300MA5DQ3KN8W", "440304", ["rental"], "黄伟明",
     "周丽华", "13900139002", "深圳市福田区深南大道6008号特区报业大厦20楼"),
    ("C", "广州市羊城二手车交易市场有限公司", "91440101MA9W4CJB23", "440111", ["usedcar"],
     "李国栋", "何美玲", "13700137003", "广州市白云区机场路1308号"),
    ("D", "广州市天河诚信二手车经纪有限公司", "91440106MA5D0K3N2M", "440106", ["usedcar"],
     "郑志诚", "郑晓东", "13600136004", "广州市天河区黄埔大道西668号"),
    ("P", "广东粤电建设工程有限公司", "91440101MA5CUJ2E76", "440106", ["power"], "冯建民",
     "邓慧敏", "13926001234", "广州市天河区天河北路233号中信广场30楼"),
    ("Q", "广州南沙明珠电力工程有限公司", "91440115MA9UQ8WE1G", "440115", ["power"],
     "陈明珠", "苏文斌", "13527004567", "广州市南沙区海滨路171号南沙金融大厦8楼"),
]

USERS = [
    # username, password, role, org key, family, given, email, totp secret
    ("admin", "Admin#2026", s.ROLE_ADMIN, None, "管", "理员", "admin@regportal.local",
     "SQD7L3TIXZAUM5TXVA5AV6NW5TJ3FSNM"),
    ("reg.rental", "Review#2026", s.ROLE_REGULATOR, "gd_transport", "张", "建国",
     "reg.rental@regportal.local", "SDTBQCMZYLMDEC3BURLPTYGGABPOVXS4"),
    ("reg.usedcar", "Review#2026", s.ROLE_REGULATOR, "gz_commerce", "王", "芳",
     "reg.usedcar@regportal.local", "QMYKZKDFJDZHK3ZNZW64GEJABTRQ3AEE"),
    ("auditor", "Audit#2026", s.ROLE_AUDITOR, "gd_audit", "刘", "审", "auditor@regportal.local",
     "KIZZNHBZHJNKOKTG2LHTK4AE5OFGZRZ4"),
    ("ent.a", "Enterprise#2026", s.ROLE_ENT_ADMIN, "A", "陈", "志强", "ent.a@suitong.example.cn",
     None),
    ("ent.b", "Enterprise#2026", s.ROLE_ENT_ADMIN, "B", "黄", "伟明",
     "ent.b@pengcheng.example.cn", None),
    ("ent.c", "Enterprise#2026", s.ROLE_ENT_ADMIN, "C", "李", "国栋",
     "ent.c@yangcheng.example.cn", None),
    ("ent.d", "Enterprise#2026", s.ROLE_ENT_ADMIN, "D", "郑", "晓东",
     "ent.d@chengxin.example.cn", None),
    ("reg.power", "Review#2026", s.ROLE_REGULATOR, "south_energy", "赵", "立新",
     "reg.power@regportal.local", "NLPL3TLYDAUFLL5M2E6OKC55G32RXBI4"),
    ("ent.p", "Enterprise#2026", s.ROLE_ENT_ADMIN, "P", "邓", "慧敏",
     "ent.p@yuedian.example.cn", None),
    ("ent.q", "Enterprise#2026", s.ROLE_ENT_ADMIN, "Q", "苏", "文斌",
     "ent.q@nsmingzhu.example.cn", None),
]


def ensure_reference_data() -> dict:
    sectors = {}
    for code in SECTOR_CODES:
        sector = db.session.query(Sector).filter_by(code=code).first()
        if sector is None:
            sector = Sector(code=code)
            db.session.add(sector)
        sectors[code] = sector
    for code, name in REGIONS:
        if db.session.get(Region, code) is None:
            db.session.add(Region(code=code, name=name))
    db.session.flush()
    return sectors


def load_demo_data() -> None:
    sm = current_app.appbuilder.sm
    sectors = ensure_reference_data()
    orgs = {}
    for key, name, region, sector_codes in AUTHORITIES:
        auth = Authority(name=name, region_code=region, region_prefix=region_prefix(region),
                         sectors=[sectors[c] for c in sector_codes])
        db.session.add(auth)
        orgs[key] = auth
    for key, name, uscc, region, sector_codes, legal, contact, mobile, address in ENTERPRISES:
        ent = Enterprise(name=name, uscc=uscc, region_code=region, status="active",
                         sectors=[sectors[c] for c in sector_codes], legal_representative=legal,
                         contact_name=contact, contact_mobile=mobile, address=address)
        db.session.add(ent)
        orgs[key] = ent
    db.session.flush()
    for username, password, role, org, family, given, email, secret in USERS:
        user = sm.add_user(username, given, family, email, sm.find_role(role), password=password)
        if user is None:
            raise RuntimeError(f"could not create demo user {username}")
        org_obj = orgs.get(org)
        if isinstance(org_obj, Enterprise):
            user.enterprise_id = org_obj.id
        elif isinstance(org_obj, Authority):
            user.authority_id = org_obj.id
        user.must_change_password = False
        user.password_changed_on = datetime.datetime.now()
        if secret:
            user.totp_secret = secret
            user.totp_enabled = True
    db.session.commit()

    from app.demo_rental import load_rental_demo

    load_rental_demo(orgs)

    from app.demo_usedcar import load_usedcar_demo

    load_usedcar_demo(orgs)

    from app.demo_power import load_power_demo

    load_power_demo(orgs)

    from app.demo_content import load_content_demo

    load_content_demo()

