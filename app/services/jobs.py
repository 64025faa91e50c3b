"""Background jobs (DESIGN.md "Background jobs"): Huey plus a `Job` row per piece of work.

One Huey instance, configured from the app config by `init_app()`:
- `SqliteHuey`-style storage on HUEY_FILE (under instance/) by default,
- Redis storage when REDIS_URL is set (several consumers, several web workers),
- immediate mode (the job runs inside the request that submits it) when HUEY_IMMEDIATE is
  set: tests, debugging, or a deployment without a consumer.
`flask regportal worker` (started by `make run`) is the consumer.

A module adds a kind of job in two steps:

    from app.services import jobs

    @jobs.handler("archive_bundle")
    def build_bundle(ctx: jobs.JobContext, params: dict) -> jobs.Result:
        path = ctx.result_file(".zip")
        for i, volume in enumerate(volumes):      # queries are scoped to the owner
            ...
            ctx.progress(i + 1, len(volumes))
        return jobs.Result(path, download_name="...zip", mime="application/zip")

    job = jobs.create("archive_bundle", {"ids": [...]}, title=gettext("..."))
    audit.record(db.session, "...", target=job)   # optional, same transaction
    db.session.commit()
    jobs.enqueue(job)            # or jobs.submit(...) = create + commit + enqueue

    @jobs.periodic(jobs.crontab(hour="2", minute="0"))   # idempotent system work
    def flag_overdue_cases(): ...

The handler runs in its own app context and a request context with the owner as `g.user`,
the owner's tenant scope (`set_scope(sm.tenant_scope(owner))`, recomputed when the job
starts) and the owner's UI language at submission, so a background query is scoped exactly
like the request that asked for it. `params` must be JSON. Raise a `DomainError` for a
failure the owner should read; anything else is logged and shown as a generic failure.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import os
import secrets
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, has_app_context
from flask_babel import force_locale, get_locale, gettext
from huey import Huey, crontab
from huey.storage import RedisStorage, SqliteStorage
from sqlalchemy import update

from app.errors import DomainError
from app.extensions import db
from app.models.base import set_scope, unscoped
from app.models.job import DONE, FAILED, FINISHED_STATES, QUEUED, RUNNING, Job

log = logging.getLogger(__name__)

# Memory storage until init_app() binds the configured backend (no file touched at import).
huey = Huey("regportal", results=False, immediate=True)

_handlers: dict[str, Callable] = {}
_bound_app = None


class JobRefusedError(DomainError):
    """The job may not run (owner deactivated, permission withdrawn, unknown kind)."""


class JobLimitError(DomainError):
    """The user already has JOB_MAX_ACTIVE jobs queued or running."""


@dataclass
class Result:
    """What a handler produced: a file written to `ctx.result_file()`, and a line for the
    owner ("12,345 rows")."""

    path: str | None = None
    download_name: str | None = None
    mime: str = "application/octet-stream"
    message: str | None = None


def init_app(app) -> None:
    """Bind the Huey storage from the config and remember the app for the consumer."""
    global _bound_app
    _bound_app = app
    url = app.config.get("REDIS_URL")
    if url:
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": url}
    else:
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": app.config["HUEY_FILE"]}
    huey.immediate = bool(app.config.get("HUEY_IMMEDIATE"))
    huey.storage = huey.create_storage()
    os.makedirs(app.config["JOB_DIR"], exist_ok=True)


def handler(kind: str):
    """Register `fn(ctx, params) -> Result | None` as the work of jobs of this kind."""

    def register(fn):
        if kind in _handlers and _handlers[kind] is not fn:
            raise ValueError(f"job kind {kind!r} registered twice")
        _handlers[kind] = fn
        return fn

    return register


def create(kind: str, params: dict, *, title: str, user=None) -> Job:
    """Add a queued job for `user` (default: the request's user) and flush; the caller may
    audit in the same transaction, then commits and calls enqueue()."""
    if kind not in _handlers:
        raise ValueError(f"no handler for job kind {kind!r}")
    user = user if user is not None else g.user
    limit = current_app.config.get("JOB_MAX_ACTIVE", 3)
    with unscoped():
        active = db.session.query(Job.id).filter(
            Job.owner_id == user.id, Job.state.in_((QUEUED, RUNNING))).count()
    if active >= limit:
        raise JobLimitError(gettext(
            "You already have %(num)d jobs waiting or running. Please wait for them to finish.",
            num=active))
    locale = get_locale()
    job = Job(owner_id=user.id, enterprise_id=getattr(user, "enterprise_id", None), kind=kind,
              title=str(title)[:255], state=QUEUED, progress=0, done=0,
              locale=str(locale) if locale else None,
              params=json.dumps(params, ensure_ascii=False))
    db.session.add(job)
    db.session.flush()
    return job


def enqueue(job: Job | int) -> None:
    """Hand a committed job to the queue (runs at once in immediate mode)."""
    run_job(job if isinstance(job, int) else job.id)


def submit(kind: str, params: dict, *, title: str, user=None) -> Job:
    job = create(kind, params, title=title, user=user)
    job_id = job.id
    db.session.commit()
    enqueue(job_id)
    return job


def result_path(job: Job) -> str | None:
    """Absolute path of a job's result file (the stored name never holds a directory)."""
    if not job.result_path or os.path.basename(job.result_path) != job.result_path:
        return None
    path = os.path.join(current_app.config["JOB_DIR"], job.result_path)
    return path if os.path.isfile(path) else None


def status(job: Job) -> dict:
    """What the progress bar polls (UI and API)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "title": job.title,
        "state": job.state,
        "state_label": job.state_label,
        "progress": job.progress,
        "done": job.done,
        "total": job.total,
        "message": job.message,
        "finished": job.finished,
        "downloadable": job.downloadable,
        "result_name": job.result_name,
        "result_size": job.result_size,
        "created_on": job.created_on.isoformat(timespec="seconds") if job.created_on else None,
        "finished_on": (job.finished_on.isoformat(timespec="seconds")
                        if job.finished_on else None),
    }


def delete(job: Job) -> None:
    """Remove a finished job and its file (the caller commits)."""
    path = result_path(job)
    if path:
        remove_file(path)
    db.session.delete(job)


# ----- running -----------------------------------------------------------------------------
class JobContext:
    """Handed to a handler: progress reporting and the result file location."""

    # Progress is written at most this often (seconds), and always at 100 %.
    interval = 0.5

    def __init__(self, job_id: int, params: dict):
        self.job_id = job_id
        self.params = params
        self.files: list[str] = []
        self._last_write = float("-inf")
        self._last_percent = -1
        self.writes = 0
        self.done = 0
        self.total: int | None = None

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 force: bool = False) -> None:
        """Record progress (items done of total). Written on its own short transaction so
        the web page sees it while the handler works; best effort, never fails the job.
        On SQLite, report progress while the handler holds no open write transaction."""
        self.done, self.total = done, total if total is not None else self.total
        percent = min(99, int(done * 100 / total)) if total else 0
        now = time.monotonic()
        if not force:
            if now - self._last_write < self.interval:
                return  # not this often
            if total and percent == self._last_percent and now - self._last_write < 5:
                return  # nothing the progress bar would show
        values = {"done": done, "progress": percent}
        if total is not None:
            values["total"] = total
        if message is not None:
            values["message"] = str(message)[:500]
        try:
            _write(self.job_id, **values)
        except Exception:  # a locked SQLite file: skip this report, try again later
            log.debug("progress of job %s not written", self.job_id, exc_info=True)
            return
        self._last_write, self._last_percent = now, percent
        self.writes += 1

    def result_file(self, suffix: str = "") -> str:
        """A fresh path under JOB_DIR for the result (outside the web root)."""
        directory = current_app.config["JOB_DIR"]
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{self.job_id}-{secrets.token_hex(12)}{suffix}")
        self.files.append(path)
        return path


def _write(job_id: int, expect_state: str | None = None, **values) -> bool:
    """Update a job row on its own connection and transaction; True if a row changed."""
    table = Job.__table__
    stmt = update(table).where(table.c.id == job_id)
    if expect_state is not None:
        stmt = stmt.where(table.c.state == expect_state)
    with db.engine.begin() as conn:
        return conn.execute(stmt.values(**values)).rowcount == 1


def _application():
    if has_app_context():
        return current_app._get_current_object()
    if _bound_app is not None:
        return _bound_app
    from app import create_app  # a consumer started without `flask regportal worker`

    return create_app()


@huey.task()
def run_job(job_id: int) -> None:
    app = _application()
    # A fresh app context: its own `g` and database session, even in immediate mode where
    # the submitting request's context is still active.
    with app.app_context():
        execute(job_id)


def execute(job_id: int) -> bool:
    """Run one queued job to the end (done or failed). Idempotent: a job that is not queued
    any more (already run, or claimed by another consumer) is left alone."""
    app = current_app._get_current_object()
    with unscoped():
        job = db.session.get(Job, job_id)
        if job is None or job.state != QUEUED:
            return False
        kind, owner_id, locale = job.kind, job.owner_id, job.locale
        params = json.loads(job.params or "{}")
    db.session.remove()
    now = datetime.datetime.now()
    if not _write(job_id, expect_state=QUEUED, state=RUNNING, started_on=now):
        return False
    ctx = JobContext(job_id, params)
    locale = locale or app.config.get("BABEL_DEFAULT_LOCALE", "zh")
    try:
        with app.test_request_context("/", base_url=app.config.get("PUBLIC_BASE_URL")):
            with force_locale(locale):
                result = _call_handler(app, kind, owner_id, ctx, params)
    except Exception as exc:
        _fail(job_id, exc, ctx, locale)
        return True
    finally:
        db.session.remove()
    values = {"state": DONE, "progress": 100, "done": ctx.done, "total": ctx.total,
              "finished_on": datetime.datetime.now()}
    if result is not None:
        if result.path:
            values.update(result_path=os.path.basename(result.path),
                          result_name=(result.download_name or os.path.basename(result.path))
                          [:255],
                          result_mime=result.mime, result_size=os.path.getsize(result.path))
        if result.message:
            values["message"] = str(result.message)[:500]
    for path in ctx.files:
        if result is None or path != result.path:
            remove_file(path)
    _write(job_id, **values)
    return True


def _call_handler(app, kind, owner_id, ctx, params):
    from app.models.identity import AppUser

    fn = _handlers.get(kind)
    if fn is None:
        raise JobRefusedError(gettext("This kind of job is not available."))
    with unscoped():
        owner = db.session.get(AppUser, owner_id)
        if owner is None or not owner.is_active:
            raise JobRefusedError(gettext("The account that asked for this job is not active."))
        scope = app.appbuilder.sm.tenant_scope(owner)
    g.user = owner
    g._login_user = owner  # flask_login's current_user
    set_scope(scope)
    return fn(ctx, params)


def _fail(job_id: int, exc: Exception, ctx: JobContext, locale: str) -> None:
    if isinstance(exc, DomainError):
        message = str(exc)
    else:
        log.exception("job %s failed", job_id)
        with force_locale(locale):
            message = gettext("The job failed. Please try again or contact the administrator.")
    for path in ctx.files:
        remove_file(path)
    try:
        _write(job_id, state=FAILED, message=message[:500],
               error="".join(traceback.format_exception(exc))[-20000:],
               finished_on=datetime.datetime.now())
    except Exception:
        log.exception("could not record the failure of job %s", job_id)


def remove_file(path: str) -> None:
    """Remove a temporary or result file; one already gone is fine."""
    with contextlib.suppress(OSError):
        os.remove(path)


# ----- housekeeping ------------------------------------------------------------------------
def purge(now: datetime.datetime | None = None) -> int:
    """Remove finished jobs older than JOB_RETENTION_DAYS with their files, and mark jobs
    running (or waiting) longer than JOB_STALE_HOURS as failed: their consumer stopped, or
    none runs. Idempotent."""
    now = now or datetime.datetime.now()
    cfg = current_app.config
    keep_after = now - datetime.timedelta(days=cfg["JOB_RETENTION_DAYS"])
    stale_before = now - datetime.timedelta(hours=cfg["JOB_STALE_HOURS"])
    removed = 0
    with unscoped():
        for job in db.session.query(Job).filter(Job.state.in_(FINISHED_STATES),
                                                Job.finished_on < keep_after):
            delete(job)
            removed += 1
        for job in db.session.query(Job).filter(
                ((Job.state == RUNNING) & (Job.started_on < stale_before))
                | ((Job.state == QUEUED) & (Job.created_on < stale_before))):
            with force_locale(job.locale or cfg.get("BABEL_DEFAULT_LOCALE", "zh")):
                job.message = (gettext("The job was interrupted. Please start it again.")
                               if job.state == RUNNING else
                               gettext("The job was never started. Please try again later."))
            job.state = FAILED
            job.finished_on = now
        db.session.commit()
    return removed


def periodic(schedule, **options):
    """A Huey periodic task (`schedule`: `huey.crontab(...)`) running `fn()` in an app
    context of its own, unscoped (system work). Make it idempotent: a consumer restarted
    within the minute, or several consumers, may run it again."""

    def register(fn):
        @functools.wraps(fn)
        def run():
            with _application().app_context():
                return fn()

        return huey.periodic_task(schedule, **options)(run)  # named after fn (wraps)

    return register


@periodic(crontab(minute="17"))
def purge_jobs() -> None:
    purge()


def run_worker(app, workers: int | None = None) -> None:
    """The consumer (`flask regportal worker`): worker threads plus the periodic tasks."""
    if huey.immediate:
        raise RuntimeError("HUEY_IMMEDIATE is set: jobs run inside requests, no worker needed")
    consumer = huey.create_consumer(workers=workers or app.config.get("HUEY_WORKERS", 2),
                                    worker_type="thread", periodic=True)
    consumer.run()


__all__ = ["JobContext", "JobLimitError", "JobRefusedError", "Result", "create", "crontab",
           "delete", "enqueue", "execute", "handler", "huey", "init_app", "periodic", "purge",
           "result_path", "run_job", "run_worker", "status", "submit"]
