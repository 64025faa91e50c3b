"""Background jobs (DESIGN.md "Background jobs"): Huey configuration, the owner's scope and
language inside a job, failures, idempotence, housekeeping."""

from __future__ import annotations

import datetime
import os
import types

import pytest
from conftest import ids
from flask import g
from flask_babel import gettext

from app.errors import DomainError
from app.extensions import db
from app.models.base import current_scope, unscoped
from app.models.identity import AppUser
from app.models.job import DONE, FAILED, QUEUED, RUNNING, Job
from app.models.org import Enterprise
from app.services import jobs


class _ProbeError(DomainError):
    """A failure the owner should read."""


# reg.rental's jurisdiction in the demo data (rental, Guangdong), by name.
JURISDICTION = ["广州市云途出行汽车租赁有限公司", "广州市穗通汽车租赁有限公司",
                "广州市速达汽车租赁服务有限公司", "深圳市鹏程小客车租赁有限公司"]


@jobs.handler("test_probe")

def _probe(ctx: jobs.JobContext, params: dict):
    """What a job sees: its user, scope, language; and optionally a file or a failure."""
    if params.get("fail") == "domain":
        raise _ProbeError(gettext("Not a valid e-mail address."))
    if params.get("fail") == "crash":
        raise RuntimeError("boom")
    names = sorted(e.name for e in db.session.query(Enterprise))
    scope = current_scope()
    ctx.progress(1, 2, force=True)
    path = None
    if params.get("file"):
        path = ctx.result_file(".txt")
        with open(path, "w") as fh:
            fh.write("hello")
    return jobs.Result(path, download_name="probe.txt", mime="text/plain",
                       message="|".join([g.user.username, scope.kind, gettext("Yes"),
                                         *names]))


def _submit(app, username: str, **params) -> Job:
    """Submit as `username` inside a request (immediate mode runs it there)."""
    with app.test_request_context():
        with unscoped():
            user = db.session.query(AppUser).filter_by(username=username).one()
        g.user = user
        job_id = jobs.submit("test_probe", params, title="probe", user=user).id
    return _job(app, job_id)


def _job(app, job_id: int) -> Job:
    with app.app_context(), unscoped():
        job = db.session.get(Job, job_id)
        db.session.expunge_all()
        return job


def test_job_runs_with_the_owners_scope_and_user(app):
    job = _submit(app, "ent.a")
    assert job.state == DONE, job.error
    assert job.message == "ent.a|enterprise|是|广州市穗通汽车租赁有限公司"
    job = _submit(app, "reg.rental")
    assert job.message.split("|")[1:] == ["authority", "是", *JURISDICTION]
    assert _submit(app, "admin").message.split("|")[1] == "all"


def test_job_uses_the_language_of_its_submission(app):
    with app.test_request_context():
        from flask_babel import force_locale

        with unscoped():
            user = db.session.query(AppUser).filter_by(username="ent.a").one()
        g.user = user
        with force_locale("en"):
            job_id = jobs.submit("test_probe", {}, title="probe", user=user).id
    assert _job(app, job_id).message.split("|")[2] == "Yes"


def test_result_file_and_progress(app):
    job = _submit(app, "ent.a", file=True)
    assert job.state == DONE and job.progress == 100 and (job.done, job.total) == (1, 2)
    assert job.result_name == "probe.txt" and job.result_size == 5
    with app.app_context():
        path = jobs.result_path(job)
    assert path.startswith(app.config["JOB_DIR"] + os.sep) and open(path).read() == "hello"


def test_domain_error_is_shown_and_a_crash_is_not_leaked(app):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("zh"):
        expected = gettext("Not a valid e-mail address.")
    job = _submit(app, "ent.a", fail="domain")
    assert job.state == FAILED and job.message == expected
    assert job.finished_on is not None and "_ProbeError" in job.error
    job = _submit(app, "ent.a", fail="crash")
    assert job.state == FAILED and "boom" not in job.message and "boom" in job.error
    # No file left behind by a failed job.
    assert not [f for f in os.listdir(app.config["JOB_DIR"]) if f.startswith(f"{job.id}-")]


def test_job_of_a_deactivated_owner_does_not_run(app, db_session):
    db_session.query(AppUser).filter_by(username="ent.a").update({"active": False})
    db_session.commit()
    db_session.remove()
    job = _submit(app, "ent.a")
    assert job.state == FAILED and job.message and "ent.a" not in job.message


def test_a_job_runs_once(app, db_session):
    job = _submit(app, "ent.a")
    with app.app_context():
        assert jobs.execute(job.id) is False  # done: a replayed task is a no-op
        assert jobs.execute(999999) is False
    # A queued job claimed elsewhere (state no longer queued) is left alone.
    k = ids(db_session)
    queued = Job(owner_id=k["users"]["ent.a"], kind="test_probe", title="x", state=RUNNING,
                 params="{}")
    db_session.add(queued)
    db_session.commit()
    with app.app_context():
        assert jobs.execute(queued.id) is False


def test_unknown_kind_is_refused(app):
    with pytest.raises(ValueError):
        with app.test_request_context():
            jobs.create("no_such_kind", {}, title="x", user=types.SimpleNamespace(id=1))


def test_purge_removes_old_jobs_with_files_and_fails_stale_ones(app, db_session):
    old = _submit(app, "ent.a", file=True)
    fresh = _submit(app, "ent.a", file=True)
    with app.app_context():
        old_path, fresh_path = jobs.result_path(old), jobs.result_path(fresh)
    now = datetime.datetime.now()
    db_session.query(Job).filter_by(id=old.id).update(
        {"finished_on": now - datetime.timedelta(days=8)})
    k = ids(db_session)
    stale = Job(owner_id=k["users"]["ent.a"], kind="test_probe", title="stale", state=RUNNING,
                started_on=now - datetime.timedelta(hours=7), params="{}")
    waiting = Job(owner_id=k["users"]["ent.a"], kind="test_probe", title="waiting",
                  state=QUEUED, params="{}")
    forgotten = Job(owner_id=k["users"]["ent.a"], kind="test_probe", title="no worker",
                    state=QUEUED, params="{}", created_on=now - datetime.timedelta(hours=7))
    db_session.add_all([stale, waiting, forgotten])
    db_session.commit()
    with app.app_context():
        assert jobs.purge() == 1
        assert jobs.purge() == 0  # idempotent
    db_session.expire_all()
    assert db_session.get(Job, old.id) is None and not os.path.exists(old_path)
    assert db_session.get(Job, fresh.id).state == DONE and os.path.exists(fresh_path)
    assert db_session.get(Job, stale.id).state == FAILED
    assert db_session.get(Job, waiting.id).state == QUEUED
    assert db_session.get(Job, forgotten.id).state == FAILED


def test_huey_storage_follows_the_configuration(app, tmp_path):
    from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

    assert isinstance(jobs.huey.storage, MemoryStorage) and jobs.huey.immediate
    fake = types.SimpleNamespace(config={"HUEY_FILE": str(tmp_path / "huey.db"),
                                         "HUEY_IMMEDIATE": False, "REDIS_URL": None,
                                         "JOB_DIR": str(tmp_path / "jobs")})
    try:
        jobs.init_app(fake)
        assert isinstance(jobs.huey.storage, SqliteStorage) and not jobs.huey.immediate
        assert jobs.huey.storage.filename == str(tmp_path / "huey.db")
        fake.config["REDIS_URL"] = "redis://127.0.0.1:6399/0"
        jobs.init_app(fake)
        assert isinstance(jobs.huey.storage, RedisStorage)
        with pytest.raises(RuntimeError):
            fake.config["HUEY_IMMEDIATE"] = True
            jobs.init_app(fake)
            jobs.run_worker(fake)
    finally:
        jobs.init_app(app)
    assert isinstance(jobs.huey.storage, MemoryStorage) and jobs.huey.immediate


def test_queued_job_waits_for_the_consumer(app, db_session):
    """Outside immediate mode a submission only enqueues; the consumer runs it later."""
    jobs.huey.immediate = False
    jobs.huey.storage = jobs.huey.create_storage()  # the configured SQLite queue
    try:
        with app.test_request_context():
            with unscoped():
                user = db.session.query(AppUser).filter_by(username="ent.a").one()
            g.user = user
            job_id = jobs.submit("test_probe", {}, title="probe", user=user).id
        assert _job(app, job_id).state == QUEUED
        assert len(jobs.huey) == 1
        task = jobs.huey.dequeue()
        jobs.huey.execute(task)  # what a consumer thread does
        assert _job(app, job_id).state == DONE
    finally:
        jobs.huey.storage.flush_all()
        jobs.init_app(app)
