"""Inbox (SPEC X15): to-do, submitted and processed cases in the user's scope, and per-user
notifications (another user's id answers 404; mark-read is a POST with CSRF)."""

from __future__ import annotations

import datetime
import itertools
import re

import pytest
from conftest import api_token, bearer, clear_demo_cases, csrf_token_from, ids

from app.models.content import Notification
from app.models.workflow import Application

TODAY = datetime.date.today()
NOW = datetime.datetime.now()
_seq = itertools.count(1)



@pytest.fixture(autouse=True)
def _no_demo_cases(app, db_session):
    """These tests count exactly the cases they make: start without the demo's."""
    clear_demo_cases(db_session, notifications=True)


def make_case(db_session, enterprise_id, state, title, *, deadline_days=None,
              submitted_days_ago=1, decided_days_ago=None, commit=True):
    """A case row written directly (the workflow engine is not needed to list cases)."""
    n = next(_seq)
    row = Application(
        reference=f"T{NOW:%y%m%d}{n:06d}", kind="test_case", title=title, payload={},
        state=state, enterprise_id=enterprise_id,
        submitted_on=NOW - datetime.timedelta(days=submitted_days_ago),
        deadline=None if deadline_days is None else TODAY + datetime.timedelta(
            days=deadline_days),
        decided_on=None if decided_days_ago is None else NOW - datetime.timedelta(
            days=decided_days_ago))
    db_session.add(row)
    if commit:
        db_session.commit()
    return row.id


@pytest.fixture()
def cases(db_session):
    k = ids(db_session)
    a, b, c = k["ent_a"], k["ent_b"], k["ent_c"]
    return {
        "a_open": make_case(db_session, a, "submitted", "穗通-车辆备案-待审", deadline_days=5),
        "a_overdue": make_case(db_session, a, "submitted", "穗通-变更-已逾期",
                               deadline_days=-2, submitted_days_ago=30),
        "a_returned": make_case(db_session, a, "returned", "穗通-车辆备案-退回补正"),
        "a_approved": make_case(db_session, a, "approved", "穗通-经营备案-已通过",
                                decided_days_ago=3),
        "a_rejected": make_case(db_session, a, "rejected", "穗通-车辆报废-不予通过",
                                decided_days_ago=1),
        "b_open": make_case(db_session, b, "submitted", "鹏程-车辆备案-待审", deadline_days=1),
        "b_returned": make_case(db_session, b, "returned", "鹏程-变更-退回补正"),
        "b_approved": make_case(db_session, b, "approved", "鹏程-经营备案-已通过",
                                decided_days_ago=2),
        "c_open": make_case(db_session, c, "submitted", "羊城-二手车备案-待审", deadline_days=3),
    }


def _section(html: str, section_id: str) -> str:
    start = html.index(f'id="{section_id}"')
    end = html.find('class="panel panel-default inbox-panel"', start + 1)
    return html[start:end if end > 0 else len(html)]


def _titles(items):
    return [i["title"] for i in items]


def test_enterprise_inbox_shows_its_own_cases_in_the_right_lists(as_user, cases):
    page = as_user("ent.a").get("/inbox/").text
    todo, submitted, processed = (_section(page, s) for s in (
        "inbox-todo", "inbox-submitted", "inbox-processed"))
    assert "穗通-车辆备案-退回补正" in todo and "穗通-车辆备案-待审" not in todo
    assert "穗通-车辆备案-待审" in submitted and "穗通-变更-已逾期" in submitted
    assert "穗通-经营备案-已通过" in processed and "穗通-车辆报废-不予通过" in processed
    assert "鹏程" not in page and "羊城" not in page
    assert f'href="/applications/show/{cases["a_returned"]}"' in todo


def test_inbox_api_lists_for_enterprises(app, cases):
    c = app.test_client()
    data = c.get("/api/v1/inbox/", headers=bearer(api_token(c, "ent.b"))).get_json()
    assert _titles(data["todo"]) == ["鹏程-变更-退回补正"]
    assert _titles(data["submitted"]) == ["鹏程-车辆备案-待审"]
    assert _titles(data["processed"]) == ["鹏程-经营备案-已通过"]
    assert data["counts"]["todo"] == 1 and data["counts"]["submitted"] == 1
    data = c.get("/api/v1/inbox/", headers=bearer(api_token(c, "ent.a"))).get_json()
    # Latest submission first; latest decision first.
    assert _titles(data["submitted"]) == ["穗通-车辆备案-待审", "穗通-变更-已逾期"]
    assert _titles(data["processed"]) == ["穗通-车辆报废-不予通过", "穗通-经营备案-已通过"]
    assert data["submitted"][0]["url"] == f"/applications/show/{cases['a_open']}"
    assert data["counts"] == {"todo": 1, "overdue": 1, "submitted": 2, "returned": 1,
                              "processed": 2, "unread": data["counts"]["unread"]}


def test_regulator_todo_is_its_jurisdictions_queue_by_deadline(app, as_user, cases):
    c = app.test_client()
    data = c.get("/api/v1/inbox/", headers=bearer(api_token(c, "reg.rental"))).get_json()
    # A and B (rental, Guangdong), not C (used cars); overdue first, then by deadline.
    assert _titles(data["todo"]) == ["穗通-变更-已逾期", "鹏程-车辆备案-待审",
                                     "穗通-车辆备案-待审"]
    assert [t["overdue"] for t in data["todo"]] == [True, False, False]
    assert data["counts"]["todo"] == 3 and data["counts"]["overdue"] == 1
    assert "羊城-二手车备案-待审" not in str(data)
    page = as_user("reg.rental").get("/inbox/").text
    todo = _section(page, "inbox-todo")
    assert todo.index("穗通-变更-已逾期") < todo.index("鹏程-车辆备案-待审")
    overdue_row = re.search(r'<tr class="inbox-case danger" data-case="(\d+)"', todo)
    assert overdue_row and int(overdue_row.group(1)) == cases["a_overdue"]
    assert 'id="inbox-submitted"' not in page  # the queue is the reviewer's to-do
    assert "鹏程-经营备案-已通过" in _section(page, "inbox-processed")


def test_regulator_of_another_sector_sees_only_its_cases(app, cases):
    c = app.test_client()
    data = c.get("/api/v1/inbox/", headers=bearer(api_token(c, "reg.usedcar"))).get_json()
    assert _titles(data["todo"]) == ["羊城-二手车备案-待审"]
    assert data["processed"] == []


def test_auditor_has_no_review_todo_but_sees_its_scope(app, cases):
    c = app.test_client()
    data = c.get("/api/v1/inbox/", headers=bearer(api_token(c, "auditor"))).get_json()
    assert data["todo"] == []
    assert "羊城-二手车备案-待审" in _titles(data["submitted"])


def test_anonymous_has_no_inbox(client):
    r = client.get("/inbox/")
    assert r.status_code == 302 and "/login/" in r.location
    assert client.get("/api/v1/inbox/").status_code == 401
    assert client.post("/inbox/notifications/read-all").status_code == 302


# ----- notifications ------------------------------------------------------------------------
def _notify(app, username, title, link="/inbox/"):
    from app.extensions import db
    from app.services.notify import notify

    with app.app_context():
        uid = ids(db.session)["users"][username]
        notify(uid, title, f"{title} 正文", link)
        db.session.commit()
        nid = db.session.query(Notification.id).filter_by(user_id=uid, title=title).scalar()
        db.session.remove()
    return nid


def test_notifications_are_per_user(app, as_user, db_session):
    own = _notify(app, "ent.a", "穗通的通知")
    other = _notify(app, "ent.b", "鹏程的通知")
    a = as_user("ent.a")
    page = a.get("/inbox/").text
    assert "穗通的通知" in page and "鹏程的通知" not in page
    assert 'id="navbar-unread"' in page
    # Another user's notification: 404 on the page route and on the API, unchanged.
    assert a.post(f"/inbox/notifications/{other}/read").status_code == 404
    c = app.test_client()
    token = api_token(c, "ent.a")
    r = c.post(f"/api/v1/inbox/notifications/{other}/read", headers=bearer(token))
    assert r.status_code == 404
    data = c.get("/api/v1/inbox/", headers=bearer(token)).get_json()
    assert "鹏程的通知" not in str(data)
    db_session.expire_all()
    assert db_session.get(Notification, other).read_on is None
    # Own notification: marked read.
    r = a.post(f"/inbox/notifications/{own}/read")
    assert r.status_code == 302 and r.location.endswith("/inbox/#notices")
    db_session.expire_all()
    assert db_session.get(Notification, own).read_on is not None
    # "Read all" touches only the user's own.
    _notify(app, "ent.a", "穗通的第二条通知")
    r = c.post("/api/v1/inbox/notifications/read-all", headers=bearer(token))
    assert r.status_code == 200 and r.get_json()["count"] == 1
    db_session.expire_all()
    assert db_session.get(Notification, other).read_on is None
    assert 'id="navbar-unread"' not in a.get("/inbox/").text


def test_open_marks_read_and_follows_the_link(app, as_user, db_session):
    nid = _notify(app, "ent.a", "案件已通过", link="/applications/show/42")
    r = as_user("ent.a").post(f"/inbox/notifications/{nid}/read", data={"go": "1"})
    assert r.status_code == 302 and r.location.endswith("/applications/show/42")
    db_session.expire_all()
    assert db_session.get(Notification, nid).read_on is not None


def test_mark_read_needs_a_csrf_token(app, as_user, db_session):
    nid = _notify(app, "ent.a", "需要令牌的通知")
    a = as_user("ent.a")
    app.config["WTF_CSRF_ENABLED"] = True
    r = a.post(f"/inbox/notifications/{nid}/read")
    assert r.status_code == 400
    db_session.expire_all()
    assert db_session.get(Notification, nid).read_on is None
    token = csrf_token_from(a.get("/inbox/").text)
    r = a.post(f"/inbox/notifications/{nid}/read", data={"csrf_token": token})
    assert r.status_code == 302
    db_session.expire_all()
    assert db_session.get(Notification, nid).read_on is not None


def test_notify_reaches_the_enterprise_and_its_regulators(app, db_session):
    """Called inside a regulator's request (whose scope hides enterprise users)."""
    from flask import g

    from app.extensions import db
    from app.models.identity import AppUser
    from app.services import notify

    k = ids(db_session)
    with app.test_request_context("/"):
        g.user = db.session.get(AppUser, k["users"]["reg.rental"])
        assert notify.notify_enterprise(k["ent_a"], "备案已通过", "意见：同意",
                                        "/applications/show/1") == 1
        assert notify.notify_regulators(k["ent_a"], "新的备案申请") == 1
        assert notify.notify_regulators(k["ent_c"], "新的二手车备案") == 1
        db.session.commit()
    db_session.expire_all()
    got = {(n.user_id, n.title) for n in db_session.query(Notification)}
    assert (k["users"]["ent.a"], "备案已通过") in got
    assert (k["users"]["reg.rental"], "新的备案申请") in got
    assert (k["users"]["reg.usedcar"], "新的二手车备案") in got
    assert not any(uid in (k["users"]["ent.b"], k["users"]["auditor"]) for uid, _ in got)


def test_notify_refuses_links_outside_the_portal(app):
    from app.services.notify import NotificationLinkError, check_link

    assert check_link("/applications/show/3") == "/applications/show/3"
    assert check_link(None) is None
    for bad in ("https://evil.example/", "//evil.example/", "javascript:alert(1)",
                "/\\evil.example", "/x\r\nSet-Cookie: a=b"):
        with pytest.raises(NotificationLinkError):
            check_link(bad)


def test_inbox_macros_render_for_embedding(app, as_user, cases):
    """The rental home page embeds "my submitted / processed items" with these macros."""
    from flask import g, render_template_string

    from app.extensions import db
    from app.models.identity import AppUser
    from app.services import inbox

    with app.test_request_context("/"):
        g.user = db.session.query(AppUser).filter_by(username="ent.a").one()
        html = render_template_string(
            '{% from "inbox/_lists.html" import case_list %}'
            '{{ case_list(submitted, "我的已提交事项", "home-submitted", show_enterprise=False) }}'
            '{{ case_list(processed, "我的已办结事项", "home-processed", date="decided") }}',
            submitted=inbox.submitted_items(5), processed=inbox.processed_items(5))
    assert "穗通-变更-已逾期" in html and "inbox-overdue" in html
    assert "穗通-经营备案-已通过" in _section(html, "home-processed")
    assert "鹏程" not in html


def test_openapi_lists_the_content_apis(app):
    c = app.test_client()
    spec = c.get("/api/v1/_openapi", headers=bearer(api_token(c, "reg.rental"))).get_json()
    for path in ("/api/v1/announcement/", "/api/v1/public/announcements/", "/api/v1/inbox/",
                 "/api/v1/inbox/notifications/{pk}/read", "/api/v1/dashboard/"):
        assert path in spec["paths"], path
