"""Self-inspection demo (seed 002 企业自查, SPEC P15): reg.power's 国家能源局南方监管局 has
launched this year's self-inspection of licensed installation, repair and testing
enterprises; ent.p (licensed) finds it in its to-do with two answers already drafted; ent.q
(no licence yet) did not receive it."""

from __future__ import annotations

import datetime

from app.extensions import db
from app.models.campaign import DRAFT, InspectionReturn
from app.services import campaigns

QUESTIONS = {
    "code": "power_self_inspection",
    "fields": [
        {"key": "safety_system", "type": "boolean", "required": True,
         "label": {"zh": "安全生产责任制是否落实", "en": "Is the work-safety responsibility "
                   "system in place?"},
         "help": {"zh": "主要负责人、安全负责人及各岗位安全职责是否书面明确并落实。",
                  "en": "Safety duties of the principal, the safety lead and every post set "
                        "down in writing and applied."}},
        {"key": "training_count", "type": "integer", "required": True, "min": 0, "max": 365,
         "unit": {"zh": "次", "en": "times"},
         "label": {"zh": "本年度安全培训次数", "en": "Safety trainings held this year"}},
        {"key": "certified_rate", "type": "number", "places": 1, "required": True, "min": 0,
         "max": 100, "unit": "%",
         "label": {"zh": "特种作业人员持证上岗率", "en": "Special-work staff certified"}},
        {"key": "licence_items", "type": "choice", "required": True,
         "label": {"zh": "许可证登记事项是否发生变化", "en": "Have the licence's registered items "
                   "changed?"},
         "options": [
             {"value": "unchanged", "label": {"zh": "无变化", "en": "No change"}},
             {"value": "changed_filed", "label": {"zh": "有变化，已申请变更",
                                                  "en": "Changed, change applied for"}},
             {"value": "changed_not_filed", "label": {"zh": "有变化，尚未申请变更",
                                                      "en": "Changed, not yet applied for"}},
         ]},
        {"key": "accident", "type": "boolean", "required": True,
         "label": {"zh": "本年度是否发生电力安全事故", "en": "Any power-safety accident this "
                   "year?"}},
        {"key": "accident_detail", "type": "textarea", "max_length": 2000,
         "label": {"zh": "事故情况及处理结果", "en": "The accident and how it was handled"},
         "help": {"zh": "发生事故的须填写。", "en": "Required if there was an accident."}},
        {"key": "problems", "type": "textarea", "required": True, "max_length": 2000,
         "label": {"zh": "存在问题及整改措施", "en": "Problems found and corrective measures"}},
    ],
    "rules": [
        {"rule": "required_if", "field": "accident_detail", "when": "accident",
         "equals": True},
    ],
}
ATTACHMENTS = [
    {"key": "a1", "label": "安全生产自查报告（盖章扫描件）",
     "help": "PDF 或图片，加盖企业公章。"},
    {"key": "a2", "label": "特种作业人员持证清单"},
]
INSTRUCTIONS = (
    "根据《承装（修、试）电力设施许可证管理办法》，请持证企业对照许可条件和安全生产要求开展自查，"
    "如实填写自查表并上传自查报告，在截止日期前提交。\n"
    "带“*”为必填项；资料不全的系统将提示缺失项，全部填报后方可提交。")


def load_campaign_demo(users: dict, orgs: dict) -> None:
    regulator = users["reg.power"]
    today = datetime.date.today()
    campaign = campaigns.save_campaign(None, {
        "title": f"承装修试{today.year}年自查", "year": today.year,
        "opens_on": today - datetime.timedelta(days=3),
        "due_on": today + datetime.timedelta(days=45), "instructions": INSTRUCTIONS,
        "questions": QUESTIONS, "attachments": ATTACHMENTS}, regulator)
    campaigns.launch(campaign, regulator, on=today - datetime.timedelta(days=3))
    # ent.p has started: two answers drafted, nothing uploaded (the check lists the rest).
    ret = db.session.query(InspectionReturn).filter_by(
        campaign_id=campaign.id, enterprise_id=orgs["P"].id, state=DRAFT).one()
    ret.answers = {"safety_system": True, "training_count": 6}
    db.session.commit()
