"""Export (SPEC X11): every list view and its API export exactly the filtered rows in the
user's scope, headers in the UI language, formula injection neutralised, audited with the
filter; large exports run as a background job with progress ("my downloads")."""

from __future__ import annotations

import io

import pytest
from conftest import api_token, bearer, ids
from flask_babel import force_locale
from openpyxl import load_workbook

from app.models.audit import AuditEvent
from app.models.identity import AppUser
from app.models.job import DONE, Job
from app.services import export, jobs

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"



# reg.rental's jurisdiction in the demo data (rental, Guangdong), by name.
JURISDICTION = ["广州市云途出行汽车租赁有限公司", "广州市穗通汽车租赁有限公司",
                "广州市速达汽车租赁服务有限公司", "深圳市鹏程小客车租赁有限公司"]


def _rows(data: bytes) -> list[tuple]:
    wb = load_workbook(io.BytesIO(data))
    out = []
    for ws in wb.worksheets:
        out.extend(ws.iter_rows(values_only=True))
    return out


def _add_users(db_session, enterprise_id: int, n: int, prefix: str, **extra) -> None:
    for i in range(n):
        db_session.add(AppUser(
            username=f"{prefix}{i:03d}", first_name="名", last_name="姓",
            email=f"{prefix}{i:03d}@example.cn", active=True, enterprise_id=enterprise_id,
            must_change_password=False, **extra))
    db_session.commit()


@pytest.fixture()
def bulk(db_session):
    """40 users in enterprise A, 10 in B, all named bulk-..."""
    k = ids(db_session)
    _add_users(db_session, k["ent_a"], 40, "bulk-a-")
    _add_users(db_session, k["ent_b"], 10, "bulk-b-")
    return k


def _export_events(db_session, **kw):
    db_session.expire_all()
    return db_session.query(AuditEvent).filter_by(action="export", **kw).order_by(
        AuditEvent.id).all()


# ----- synchronous exports --------------------------------------------------------------------
def test_sync_export_is_exactly_the_filtered_rows_in_list_order(as_user, db_session, bulk):
    a = as_user("ent.a")
    r = a.get("/enterprise/users/export/?_flt_0_username=bulk-a-00")
    assert r.status_code == 200 and r.mimetype == XLSX
    rows = _rows(r.data)
    db_session.expire_all()
    expected = [u.username for u in db_session.query(AppUser).filter(
        AppUser.enterprise_id == bulk["ent_a"], AppUser.username.startswith("bulk-a-00"))
        .order_by(AppUser.username)]
    assert len(expected) == 10
    assert [row[0] for row in rows[1:]] == expected
    assert rows[1][1:5] == ("姓", "名", "bulk-a-000@example.cn", None)
    # Order arguments of the list are honoured too.
    r = a.get("/enterprise/users/export/?_flt_0_username=bulk-a-00"
              "&_oc_EnterpriseUserView=username&_od_EnterpriseUserView=desc")
    assert [row[0] for row in _rows(r.data)[1:]] == expected[::-1]
    # Without filter: all of A's users, none of B's.
    names = [row[0] for row in _rows(a.get("/enterprise/users/export/").data)[1:]]
    assert len(names) == 41 and "ent.a" in names
    assert not any(n.startswith("bulk-b-") or n == "ent.b" for n in names)


def test_authority_export_is_its_jurisdiction(as_user):
    rows = _rows(as_user("reg.rental").get("/enterprises/export/").data)
    names = [row[0] for row in rows[1:]]
    # Rental enterprises of Guangdong (A, B and the two public applicants), never the
    # used-car market C.
    assert {"广州市穗通汽车租赁有限公司", "深圳市鹏程小客车租赁有限公司"} <= set(names)
    assert "广州市羊城二手车交易市场有限公司" not in names and len(names) == 4


def test_headers_follow_the_ui_language(app, as_user):
    from app.views.identity import USER_LABELS

    columns = ["username", "last_name", "first_name", "email", "mobile", "active", "roles"]
    with app.test_request_context():
        with force_locale("zh"):
            zh = [str(USER_LABELS[c]) for c in columns]
        with force_locale("en"):
            en = [str(USER_LABELS[c]) for c in columns]
    assert zh != en and zh[0] == "用户名"
    a = as_user("ent.a")
    assert list(_rows(a.get("/enterprise/users/export/").data)[0]) == zh
    assert a.get("/lang/en").status_code == 302
    assert list(_rows(a.get("/enterprise/users/export/").data)[0]) == en
    # A background export is written in the language of the user who asked for it.
    app.config["EXPORT_SYNC_MAX_ROWS"] = 0
    try:
        r = a.get("/enterprise/users/export/")
        assert r.status_code == 302 and r.location.endswith("/jobs/")
    finally:
        app.config["EXPORT_SYNC_MAX_ROWS"] = 5000
    job = _last_job(app)
    assert list(_rows(a.get(f"/jobs/{job.id}/download").data)[0]) == en


def test_formula_injection_is_neutralised(app, as_user, db_session):
    k = ids(db_session)
    db_session.add(AppUser(username="evil", first_name="@SUM(A1:A9)", last_name="=1+2",
                           email="-2+3@example.cn", mobile="+8613800138000", active=True,
                           enterprise_id=k["ent_a"], must_change_password=False))
    db_session.commit()
    a = as_user("ent.a")
    row = next(r for r in _rows(a.get("/enterprise/users/export/").data) if r[0] == "evil")
    assert row[1:5] == ("'=1+2", "'@SUM(A1:A9)", "'-2+3@example.cn", "'+8613800138000")
    token = api_token(app.test_client(), "ent.a")
    r = a.get("/api/v1/enterprise_user/export?q=(filters:!((col:username,opr:eq,value:evil)))",
              headers=bearer(token))
    assert r.status_code == 200
    rows = _rows(r.data)
    assert len(rows) == 2 and "'=1+2" in rows[1] and "'@SUM(A1:A9)" in rows[1]
    assert export.xlsx.safe_value("\t=x") == "'\t=x"


def test_export_is_audited_with_its_filter(as_user, db_session, bulk):
    a = as_user("ent.a")
    a.get("/enterprise/users/export/?_flt_0_username=bulk-a-01")
    ev = _export_events(db_session, actor_name="ent.a")[-1]
    assert ev.target_type == "ab_user" and ev.enterprise_id == bulk["ent_a"]
    assert "_flt_0_username=bulk-a-01" in ev.detail and "用户名" in ev.detail
    assert ev.detail.startswith("10 ") and ev.ip


# ----- background exports ----------------------------------------------------------------------
def _last_job(app) -> Job:
    from app.extensions import db
    from app.models.base import unscoped

    with app.app_context(), unscoped():
        job = db.session.query(Job).order_by(Job.id.desc()).first()
        db.session.expunge_all()
        return job


@pytest.fixture()
def small_threshold(app):
    app.config["EXPORT_SYNC_MAX_ROWS"] = 5
    yield
    app.config["EXPORT_SYNC_MAX_ROWS"] = 5000


def test_large_export_runs_as_a_job_with_every_row(app, as_user, db_session, bulk,
                                                   small_threshold):
    a = as_user("ent.a")
    r = a.get("/enterprise/users/export/?_flt_0_username=bulk")
    assert r.status_code == 302 and r.location.endswith("/jobs/")
    job = _last_job(app)
    assert job.kind == "export" and job.state == DONE, job.error
    assert job.owner_id == bulk["users"]["ent.a"] and job.enterprise_id == bulk["ent_a"]
    assert (job.total, job.done, job.progress) == (40, 40, 100)
    assert job.result_name == "ab_user.xlsx" and job.result_size > 0
    # The file lives under JOB_DIR (instance/, not the web root).
    assert jobs.result_path(job).startswith(app.config["JOB_DIR"])
    page = a.get("/jobs/")
    assert page.status_code == 200 and f"/jobs/{job.id}/download" in page.text
    assert 'src="/static/js/jobs.js"' in page.text and "<progress" in page.text
    status = a.get(f"/jobs/{job.id}/status").get_json()
    assert status["state"] == "done" and status["progress"] == 100
    assert status["download_url"] == f"/jobs/{job.id}/download"
    r = a.get(f"/jobs/{job.id}/download")
    assert r.status_code == 200 and r.mimetype == XLSX
    names = [row[0] for row in _rows(r.data)[1:]]
    assert names == [f"bulk-a-{i:03d}" for i in range(40)]
    ev = _export_events(db_session, actor_name="ent.a")[-1]
    assert f"后台任务 {job.id}" in ev.detail and "_flt_0_username=bulk" in ev.detail


def test_job_export_equals_sync_export_for_the_same_arguments(app, as_user, bulk):
    a = as_user("ent.a")
    query = ("?_flt_0_username=bulk-a-00&_flt_2_email=example"
             "&_oc_EnterpriseUserView=username&_od_EnterpriseUserView=desc")
    sync = _rows(a.get("/enterprise/users/export/" + query).data)
    app.config["EXPORT_SYNC_MAX_ROWS"] = 0
    try:
        assert a.get("/enterprise/users/export/" + query).status_code == 302
    finally:
        app.config["EXPORT_SYNC_MAX_ROWS"] = 5000
    job = _last_job(app)
    assert _rows(a.get(f"/jobs/{job.id}/download").data) == sync and len(sync) == 11


def test_authority_job_export_is_scoped_like_the_request(app, as_user):
    c = as_user("reg.rental")
    app.config["EXPORT_SYNC_MAX_ROWS"] = 0
    try:
        assert c.get("/enterprises/export/").status_code == 302
    finally:
        app.config["EXPORT_SYNC_MAX_ROWS"] = 5000
    job = _last_job(app)
    names = [row[0] for row in _rows(c.get(f"/jobs/{job.id}/download").data)[1:]]
    assert names == JURISDICTION


def test_job_progress_is_recorded_while_it_runs(app, as_user, bulk, small_threshold,
                                                monkeypatch):
    writes = []
    real_write = jobs._write

    def spy(job_id, expect_state=None, **values):
        writes.append(values)
        return real_write(job_id, expect_state=expect_state, **values)

    monkeypatch.setattr(jobs, "_write", spy)
    monkeypatch.setattr(export, "CHUNK", 7)
    monkeypatch.setattr(jobs.JobContext, "interval", 0)
    assert as_user("ent.a").get("/enterprise/users/export/?_flt_0_username=bulk").status_code \
        == 302
    states = [w["state"] for w in writes if "state" in w]
    assert states == ["running", "done"]
    progress = [(w["done"], w["progress"]) for w in writes if "state" not in w]
    assert progress[0] == (0, 0) and progress[-1] == (40, 99)
    assert [d for d, _ in progress] == [0, 7, 14, 21, 28, 35, 40]
    assert all(0 < p < 100 for _, p in progress[1:])
    assert writes[-1]["progress"] == 100 and writes[-1]["done"] == 40


def test_nobody_else_sees_or_downloads_a_job(app, as_user, db_session, bulk, small_threshold):
    assert as_user("ent.a").get("/enterprise/users/export/?_flt_0_username=bulk").status_code \
        == 302
    job = _last_job(app)
    # A colleague in the same enterprise, with the same role: still not theirs.
    sm = app.appbuilder.sm
    sm.add_user("ent.a2", "陈", "二", "ent.a2@suitong.example.cn",
                sm.find_role("Enterprise Admin"), password="Enterprise#2026")
    colleague = db_session.query(AppUser).filter_by(username="ent.a2").one()
    colleague.enterprise_id = bulk["ent_a"]
    colleague.must_change_password = False
    db_session.commit()
    for username in ("ent.b", "ent.a2", "reg.rental"):
        c = as_user(username) if username != "ent.a2" else _login(app, "ent.a2")
        for path in (f"/jobs/{job.id}/status", f"/jobs/{job.id}/download"):
            assert c.get(path).status_code == 404, (username, path)
        assert c.post(f"/jobs/{job.id}/delete").status_code == 404
        assert f"/jobs/{job.id}/" not in c.get("/jobs/").text
        token = api_token(app.test_client(), username, "Enterprise#2026"
                          if username == "ent.a2" else None)
        assert c.get(f"/api/v1/job/{job.id}", headers=bearer(token)).status_code == 404
        assert c.get(f"/api/v1/job/{job.id}/download", headers=bearer(token)).status_code \
            == 404
        assert c.get("/api/v1/job/", headers=bearer(token)).get_json()["count"] == 0
    # The owner and a system admin may.
    assert as_user("ent.a").get(f"/jobs/{job.id}/download").status_code == 200
    assert as_user("admin").get(f"/jobs/{job.id}/download").status_code == 200
    assert _last_job(app).state == DONE


def _login(app, username):
    from conftest import login

    c = app.test_client()
    r = login(c, username, "Enterprise#2026")
    assert r.status_code == 302
    return c


def test_anonymous_gets_no_job_and_no_export(app, client, as_user, bulk, small_threshold):
    as_user("ent.a").get("/enterprise/users/export/?_flt_0_username=bulk")
    job = _last_job(app)
    for path in ("/jobs/", f"/jobs/{job.id}/status", f"/jobs/{job.id}/download",
                 "/enterprise/users/export/", "/enterprises/export/"):
        r = client.get(path)
        assert r.status_code == 302 and "/login/" in r.location, path
    r = client.post(f"/jobs/{job.id}/delete")
    assert r.status_code == 302 and "/login/" in r.location
    for path in (f"/api/v1/job/{job.id}", f"/api/v1/job/{job.id}/download", "/api/v1/job/",
                 "/api/v1/enterprise_user/export", "/api/v1/enterprise/export"):
        assert client.get(path).status_code == 401, path
    assert _last_job(app).state == DONE


def test_owner_removes_a_finished_job_and_its_file(app, as_user, bulk, small_threshold):
    import os

    a = as_user("ent.a")
    a.get("/enterprise/users/export/?_flt_0_username=bulk")
    job = _last_job(app)
    with app.app_context():
        path = jobs.result_path(job)
    assert os.path.isfile(path)
    r = a.post(f"/jobs/{job.id}/delete")
    assert r.status_code == 302
    assert not os.path.exists(path)
    assert a.get(f"/jobs/{job.id}/status").status_code == 404


# ----- REST API ---------------------------------------------------------------------------------
def test_api_export_takes_rison_filters_and_is_scoped(app, as_user, bulk):
    a = as_user("ent.a")
    token = api_token(app.test_client(), "ent.a")
    r = a.get("/api/v1/enterprise_user/export?q=(filters:!((col:username,opr:sw,value:bulk)),"
              "order_column:username,order_direction:desc)", headers=bearer(token))
    assert r.status_code == 200 and r.mimetype == XLSX
    rows = _rows(r.data)
    assert rows[0][:2] == ("Id", "用户名")
    assert [row[1] for row in rows[1:]] == [f"bulk-a-{i:03d}" for i in range(39, -1, -1)]
    # No filter: every row of A, none of B.
    names = [row[1] for row in _rows(a.get("/api/v1/enterprise_user/export",
                                           headers=bearer(token)).data)[1:]]
    assert len(names) == 41 and not any(n.startswith("bulk-b-") for n in names)
    # A filter FAB's get_list refuses is refused here too.
    r = a.get("/api/v1/enterprise_user/export?q=(filters:!((col:password,opr:sw,value:x)))",
              headers=bearer(token))
    assert r.status_code == 400
    r = a.get("/api/v1/enterprise_user/export?q=(filters:!(", headers=bearer(token))
    assert r.status_code == 400
    reg = api_token(app.test_client(), "reg.rental")
    rows = _rows(app.test_client().get("/api/v1/enterprise/export", headers=bearer(reg)).data)
    assert sorted(row[1] for row in rows[1:]) == JURISDICTION


def test_api_large_export_answers_with_a_job(app, as_user, db_session, bulk, small_threshold):
    a = as_user("ent.a")
    token = api_token(app.test_client(), "ent.a")
    r = a.get("/api/v1/enterprise_user/export?q=(filters:!((col:username,opr:sw,value:bulk)))",
              headers=bearer(token))
    assert r.status_code == 202
    body = r.get_json()
    assert body["rows"] == 40 and body["state"] == "done"
    status = a.get(body["status_url"], headers=bearer(token)).get_json()["result"]
    assert status["state"] == "done" and status["progress"] == 100 and status["total"] == 40
    r = a.get(body["download_url"], headers=bearer(token))
    assert r.status_code == 200
    assert [row[1] for row in _rows(r.data)[1:]] == [f"bulk-a-{i:03d}" for i in range(40)]
    ev = _export_events(db_session, actor_name="ent.a")[-1]
    assert "col:username" in ev.detail and f"后台任务 {body['job_id']}" in ev.detail
    listed = a.get("/api/v1/job/", headers=bearer(token)).get_json()
    assert listed["count"] == 1 and listed["ids"] == [body["job_id"]]
    other = api_token(app.test_client(), "ent.b")
    r = app.test_client().get(body["download_url"], headers=bearer(other))
    assert r.status_code == 404


def test_a_flood_of_background_exports_is_refused(app, as_user, db_session, bulk,
                                                  small_threshold):
    for _ in range(3):
        db_session.add(Job(owner_id=bulk["users"]["ent.a"], kind="export", title="waiting",
                           state="queued", params="{}"))
    db_session.commit()
    before = _last_job(app).id
    a = as_user("ent.a")
    r = a.get("/enterprise/users/export/?_flt_0_username=bulk")
    assert r.status_code == 302 and r.location.endswith("/jobs/")
    from flask_babel import gettext
    from markupsafe import escape

    with app.test_request_context(), force_locale("zh"):
        message = str(escape(gettext("You already have %(num)d jobs waiting or running. "
                                     "Please wait for them to finish.", num=3)))
    assert message in a.get("/jobs/").text and _last_job(app).id == before
    token = api_token(app.test_client(), "ent.a")
    r = a.get("/api/v1/enterprise_user/export", headers=bearer(token))
    assert r.status_code == 429 and r.get_json()["message"]
    assert _last_job(app).id == before
    # Small exports still download at once.
    assert a.get("/enterprise/users/export/?_flt_0_username=bulk-a-000").status_code == 200


def test_export_needs_the_export_permission(app, as_user):
    a = as_user("ent.a")  # reads enterprises and the audit trail, may export neither
    assert a.get("/enterprises/export/").status_code in (302, 403)
    token = api_token(app.test_client(), "ent.a")
    for res in ("enterprise", "audit_event", "authority"):
        assert a.get(f"/api/v1/{res}/export", headers=bearer(token)).status_code == 403, res


def test_every_list_view_and_api_offers_export(app):
    from app.views.base import AppModelRestApi, AppModelView

    rules = {r.rule for r in app.url_map.iter_rules()}
    apis = [v for v in app.appbuilder.baseviews if isinstance(v, AppModelRestApi)]
    views = [v for v in app.appbuilder.baseviews if isinstance(v, AppModelView)]
    assert len(apis) >= 5 and len(views) >= 5
    for api in apis:
        assert f"/api/v1/{api.resource_name}/export" in rules, api
        assert "can_export" in api.base_permissions, api
    for view in views:
        assert f"{view.route_base}/export/" in rules, view


def test_export_streams_in_chunks_with_flat_memory(app, db_session, bulk, monkeypatch):
    """iter_items reads ids first, then chunks by primary key; nothing keeps the rows."""
    import gc
    import weakref

    from app.views.identity import EnterpriseUserView

    monkeypatch.setattr(export, "CHUNK", 5)
    view = next(v for v in app.appbuilder.baseviews if isinstance(v, EnterpriseUserView))
    with app.test_request_context():
        from flask import g

        from app.models.base import set_scope

        owner = db_session.get(AppUser, bulk["users"]["ent.a"])
        g.user = owner
        set_scope(app.appbuilder.sm.tenant_scope(owner))
        alive, seen = [], 0
        for item in export.iter_items(view.export_query("_flt_0_username=bulk"), ["roles"]):
            alive.append(weakref.ref(item))
            seen += 1
        gc.collect()
        assert seen == 40
        assert sum(1 for ref in alive if ref() is not None) <= 5
