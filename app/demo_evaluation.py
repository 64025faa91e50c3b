"""Service-evaluation demo data (好差评, SPEC P14): the 国家能源局南方监管局's QR codes per
service (一次一评) and per matter (一事一评), about twenty evaluations through them over the
last two months (every satisfaction level, distinct mobile numbers), and two ended personnel
cases of ent.p: one evaluated from the to-do, one still waiting in ent.p's to-do.

Everything goes through the services (app/services/evaluations.py, the workflow engine), so
the 5-day locks of the numbers used are in place as if the evaluations had been given then."""

from __future__ import annotations

import datetime
import random

from app.demo_usedcar import _resident_id
from app.extensions import db
from app.models.staff import ELECTRICIAN, PowerStaff
from app.services import evaluations
from app.workflows import engine
from app.workflows import licence as wf

CODES = [
    # kind, title, matter
    ("service", "许可受理窗口", None),
    ("service", "政务服务大厅咨询台", None),
    ("matter", "承装（修、试）电力设施许可证新申请", "power_new"),
    ("matter", "承装（修、试）电力设施许可证延续", "power_renewal"),
]
COMMENTS = {
    5: ["窗口人员解释清楚，一次办好。", "办理速度快，点赞！", ""],
    4: ["整体满意，材料清单可以再细化。", ""],
    3: ["排队时间稍长。", ""],
    2: ["咨询电话不好打通，希望增加线上答疑。"],
    1: ["多次补正材料，流程不够透明。"],
}
PREFIXES = ["139", "138", "137", "136", "135", "150", "186", "188", "177", "199"]


def _actor(user, role):
    return engine.Actor(frozenset({role}), name=user.get_full_name(), user=user)


def _rejected_join(enterprise_id, p_actor, regulator, name, rng):
    joiner = PowerStaff(enterprise_id=enterprise_id, staff_type=ELECTRICIAN, name=name,
                        id_number=_resident_id(rng), certificate_kind="low_voltage",
                        certificate_no=f"T{_resident_id(rng)}",
                        certificate_issuer="广东省应急管理厅")
    case = wf.propose_join(joiner, p_actor)
    engine.fire(case, "reject", _actor(regulator, engine.REGULATOR),
                opinion="特种作业操作证已过期，请换证后重新申请。")
    return case


def load_evaluation_demo(users: dict, orgs: dict) -> None:
    rng = random.Random(1414)
    regulator = users["reg.power"]
    now = datetime.datetime.now().replace(microsecond=0)
    codes = [evaluations.create_code(evaluations.CodeRequest(kind=kind, title=title,
                                                             matter=matter), regulator,
                                     now=now - datetime.timedelta(days=70))
             for kind, title, matter in CODES]
    levels = [5] * 8 + [4] * 5 + [3] * 3 + [2] * 2 + [1] * 2
    rng.shuffle(levels)
    for i, level in enumerate(levels):
        at = now - datetime.timedelta(days=rng.randrange(1, 60), hours=rng.randrange(0, 9),
                                      minutes=rng.randrange(0, 60))
        mobile = rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}"
        aspects = rng.sample(["attitude", "efficiency", "procedure", "guidance"],
                             rng.randrange(0, 3))
        evaluations.submit(satisfaction=level, mobile=mobile, aspects=aspects,
                           comment=rng.choice(COMMENTS[level]) or None,
                           name=rng.choice(["", "", "陈先生", "李女士", "王工"]) or None,
                           code=codes[i % len(codes)], now=at)

    # ent.p: two personnel changes refused; the first is evaluated, the second waits in the
    # to-do ("evaluate our service").
    ent_p = orgs["P"]
    p_user = users["ent.p"]
    p_actor = _actor(p_user, engine.ENTERPRISE)
    done = _rejected_join(ent_p.id, p_actor, regulator, "邝志明", rng)
    evaluations.submit(satisfaction=4, mobile="13926001234", aspects=["efficiency"],
                       comment="审查意见写得清楚，换证后再申请。", name="冯建民",
                       case=done, user=p_user)
    _rejected_join(ent_p.id, p_actor, regulator, "谭伟雄", rng)
    db.session.commit()


__all__ = ["load_evaluation_demo"]
