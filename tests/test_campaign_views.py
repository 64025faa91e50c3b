"""Self-inspection campaigns (SPEC P15): the authority's editor, preview, launch (once, to the
licensed enterprises of its jurisdiction), tracking and exports; the enterprise's to-do, fill
page (draft, files, every missing item listed, late submission refused, read-only after
submission); review (accept, return -> resubmit); the REST resources; gating and tenancy."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from conftest import api_token, bearer
from openpyxl import load_workbook

from app.models.campaign import (
    ACCEPTED,
    DRAFT,
    LAUNCHED,
    RETURNED,
    SUBMITTED,
    InspectionCampaign,
    InspectionReturn,
    InspectionReturnFile,
)
from app.models.content import Notification
from app.models.identity import AppUser
from app.models.org import Enterprise

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# An executable renamed to .pdf: refused by its content.
DISGUISED = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64

P_NAME = "广东粤电建设工程有限公司"
Q_NAME = "广州南沙明珠电力工程有限公司"

COMPLETE = {"f-safety_system": "1", "f-training_count": "6", "f-certified_rate": "98.5",
            "f-licence_items": "unchanged", "f-accident": "0",
            "f-problems": "部分班组安全交底记录不全，已于本月补齐。"}


@pytest.fixture()
def demo(db_session):
    campaign = db_session.query(InspectionCampaign).one()
    ents = {e.name: e.id for e in db_session.query(Enterprise)}
    ret = db_session.query(InspectionReturn).filter_by(campaign_id=campaign.id).one()
    return {"campaign": campaign.id, "return": ret.id, "p": ents[P_NAME], "q": ents[Q_NAME],
            "title": campaign.title, "due": campaign.due_on}


def zh(app, msgid: str, **kwargs) -> str:
    """A UI string as the (default Chinese) UI shows it: the translation once the catalog
    has it, the English msgid before."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("zh"):
        return gettext(msgid, **kwargs)


def _files(**slots):
    return {f"file-{slot}": (io.BytesIO(data), name) for slot, (data, name) in slots.items()}


def _fill(client, pk, data, files=None, action="save"):
    body = {**data, "action": action, **(files or {})}
    return client.post(f"/power/self-inspections/fill/{pk}", data=body,
                       content_type="multipart/form-data")


def _complete(client, pk):
    return _fill(client, pk, COMPLETE, _files(a1=(PDF, "自查报告.pdf"), a2=(PDF, "持证清单.pdf")),
                 action="submit")


def _set(db_session, model, pk, **values):
    db_session.query(model).filter_by(id=pk).update(values)
    db_session.commit()


def _sheet(resp):
    wb = load_workbook(io.BytesIO(resp.data))
    return [[c.value for c in row] for row in wb.active.iter_rows()]


def _editor_form(title="承装修试2027年自查", **extra):
    data = {"title": title, "year": "2027", "opens_on": "", "due_on": "2099-12-31",
            "instructions": "请如实填写。",
            "q-1-key": "", "q-1-label": "安全生产责任制是否落实", "q-1-type": "boolean",
            "q-1-required": "1",
            "q-2-key": "", "q-2-label": "本年度安全培训次数", "q-2-type": "integer",
            "q-2-required": "1", "q-2-unit": "次", "q-2-min": "0",
            "q-3-key": "", "q-3-label": "特种作业人员持证上岗率", "q-3-type": "number",
            "q-3-required": "1", "q-3-unit": "%", "q-3-min": "0", "q-3-max": "100",
            "q-3-places": "1",
            "q-4-key": "", "q-4-label": "企业规模", "q-4-type": "choice",
            "q-4-options": "大型\n中型；小型",
            "q-5-key": "", "q-5-label": "存在问题及整改措施", "q-5-type": "textarea",
            "q-5-required": "1",
            "a-1-key": "", "a-1-label": "自查报告", "a-1-help": "盖章扫描件",
            "a-2-key": "", "a-2-label": "持证清单"}
    data.update(extra)
    return data


# ----- the demo and the to-do ------------------------------------------------------------------
def test_demo_campaign_is_launched_to_licensed_enterprises_only(db_session, demo):
    campaign = db_session.get(InspectionCampaign, demo["campaign"])
    assert campaign.state == LAUNCHED and len(campaign.questions["fields"]) == 7
    assert [s["label"] for s in campaign.attachments] == ["安全生产自查报告（盖章扫描件）",
                                                          "特种作业人员持证清单"]
    returns = db_session.query(InspectionReturn).all()
    assert [r.enterprise_id for r in returns] == [demo["p"]]  # ent.q holds no licence


def test_campaign_appears_in_the_enterprise_todo(app, as_user, demo):
    p = as_user("ent.p")
    r = p.get("/inbox/")
    assert r.status_code == 200
    prefix = zh(app, "Power-facility self-inspection")  # 承装（修、试）类自查
    assert f"[{prefix}] {demo['title']}" in r.text
    assert f"/power/self-inspections/fill/{demo['return']}" in r.text
    assert demo["due"].isoformat() in r.text
    api = p.get("/api/v1/inbox/", headers=bearer(api_token(p, "ent.p")))
    todos = [t for t in api.get_json()["other_todos"] if t["kind"] == "self_inspection"]
    assert todos and todos[0]["due"] == demo["due"].isoformat()
    for other in ("ent.q", "ent.a"):
        assert demo["title"] not in as_user(other).get("/inbox/").text


def test_authority_todo_lists_returns_to_review(app, as_user, demo):
    p = as_user("ent.p")
    assert _complete(p, demo["return"]).status_code == 302
    r = as_user("reg.power").get("/inbox/")
    assert f"/power/campaigns/tracking/{demo['campaign']}" in r.text
    assert zh(app, "%(title)s: %(count)d to review", title=demo["title"], count=1) in r.text
    # Not for another sector's regulator, nor for the auditor (no campaign of its own).
    for username in ("reg.rental", "auditor"):
        assert f"/power/campaigns/tracking/{demo['campaign']}" not in as_user(
            username).get("/inbox/").text


# ----- the authority's pages -------------------------------------------------------------------
def test_authority_pages(app, as_user, demo):
    c = as_user("reg.power")
    cid = demo["campaign"]
    r = c.get("/power/campaigns/list/")
    assert r.status_code == 200 and demo["title"] in r.text
    r = c.get(f"/power/campaigns/show/{cid}")
    assert r.status_code == 200
    assert "特种作业人员持证上岗率" in r.text and "特种作业人员持证清单" in r.text
    assert 'id="campaign-launch"' not in r.text and 'id="campaign-edit"' not in r.text
    assert 'id="campaign-close"' in r.text
    r = c.get(f"/power/campaigns/preview/{cid}")
    assert r.status_code == 200
    assert 'name="f-certified_rate"' in r.text and ">%</span>" in r.text
    assert re.search(r"安全生产责任制是否落实\s*<span class=\"req\"", r.text)
    assert "本年度安全培训次数" in r.text and "次" in r.text
    r = c.get(f"/power/campaigns/tracking/{cid}")
    assert r.status_code == 200 and P_NAME in r.text and Q_NAME not in r.text
    r = c.get("/power/self-inspections/list/")
    assert r.status_code == 200 and P_NAME in r.text
    r = c.get(f"/power/campaigns/tracking/{cid}/missing")
    assert r.status_code == 200
    rows = _sheet(r)
    assert rows[0][0] == zh(app, "Enterprise")
    assert [row[0] for row in rows[1:]] == [P_NAME]
    r = c.get("/power/campaigns/export/")
    assert r.status_code == 200 and any(demo["title"] in str(v) for row in _sheet(r) for v in row)


def test_export_flattens_answers_to_columns(as_user, demo):
    p = as_user("ent.p")
    assert _complete(p, demo["return"]).status_code == 302
    r = as_user("reg.power").get(f"/power/campaigns/tracking/{demo['campaign']}/export")
    assert r.status_code == 200
    rows = _sheet(r)
    headers = rows[0]
    assert "特种作业人员持证上岗率（%）" in headers and "本年度安全培训次数（次）" in headers
    assert "安全生产自查报告（盖章扫描件）" in headers
    row = dict(zip(headers, rows[1], strict=True))
    assert row["本年度安全培训次数（次）"] == 6
    assert row["特种作业人员持证上岗率（%）"] == 98.5
    assert row["安全生产责任制是否落实"] == "是"
    assert row["许可证登记事项是否发生变化"] == "无变化"
    assert row["安全生产自查报告（盖章扫描件）"] == "自查报告.pdf"


def test_campaign_pages_refused_to_others(app, as_user, client, demo):
    cid = demo["campaign"]
    paths = ["/power/campaigns/list/", f"/power/campaigns/show/{cid}",
             f"/power/campaigns/preview/{cid}", f"/power/campaigns/tracking/{cid}",
             f"/power/campaigns/tracking/{cid}/missing", f"/power/campaigns/tracking/{cid}/export",
             f"/power/campaigns/edit/{cid}", "/power/campaigns/add", "/power/campaigns/export/"]
    for username in ("ent.p", "ent.q", "ent.a"):
        c = as_user(username)
        for path in paths:
            assert c.get(path).status_code in (302, 403), (username, path)
        assert c.post(f"/power/campaigns/launch/{cid}").status_code in (302, 403)
    # Another sector's regulator holds the permission but not the campaign: 404.
    c = as_user("reg.rental")
    assert demo["title"] not in c.get("/power/campaigns/list/").text
    for path in paths[1:7]:
        assert c.get(path).status_code == 404, path
    assert c.post(f"/power/campaigns/close/{cid}").status_code == 404
    for path in paths:
        r = client.get(path)
        assert r.status_code == 302 and "/login/" in r.location, path


def test_auditor_reads_but_changes_nothing(as_user, db_session, demo):
    c = as_user("auditor")
    cid = demo["campaign"]
    assert c.get(f"/power/campaigns/show/{cid}").status_code == 200
    assert c.get(f"/power/campaigns/tracking/{cid}").status_code == 200
    assert c.get(f"/power/self-inspections/show/{demo['return']}").status_code == 200
    assert c.post(f"/power/campaigns/close/{cid}").status_code in (302, 403)
    assert c.post(f"/power/self-inspections/review/{demo['return']}",
                  data={"decision": "accept"}).status_code in (302, 403)
    db_session.expire_all()
    assert db_session.get(InspectionCampaign, cid).state == LAUNCHED


# ----- the editor ------------------------------------------------------------------------------
def test_editor_builds_a_definition_from_rows(as_user, db_session):
    c = as_user("reg.power")
    r = c.get("/power/campaigns/add")
    assert r.status_code == 200 and 'id="question-template"' in r.text
    r = c.post("/power/campaigns/add", data=_editor_form())
    assert r.status_code == 302, r.text[:2000]
    campaign = db_session.query(InspectionCampaign).filter_by(title="承装修试2027年自查").one()
    assert campaign.state == DRAFT and campaign.year == 2027
    fields = {f["key"]: f for f in campaign.questions["fields"]}
    assert list(fields) == ["q1", "q2", "q3", "q4", "q5"]
    assert fields["q1"] == {"key": "q1", "type": "boolean", "label": "安全生产责任制是否落实",
                            "required": True}
    assert fields["q2"]["unit"] == "次" and fields["q2"]["min"] == 0
    assert fields["q3"]["places"] == 1 and fields["q3"]["max"] == "100"
    assert [o["value"] for o in fields["q4"]["options"]] == ["大型", "中型", "小型"]
    assert fields["q4"]["required"] is False
    assert campaign.attachments == [{"key": "a1", "label": "自查报告", "help": "盖章扫描件"},
                                    {"key": "a2", "label": "持证清单"}]
    # Edit: a row removed, one added; keys stay with their questions.
    form = _editor_form(title="承装修试2027年自查（修订）", **{
        "q-1-key": "q1", "q-2-key": "q2", "q-3-key": "q3", "q-5-key": "q5",
        "q-4-label": "", "q-4-options": "", "q-4-type": "text",
        "q-9-key": "", "q-9-label": "新增问题", "q-9-type": "date"})
    r = c.post(f"/power/campaigns/edit/{campaign.id}", data=form)
    assert r.status_code == 302
    db_session.expire_all()
    campaign = db_session.get(InspectionCampaign, campaign.id)
    assert [f["key"] for f in campaign.questions["fields"]] == ["q1", "q2", "q3", "q5", "q4"]
    assert campaign.questions["fields"][-1]["type"] == "date"
    r = c.get(f"/power/campaigns/edit/{campaign.id}")
    assert r.status_code == 200 and "新增问题" in r.text


def test_editor_refuses_bad_rows_with_every_problem(app, as_user, db_session):
    c = as_user("reg.power")
    before = db_session.query(InspectionCampaign).count()
    form = _editor_form(title="", year="19", due_on="2026-02-30", **{
        "q-2-type": "eval", "q-4-options": "", "q-3-places": "x", "q-1-min": "3",
        "a-2-label": "自查报告"})
    r = c.post("/power/campaigns/add", data=form)
    assert r.status_code == 422
    text = r.text
    from markupsafe import escape

    known = "text, textarea, integer, number, date, choice, boolean, attachment"
    for message in (
            zh(app, "%(what)s: unknown type %(type)s (known: %(types)s).",
               what=zh(app, "Field %(key)s", key="q2"), type="eval", types=known),
            zh(app, "%(what)s: a choice needs a list of options.",
               what=zh(app, "Field %(key)s", key="q4")),
            zh(app, "Decimal places must be a whole number from 0 to 6."),
            zh(app, "%(what)s: %(name)s applies to whole numbers, numbers and dates only.",
               what=zh(app, "Field %(key)s", key="q1"), name="min"),
            zh(app, "Enter a year from %(low)d to %(high)d.", low=2000, high=2100),
            zh(app, "Enter a date as YYYY-MM-DD."),
            zh(app, "Attachment %(n)d: the name %(name)s is used twice.", n=2,
               name="自查报告")):
        assert str(escape(message)) in text, message
    assert text.count("field-error") >= 8
    assert db_session.query(InspectionCampaign).count() == before
    # Nothing at all: at least one question is asked for.
    r = c.post("/power/campaigns/add", data={"title": "x", "year": "2027",
                                             "due_on": "2099-01-01"})
    assert r.status_code == 422
    assert db_session.query(InspectionCampaign).count() == before


def test_questions_cannot_change_after_launch(as_user, db_session, demo):
    c = as_user("reg.power")
    cid = demo["campaign"]
    before = db_session.get(InspectionCampaign, cid).questions
    r = c.get(f"/power/campaigns/edit/{cid}")
    assert r.status_code == 409
    r = c.post(f"/power/campaigns/edit/{cid}", data=_editor_form())
    assert r.status_code == 409
    db_session.expire_all()
    campaign = db_session.get(InspectionCampaign, cid)
    assert campaign.questions == before and campaign.title == demo["title"]
    r = c.post(f"/power/campaigns/delete/{cid}", follow_redirects=True)
    db_session.expire_all()
    assert db_session.get(InspectionCampaign, cid) is not None


# ----- launch ----------------------------------------------------------------------------------
def test_launch_once_to_the_jurisdiction(app, as_user, db_session, demo):
    c = as_user("reg.power")
    assert c.post("/power/campaigns/add", data=_editor_form()).status_code == 302
    campaign = db_session.query(InspectionCampaign).filter_by(state=DRAFT).one()
    r = c.get(f"/power/campaigns/show/{campaign.id}")
    assert 'id="campaign-launch"' in r.text and 'id="campaign-edit"' in r.text
    # Another authority cannot launch it (it does not even see it).
    assert as_user("reg.rental").post(f"/power/campaigns/launch/{campaign.id}").status_code \
        == 404
    notices = db_session.query(Notification).count()
    r = c.post(f"/power/campaigns/launch/{campaign.id}")
    assert r.status_code == 302 and f"/power/campaigns/tracking/{campaign.id}" in r.location
    db_session.expire_all()
    campaign = db_session.get(InspectionCampaign, campaign.id)
    assert campaign.state == LAUNCHED and campaign.opens_on == datetime.date.today()
    returns = db_session.query(InspectionReturn).filter_by(campaign_id=campaign.id).all()
    assert [(r.enterprise_id, r.state) for r in returns] == [(demo["p"], DRAFT)]
    p_users = db_session.query(AppUser).filter_by(enterprise_id=demo["p"]).count()
    assert db_session.query(Notification).count() == notices + p_users
    # Twice: refused, nothing added.
    r = c.post(f"/power/campaigns/launch/{campaign.id}")
    assert r.status_code == 409
    assert zh(app, "The campaign has already been launched.") in r.text
    assert db_session.query(InspectionReturn).filter_by(campaign_id=campaign.id).count() == 1
    # And the campaign page of ent.p's new return opens the fill page.
    p = as_user("ent.p")
    r = p.get(f"/power/self-inspections/campaign/{campaign.id}")
    assert r.status_code == 302 and "/fill/" in r.location


def test_launch_refuses_a_past_due_date(as_user, db_session):
    c = as_user("reg.power")
    assert c.post("/power/campaigns/add",
                  data=_editor_form(due_on="2020-01-31")).status_code == 302
    campaign = db_session.query(InspectionCampaign).filter_by(state=DRAFT).one()
    r = c.post(f"/power/campaigns/launch/{campaign.id}")
    assert r.status_code == 422
    db_session.expire_all()
    assert db_session.get(InspectionCampaign, campaign.id).state == DRAFT


def test_draft_campaign_can_be_deleted(as_user, db_session):
    c = as_user("reg.power")
    assert c.post("/power/campaigns/add", data=_editor_form()).status_code == 302
    cid = db_session.query(InspectionCampaign).filter_by(state=DRAFT).one().id
    assert as_user("reg.rental").post(f"/power/campaigns/delete/{cid}").status_code == 404
    r = c.post(f"/power/campaigns/delete/{cid}")
    assert r.status_code == 302
    db_session.expire_all()
    assert db_session.get(InspectionCampaign, cid) is None


# ----- the enterprise: fill, missing items, submit ---------------------------------------------
def test_fill_page_renders_the_definition(as_user, demo):
    p = as_user("ent.p")
    r = p.get(f"/power/self-inspections/fill/{demo['return']}")
    assert r.status_code == 200
    assert 'name="f-training_count" value="6"' in r.text  # the demo's drafted answer
    assert 'value="1" checked' in r.text  # 安全生产责任制是否落实: yes
    assert ">%</span>" in r.text and ">次</span>" in r.text
    assert 'name="file-a1"' in r.text and 'name="file-a2"' in r.text
    assert r.text.count('class="req"') >= 7


def test_submit_lists_every_missing_item(as_user, db_session, demo):
    p = as_user("ent.p")
    r = _fill(p, demo["return"], {"f-safety_system": "1"}, action="submit")
    assert r.status_code == 422
    missing = r.text[r.text.index('id="missing-items"'):]
    missing = missing[:missing.index("</ul>")]
    for label in ("本年度安全培训次数", "特种作业人员持证上岗率", "许可证登记事项是否发生变化",
                  "本年度是否发生电力安全事故", "存在问题及整改措施",
                  "安全生产自查报告（盖章扫描件）", "特种作业人员持证清单"):
        assert label in missing, label
    assert "安全生产责任制是否落实" not in missing
    db_session.expire_all()
    ret = db_session.get(InspectionReturn, demo["return"])
    assert ret.state == DRAFT and ret.answers == {"safety_system": True}  # the draft is kept
    # An accident without its description: the cross-field rule names it.
    r = _fill(p, demo["return"], {**COMPLETE, "f-accident": "1"},
              _files(a1=(PDF, "r.pdf"), a2=(PDF, "l.pdf")), action="submit")
    assert r.status_code == 422 and "事故情况及处理结果" in r.text


def test_submit_complete_then_read_only(as_user, db_session, demo):
    p = as_user("ent.p")
    r = _complete(p, demo["return"])
    assert r.status_code == 302, r.text[:3000]
    db_session.expire_all()
    ret = db_session.get(InspectionReturn, demo["return"])
    assert ret.state == SUBMITTED and ret.submitted_on is not None
    assert ret.answers["certified_rate"] == "98.5" and ret.answers["accident"] is False
    assert sorted(f.slot for f in ret.files) == ["a1", "a2"]
    # The files: the enterprise and the regulator of its jurisdiction, nobody else.
    attachment_id = ret.files[0].attachment_id
    assert p.get(f"/attachments/{attachment_id}").data == PDF
    assert as_user("reg.power").get(f"/attachments/{attachment_id}").data == PDF
    for other in ("ent.q", "reg.rental"):
        assert as_user(other).get(f"/attachments/{attachment_id}").status_code in (403, 404)
    # Read-only until returned.
    r = p.get(f"/power/self-inspections/fill/{demo['return']}")
    assert r.status_code == 302 and "/show/" in r.location
    r = _fill(p, demo["return"], {**COMPLETE, "f-training_count": "99"})
    assert r.status_code == 409
    db_session.expire_all()
    assert db_session.get(InspectionReturn, demo["return"]).answers["training_count"] == 6
    r = p.get(f"/power/self-inspections/show/{demo['return']}")
    assert r.status_code == 200 and 'id="return-fill"' not in r.text
    assert "98.5" in r.text and "review-form" not in r.text


def test_hostile_answers(as_user, db_session, demo):
    p = as_user("ent.p")
    pk = demo["return"]
    # HTML is stored as text and escaped when shown.
    r = _fill(p, pk, {**COMPLETE, "f-problems": "<script>alert(1)</script><b>x</b>",
                      "f-bogus": "forged", "answers": "{}", "state": "accepted",
                      "enterprise_id": str(demo["q"])})
    assert r.status_code == 302
    db_session.expire_all()
    ret = db_session.get(InspectionReturn, pk)
    assert ret.answers["problems"] == "<script>alert(1)</script><b>x</b>"
    assert "bogus" not in ret.answers and ret.state == DRAFT and ret.enterprise_id == demo["p"]
    for path in (f"/power/self-inspections/show/{pk}", f"/power/self-inspections/fill/{pk}"):
        text = p.get(path).text
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    # Over-long text, wrong types, out of range: nothing saved, every error shown.
    r = _fill(p, pk, {**COMPLETE, "f-problems": "长" * 2001, "f-training_count": "abc",
                      "f-certified_rate": "101", "f-safety_system": "maybe",
                      "f-licence_items": "forged-option"})
    assert r.status_code == 422
    assert r.text.count("field-error") >= 5
    assert "2001" in r.text
    db_session.expire_all()
    assert db_session.get(InspectionReturn, pk).answers["training_count"] == 6
    # A disguised upload: refused by content, nothing stored.
    files_before = db_session.query(InspectionReturnFile).count()
    r = _fill(p, pk, COMPLETE, _files(a1=(DISGUISED, "report.pdf")))
    assert r.status_code == 422 and "report.pdf" in r.text
    assert db_session.query(InspectionReturnFile).count() == files_before
    # A forged slot is ignored.
    r = _fill(p, pk, COMPLETE, _files(zz=(PDF, "x.pdf")))
    assert r.status_code == 302
    assert db_session.query(InspectionReturnFile).count() == files_before


def test_files_can_be_removed(as_user, db_session, demo):
    p = as_user("ent.p")
    pk = demo["return"]
    assert _fill(p, pk, COMPLETE, _files(a1=(PDF, "old.pdf"))).status_code == 302
    row = db_session.query(InspectionReturnFile).filter_by(return_id=pk).one()
    r = _fill(p, pk, {**COMPLETE, "remove-file": str(row.id)})
    assert r.status_code == 302
    assert db_session.query(InspectionReturnFile).filter_by(return_id=pk).count() == 0
    # A file id of no file of this return: refused.
    r = _fill(p, pk, {**COMPLETE, "remove-file": "999999"})
    assert r.status_code == 422


def test_late_submission_refused(app, as_user, db_session, demo):
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    _set(db_session, InspectionCampaign, demo["campaign"], due_on=yesterday)
    p = as_user("ent.p")
    r = p.get(f"/power/self-inspections/fill/{demo['return']}")
    assert 'id="late-warning"' in r.text
    r = _complete(p, demo["return"])
    assert r.status_code == 422
    assert zh(app, "The due date (%(date)s) has passed: the self-inspection can no longer be "
              "submitted. Contact the authority.", date=yesterday.isoformat()) in r.text
    db_session.expire_all()
    assert db_session.get(InspectionReturn, demo["return"]).state == DRAFT


def test_not_open_yet(app, as_user, db_session, demo):
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    _set(db_session, InspectionCampaign, demo["campaign"], opens_on=tomorrow)
    p = as_user("ent.p")
    assert f"/power/self-inspections/fill/{demo['return']}" not in p.get("/inbox/").text
    r = _complete(p, demo["return"])
    assert r.status_code == 409
    assert zh(app, "The self-inspection opens on %(date)s.", date=tomorrow.isoformat()) in r.text
    db_session.expire_all()
    assert db_session.get(InspectionReturn, demo["return"]).state == DRAFT


def test_due_day_itself_is_accepted(as_user, db_session, demo):
    _set(db_session, InspectionCampaign, demo["campaign"], due_on=datetime.date.today())
    assert _complete(as_user("ent.p"), demo["return"]).status_code == 302


def test_closed_campaign_refuses_changes(as_user, db_session, demo):
    c = as_user("reg.power")
    assert c.post(f"/power/campaigns/close/{demo['campaign']}").status_code == 302
    assert c.post(f"/power/campaigns/close/{demo['campaign']}").status_code == 409
    p = as_user("ent.p")
    assert f"/power/self-inspections/fill/{demo['return']}" not in p.get("/inbox/").text
    r = _complete(p, demo["return"])
    assert r.status_code == 409
    db_session.expire_all()
    assert db_session.get(InspectionReturn, demo["return"]).state == DRAFT


# ----- review ----------------------------------------------------------------------------------
def test_return_then_resubmit_after_the_due_date_then_accept(app, as_user, db_session,
                                                           demo):
    pk = demo["return"]
    p = as_user("ent.p")
    assert _complete(p, pk).status_code == 302
    c = as_user("reg.power")
    r = c.get(f"/power/self-inspections/show/{pk}")
    assert r.status_code == 200 and 'id="review-form"' in r.text
    # Returning needs an opinion.
    r = c.post(f"/power/self-inspections/review/{pk}", data={"decision": "return",
                                                             "opinion": "  "})
    assert r.status_code == 422
    # The enterprise cannot review its own.
    assert p.post(f"/power/self-inspections/review/{pk}",
                  data={"decision": "accept"}).status_code in (302, 403)
    version = db_session.get(InspectionReturn, pk).version
    r = c.post(f"/power/self-inspections/review/{pk}",
               data={"decision": "return", "opinion": "请补充<b>培训记录</b>", "version": version})
    assert r.status_code == 302
    db_session.expire_all()
    ret = db_session.get(InspectionReturn, pk)
    assert ret.state == RETURNED and ret.opinion == "请补充<b>培训记录</b>"
    # A stale form (the version it was read at) is refused.
    r = c.post(f"/power/self-inspections/review/{pk}",
               data={"decision": "accept", "version": version})
    assert r.status_code == 409
    # Returned: editable again, even after the due date, and in the to-do.
    _set(db_session, InspectionCampaign, demo["campaign"],
         due_on=datetime.date.today() - datetime.timedelta(days=3))
    r = p.get(f"/power/self-inspections/fill/{pk}")
    assert r.status_code == 200 and "&lt;b&gt;培训记录&lt;/b&gt;" in r.text
    assert 'id="late-warning"' not in r.text
    assert zh(app, "(returned for correction)") in p.get("/inbox/").text
    r = _fill(p, pk, {**COMPLETE, "f-training_count": "8"}, action="submit")
    assert r.status_code == 302
    db_session.expire_all()
    ret = db_session.get(InspectionReturn, pk)
    assert ret.state == SUBMITTED and ret.answers["training_count"] == 8
    r = c.post(f"/power/self-inspections/review/{pk}", data={"decision": "accept"})
    assert r.status_code == 302
    db_session.expire_all()
    assert db_session.get(InspectionReturn, pk).state == ACCEPTED
    r = c.post(f"/power/self-inspections/review/{pk}", data={"decision": "accept"})
    assert r.status_code == 409


def test_review_refused_outside_the_authority(as_user, db_session, demo):
    pk = demo["return"]
    assert _complete(as_user("ent.p"), pk).status_code == 302
    r = as_user("reg.rental").post(f"/power/self-inspections/review/{pk}",
                                   data={"decision": "accept"})
    assert r.status_code == 404
    r = as_user("reg.power").post(f"/power/self-inspections/review/{pk}",
                                  data={"decision": "approve-all"})
    assert r.status_code == 422
    db_session.expire_all()
    assert db_session.get(InspectionReturn, pk).state == SUBMITTED


# ----- gating, forged ids, anonymous -----------------------------------------------------------
def test_campaign_gating_and_forged_ids(app, as_user, client, demo):
    pk, cid = demo["return"], demo["campaign"]
    for username in ("ent.q", "ent.a"):
        c = as_user(username)
        assert c.get(f"/power/self-inspections/campaign/{cid}").status_code == 404
        assert c.get(f"/power/self-inspections/show/{pk}").status_code == 404
        assert c.get(f"/power/self-inspections/fill/{pk}").status_code == 404
        assert _fill(c, pk, COMPLETE).status_code == 404
        assert P_NAME not in c.get("/power/self-inspections/list/").text
    assert as_user("reg.rental").get(f"/power/self-inspections/show/{pk}").status_code == 404
    # The regulator of the jurisdiction reads the return but never fills it.
    c = as_user("reg.power")
    assert c.get(f"/power/self-inspections/show/{pk}").status_code == 200
    assert c.get(f"/power/self-inspections/fill/{pk}").status_code in (302, 403)
    assert c.get(f"/power/self-inspections/campaign/{cid}").status_code == 302
    for path in (f"/power/self-inspections/show/{pk}", f"/power/self-inspections/fill/{pk}",
                 f"/power/self-inspections/campaign/{cid}", "/power/self-inspections/list/",
                 "/power/self-inspections/export/"):
        r = client.get(path)
        assert r.status_code == 302 and "/login/" in r.location, path
    r = client.post(f"/power/self-inspections/review/{pk}", data={"decision": "accept"})
    assert r.status_code == 302 and "/login/" in r.location


def test_return_list_and_export_in_scope(as_user, demo):
    p = as_user("ent.p")
    r = p.get("/power/self-inspections/list/")
    assert r.status_code == 200 and demo["title"] in r.text
    assert P_NAME not in as_user("ent.q").get("/power/self-inspections/list/").text
    # Enterprises read their returns; exporting is the authority's.
    assert p.get("/power/self-inspections/export/").status_code in (302, 403)
    rows = _sheet(as_user("reg.power").get("/power/self-inspections/export/"))
    assert len(rows) == 2 and rows[1][2] == P_NAME
    assert as_user("reg.rental").get("/power/self-inspections/list/").status_code == 200
    rows = _sheet(as_user("reg.rental").get("/power/self-inspections/export/"))
    assert len(rows) == 1


# ----- REST ------------------------------------------------------------------------------------
def test_rest_resources_are_scoped(app, client, demo):
    token = api_token(client, "reg.power")
    r = client.get("/api/v1/inspection_campaign/", headers=bearer(token))
    assert r.status_code == 200 and r.get_json()["count"] == 1
    r = client.get(f"/api/v1/inspection_campaign/{demo['campaign']}", headers=bearer(token))
    assert r.status_code == 200
    result = r.get_json()["result"]
    assert result["title"] == demo["title"]
    assert [f["key"] for f in result["questions"]["fields"]][:2] == ["safety_system",
                                                                     "training_count"]
    r = client.get("/api/v1/inspection_return/", headers=bearer(token))
    assert r.get_json()["count"] == 1
    # No write route: changes go through the UI's operations.
    r = client.put(f"/api/v1/inspection_return/{demo['return']}", headers=bearer(token),
                   json={"state": "accepted"})
    assert r.status_code in (404, 405)

    token = api_token(client, "ent.p")
    r = client.get("/api/v1/inspection_campaign/", headers=bearer(token))
    assert r.status_code in (401, 403)
    r = client.get(f"/api/v1/inspection_return/{demo['return']}", headers=bearer(token))
    assert r.status_code == 200 and r.get_json()["result"]["answers"]["training_count"] == 6
    r = client.post("/api/v1/inspection_return/", headers=bearer(token),
                    json={"campaign_id": demo["campaign"], "enterprise_id": demo["q"]})
    assert r.status_code in (404, 405)

    for username in ("ent.q", "ent.a"):
        token = api_token(client, username)
        r = client.get("/api/v1/inspection_return/", headers=bearer(token))
        assert r.status_code == 200 and r.get_json()["count"] == 0
        r = client.get(f"/api/v1/inspection_return/{demo['return']}", headers=bearer(token))
        assert r.status_code == 404
    token = api_token(client, "reg.rental")
    r = client.get("/api/v1/inspection_campaign/", headers=bearer(token))
    assert r.status_code == 200 and r.get_json()["count"] == 0
    r = client.get(f"/api/v1/inspection_campaign/{demo['campaign']}", headers=bearer(token))
    assert r.status_code == 404
    r = client.get(f"/api/v1/inspection_return/{demo['return']}", headers=bearer(token))
    assert r.status_code == 404
    assert client.get("/api/v1/inspection_return/").status_code == 401
    assert client.get("/api/v1/inspection_campaign/").status_code == 401


def test_menus(as_user):
    r = as_user("reg.power").get("/power/campaigns/list/")
    assert "/power/campaigns/list/" in r.text and "/power/self-inspections/list/" in r.text
    r = as_user("ent.p").get("/power/self-inspections/list/")
    assert "/power/self-inspections/list/" in r.text and "/power/campaigns/list/" not in r.text
    r = as_user("reg.rental").get("/inbox/")
    assert "/power/campaigns/list/" not in r.text
