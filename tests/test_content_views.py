"""Announcements (SPEC X18): regulators and system admins manage them (a regulator only its
own authority's, others' answer 404), enterprises and auditors cannot, everyone (the public
included) browses the published ones by category with search and paging."""

from __future__ import annotations

import datetime

import pytest
from conftest import api_token, bearer, ids

from app.models.content import Announcement
from app.models.org import Authority, Sector

TODAY = datetime.date.today()


def _authority(db_session, name):
    return db_session.query(Authority).filter_by(name=name).one()


def _sector(db_session, code):
    return db_session.query(Sector).filter_by(code=code).one()


def _announce(db_session, title, *, authority="广东省交通运输厅", category="notice",
              sector="rental", days_ago=1, body="正文", pinned=False):
    auth = _authority(db_session, authority) if authority else None
    row = Announcement(
        title=title, body=body, category=category,
        sector_id=_sector(db_session, sector).id if sector else None,
        authority_id=auth.id if auth else None, publisher_name=auth.name if auth else None,
        published_on=None if days_ago is None else TODAY - datetime.timedelta(days=days_ago),
        pinned=pinned)
    db_session.add(row)
    db_session.commit()
    return row.id


def _get(db_session, pk):
    db_session.expire_all()
    return db_session.get(Announcement, pk)


FORM = {"title": "关于开展车辆备案核查的通知", "category": "notice",
        "published_on": TODAY.isoformat(), "pinned": "y",
        "body": "第一段<script>alert(1)</script>\n\n第二段 <a href=\"javascript:alert(2)\">x</a>"}


# ----- management --------------------------------------------------------------------------
def test_regulator_creates_edits_and_deletes_its_announcement(as_user, db_session):
    reg = as_user("reg.rental")
    sector = _sector(db_session, "rental").id
    r = reg.post("/manage/announcements/add", data={**FORM, "sector": str(sector)})
    assert r.status_code == 302, r.text[:2000]
    row = db_session.query(Announcement).filter_by(title=FORM["title"]).one()
    k = ids(db_session)
    assert row.authority_id == k["authorities"]["广东省交通运输厅"]
    assert row.publisher_name == "广东省交通运输厅"
    assert row.created_by_id == k["users"]["reg.rental"]
    assert row.sector_id == sector and row.pinned and row.published_on == TODAY
    assert "<script" not in row.body and "javascript:" not in row.body
    assert row.body.startswith("<p>第一段") and "<p>第二段" in row.body

    r = reg.get("/manage/announcements/list/")
    assert r.status_code == 200 and FORM["title"] in r.text
    r = reg.get(f"/manage/announcements/show/{row.id}")
    assert r.status_code == 200 and "第二段" in r.text and "alert(1)" not in r.text

    r = reg.post(f"/manage/announcements/edit/{row.id}", data={
        **FORM, "title": "关于开展车辆备案核查的通知（更正）", "sector": "", "pinned": ""})
    assert r.status_code == 302
    row = _get(db_session, row.id)
    assert row.title.endswith("（更正）") and row.sector_id is None and not row.pinned
    assert row.authority_id == k["authorities"]["广东省交通运输厅"]

    r = reg.post(f"/manage/announcements/delete/{row.id}")
    assert r.status_code == 302
    assert _get(db_session, row.id) is None


def test_regulator_gets_404_for_another_authoritys_announcement(app, as_user, db_session):
    pk = _announce(db_session, "二手车流通企业备案须知（商务局）", authority="广州市商务局",
                   sector="usedcar", category="policy")
    reg = as_user("reg.rental")
    assert "商务局）" not in reg.get("/manage/announcements/list/").text
    for path in (f"/manage/announcements/show/{pk}", f"/manage/announcements/edit/{pk}"):
        assert reg.get(path).status_code == 404, path
    r = reg.post(f"/manage/announcements/edit/{pk}",
                 data={**FORM, "title": "hijack", "sector": ""})
    assert r.status_code == 404
    assert reg.post(f"/manage/announcements/delete/{pk}").status_code == 404
    token = api_token(app.test_client(), "reg.rental")
    c = app.test_client()
    assert c.get(f"/api/v1/announcement/{pk}", headers=bearer(token)).status_code == 404
    r = c.put(f"/api/v1/announcement/{pk}", json={"title": "hijack"}, headers=bearer(token))
    assert r.status_code == 404
    assert c.delete(f"/api/v1/announcement/{pk}", headers=bearer(token)).status_code == 404
    r = c.get("/api/v1/announcement/?q=(page_size:100)", headers=bearer(token))
    assert r.status_code == 200 and "商务局）" not in r.text
    row = _get(db_session, pk)
    assert row is not None and row.title == "二手车流通企业备案须知（商务局）"


def test_regulator_publishes_only_for_its_sectors(app, as_user, db_session):
    usedcar = _sector(db_session, "usedcar").id
    reg = as_user("reg.rental")
    r = reg.post("/manage/announcements/add",
                 data={**FORM, "title": "越权行业公告", "sector": str(usedcar)})
    assert r.status_code == 200  # the form refuses the choice
    token = api_token(app.test_client(), "reg.rental")
    r = app.test_client().post("/api/v1/announcement/", headers=bearer(token), json={
        "title": "越权行业公告", "body": "x", "category": "notice", "sector_id": usedcar})
    assert r.status_code == 400, r.get_json()
    r = app.test_client().post("/api/v1/announcement/", headers=bearer(token), json={
        "title": "越权行业公告", "body": "x", "category": "bogus"})
    assert r.status_code == 400, r.get_json()
    assert db_session.query(Announcement).filter_by(title="越权行业公告").count() == 0


@pytest.mark.parametrize("username", ["ent.a", "auditor"])
def test_enterprises_and_auditors_cannot_manage_announcements(app, as_user, db_session,
                                                              username):
    pk = _announce(db_session, "管理权限测试公告")
    c = as_user(username)
    for path in ("/manage/announcements/list/", "/manage/announcements/add",
                 f"/manage/announcements/edit/{pk}", f"/manage/announcements/show/{pk}"):
        assert c.get(path).status_code in (302, 403), path
    r = c.post("/manage/announcements/add", data={**FORM, "title": "企业发布的公告"})
    assert r.status_code in (302, 403)
    r = c.post(f"/manage/announcements/delete/{pk}")
    assert r.status_code in (302, 403)
    token = api_token(app.test_client(), username)
    api = app.test_client()
    r = api.post("/api/v1/announcement/", headers=bearer(token),
                 json={"title": "企业发布的公告", "body": "x", "category": "notice"})
    assert r.status_code in (401, 403)
    assert api.delete(f"/api/v1/announcement/{pk}", headers=bearer(token)).status_code in (
        401, 403)
    assert db_session.query(Announcement).filter_by(title="企业发布的公告").count() == 0
    assert _get(db_session, pk) is not None


def test_system_admin_manages_every_authoritys_announcements(as_user, db_session):
    pk = _announce(db_session, "商务局公告（管理员可改）", authority="广州市商务局",
                   sector="usedcar")
    admin = as_user("admin")
    assert "商务局公告（管理员可改）" in admin.get("/manage/announcements/list/").text
    r = admin.post(f"/manage/announcements/edit/{pk}", data={
        **FORM, "title": "商务局公告（已修订）",
        "sector": str(_sector(db_session, "usedcar").id)})
    assert r.status_code == 302
    row = _get(db_session, pk)
    assert row.title == "商务局公告（已修订）" and row.publisher_name == "广州市商务局"
    r = admin.post("/manage/announcements/add", data={**FORM, "title": "平台公告", "sector": ""})
    assert r.status_code == 302
    row = db_session.query(Announcement).filter_by(title="平台公告").one()
    assert row.authority_id is None and row.publisher_name is None


def test_regulator_manages_announcements_through_the_api(app, db_session):
    token = api_token(app.test_client(), "reg.rental")
    c = app.test_client()
    rental = _sector(db_session, "rental").id
    r = c.post("/api/v1/announcement/", headers=bearer(token), json={
        "title": "API 发布的通知", "body": "<p onclick='x()'>内容</p><script>1</script>",
        "category": "guide", "sector_id": rental, "published_on": TODAY.isoformat()})
    assert r.status_code == 201, r.get_json()
    pk = r.get_json()["id"]
    row = _get(db_session, pk)
    assert row.body == "<p>内容</p>" and row.publisher_name == "广东省交通运输厅"
    r = c.put(f"/api/v1/announcement/{pk}", headers=bearer(token),
              json={"title": "API 发布的通知（改）", "pinned": True})
    assert r.status_code == 200, r.get_json()
    r = c.get(f"/api/v1/announcement/{pk}", headers=bearer(token))
    assert r.get_json()["result"]["title"] == "API 发布的通知（改）"
    assert r.get_json()["result"]["pinned"] is True
    assert c.delete(f"/api/v1/announcement/{pk}", headers=bearer(token)).status_code == 200
    assert _get(db_session, pk) is None


# ----- reading: everyone, the public included ---------------------------------------------
def test_public_browses_published_announcements_only(client, db_session):
    live = _announce(db_session, "已发布的租赁通知", body="关于押金退还的说明")
    draft = _announce(db_session, "尚未发布的草稿通知", days_ago=None)
    future = _announce(db_session, "定时发布的通知", days_ago=-3)
    r = client.get("/announcements/")
    assert r.status_code == 200
    assert "已发布的租赁通知" in r.text
    assert "尚未发布的草稿通知" not in r.text and "定时发布的通知" not in r.text
    assert client.get(f"/announcements/{live}").status_code == 200
    assert client.get(f"/announcements/{draft}").status_code == 404
    assert client.get(f"/announcements/{future}").status_code == 404
    assert client.get("/announcements/999999").status_code == 404
    r = client.get(f"/announcements/{live}")
    assert "关于押金退还的说明" in r.text and "广东省交通运输厅" in r.text


def test_public_search_by_words_category_and_sector(client, db_session):
    _announce(db_session, "押金管理专项通知甲", body="分时租赁押金", category="notice")
    _announce(db_session, "车辆年检提醒乙", body="请按期办理押金以外的事项", category="guide")
    _announce(db_session, "二手车备案丙", body="押金", category="notice", sector="usedcar",
              authority="广州市商务局")
    _announce(db_session, "全行业押金公告丁", body="押金", category="notice", sector=None,
              authority=None)
    r = client.get("/announcements/?q=押金")
    assert all(t in r.text for t in ("押金管理专项通知甲", "车辆年检提醒乙", "二手车备案丙",
                                     "全行业押金公告丁"))
    r = client.get("/announcements/?q=押金+分时")  # every word must match
    assert "押金管理专项通知甲" in r.text and "车辆年检提醒乙" not in r.text
    r = client.get("/announcements/?q=押金&category=guide")
    assert "车辆年检提醒乙" in r.text and "押金管理专项通知甲" not in r.text
    r = client.get("/announcements/?q=押金&sector=usedcar")
    assert "二手车备案丙" in r.text and "全行业押金公告丁" in r.text
    assert "押金管理专项通知甲" not in r.text
    r = client.get("/announcements/?q=100%25_")  # LIKE wildcards are literal
    assert "押金管理专项通知甲" not in r.text and r.status_code == 200
    r = client.get("/announcements/?category=nonsense&sector=nonsense&page=abc")
    assert r.status_code == 200

    r = client.get("/api/v1/public/announcements/?q=押金&category=notice&sector=rental")
    data = r.get_json()
    titles = {a["title"] for a in data["result"]}
    assert {"押金管理专项通知甲", "全行业押金公告丁"} <= titles
    assert "二手车备案丙" not in titles and "车辆年检提醒乙" not in titles
    pk = next(a["id"] for a in data["result"] if a["title"] == "押金管理专项通知甲")
    r = client.get(f"/api/v1/public/announcements/{pk}")
    assert r.status_code == 200 and r.get_json()["result"]["body"] == "<p>分时租赁押金</p>"


def test_public_list_pages_and_pins(client, db_session):
    for i in range(17):
        _announce(db_session, f"分页测试公告{i:02d}", category="news", days_ago=i + 1)
    pinned = _announce(db_session, "置顶的分页测试公告", category="news", days_ago=90,
                       pinned=True)
    r = client.get("/announcements/?category=news&q=分页测试")
    page1 = r.text
    assert "置顶的分页测试公告" in page1 and "分页测试公告00" in page1
    assert page1.index("置顶的分页测试公告") < page1.index("分页测试公告00")
    assert "分页测试公告16" not in page1 and "announcement-pager" in page1
    r = client.get("/announcements/?category=news&q=分页测试&page=2")
    assert "分页测试公告16" in r.text and "分页测试公告00" not in r.text
    r = client.get("/announcements/?category=news&q=分页测试&page=99")  # the last page
    assert "分页测试公告16" in r.text
    data = client.get("/api/v1/public/announcements/?category=news&q=分页测试").get_json()
    assert data["count"] == 18 and data["result"][0]["id"] == pinned
    assert client.get("/api/v1/public/announcements/999999").status_code == 404


def test_signed_in_users_read_announcements_too(as_user, db_session):
    pk = _announce(db_session, "企业用户可读的公告")
    for username in ("ent.a", "reg.usedcar", "auditor"):
        c = as_user(username)
        assert "企业用户可读的公告" in c.get("/announcements/").text, username
        assert c.get(f"/announcements/{pk}").status_code == 200, username
    # Publisher is shown even to users whose scope hides that authority.
    assert "广东省交通运输厅" in as_user("reg.usedcar").get(f"/announcements/{pk}").text


def test_stored_body_is_sanitised_even_when_written_directly(client, db_session):
    pk = _announce(db_session, "脚本注入测试",
                   body='<p>正文</p><img src=x onerror="alert(1)"><iframe src="//evil"></iframe>'
                        '<a href="https://www.gd.gov.cn/">链接</a>')
    row = _get(db_session, pk)
    assert "onerror" not in row.body and "iframe" not in row.body and "<img" not in row.body
    assert 'href="https://www.gd.gov.cn/"' in row.body and "noopener" in row.body
    r = client.get(f"/announcements/{pk}")
    assert "onerror" not in r.text and "链接</a>" in r.text


def test_richtext_is_idempotent_and_escapes_plain_text():
    from app.services.richtext import plain_text, to_safe_html

    for text in ("a < b & c", "第一行\n第二行\n\n第二段", "<ul><li>x</li></ul>",
                 "带<b>粗体</b>的一行\n下一行", "", "<p onmouseover=alert(1)>x</p>"):
        once = to_safe_html(text)
        assert to_safe_html(once) == once, text
    assert to_safe_html("a < b & c") == "<p>a &lt; b &amp; c</p>"
    assert to_safe_html("第一行\n第二行\n\n第二段") == "<p>第一行<br>第二行</p><p>第二段</p>"
    assert to_safe_html("<p onmouseover=alert(1)>x</p>") == "<p>x</p>"
    assert plain_text("<p>一&amp;二</p><p>三</p>") == "一&二 三"


def test_demo_content_loads_once(app, db_session):
    from app.demo_content import ANNOUNCEMENTS, load_content_demo
    from app.models.content import Notification

    before = db_session.query(Announcement).count()
    load_content_demo()
    load_content_demo()
    db_session.expire_all()
    if before == 0:
        assert db_session.query(Announcement).count() == len(ANNOUNCEMENTS)
        assert db_session.query(Notification).count() >= 3
    categories = {a.category for a in db_session.query(Announcement)}
    assert {"notice", "guide", "faq", "policy", "news"} <= categories
    c = app.test_client()
    r = c.get("/announcements/")
    assert "关于开展小微型客车租赁经营备案工作的通知" in r.text
    assert "检查计划（草案）" not in r.text  # a draft
    r = c.get("/announcements/?q=分时租赁")
    assert "分时租赁经营者暂停或终止经营公告要求" in r.text


def test_announcement_list_macro_renders_for_home_pages(app, db_session):
    from flask import render_template_string

    from app.services import announcements

    _announce(db_session, "首页嵌入测试公告", pinned=True)
    _announce(db_session, "二手车行业首页公告", sector="usedcar", authority="广州市商务局")
    with app.test_request_context("/"):
        items = announcements.latest(limit=50, sectors=["rental"])
        html = render_template_string(
            '{% from "content/_announcements.html" import announcement_list %}'
            '{{ announcement_list(items, title="通知公告", more_url="/announcements/") }}',
            items=items)
    assert "首页嵌入测试公告" in html and "二手车行业首页公告" not in html
    assert 'href="/announcements/' in html


def test_regulator_exports_only_its_authoritys_announcements(as_user, db_session):
    import io

    from openpyxl import load_workbook

    _announce(db_session, "本厅导出的公告")
    _announce(db_session, "商务局不应导出的公告", authority="广州市商务局", sector="usedcar")
    r = as_user("reg.rental").get("/manage/announcements/export/")
    assert r.status_code == 200
    cells = [str(c.value) for row in load_workbook(io.BytesIO(r.data)).active.iter_rows()
             for c in row]
    assert "本厅导出的公告" in cells and "商务局不应导出的公告" not in cells


def test_anonymous_sees_the_announcements_menu_only(client):
    page = client.get("/announcements/").text
    assert 'href="/announcements/"' in page
    assert "/manage/announcements/" not in page and "/inbox/" not in page
    assert client.get("/manage/announcements/list/").status_code == 302
