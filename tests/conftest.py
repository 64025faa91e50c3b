"""Fixtures: one app per test session on a real database (SQLite file by default, PostgreSQL
when TEST_DATABASE_URL or DATABASE_URL names one), migrated with Alembic and loaded with the
demo data once, then restored from a snapshot before every test."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import pyotp
import pytest

_INSTANCE = tempfile.mkdtemp(prefix="regportal-test-")
os.environ["REGPORTAL_INSTANCE"] = _INSTANCE
os.environ.setdefault("CAPTCHA_ENABLED", "0")
os.environ.pop("REGPORTAL_ENV", None)

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app import create_app  # noqa: E402
from app.demo import USERS  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL") or (
    os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith(
        "postgresql") else "")

PASSWORDS = {u[0]: u[1] for u in USERS}
TOTP_SECRETS = {u[0]: u[7] for u in USERS if u[7]}


class _SqliteStore:
    def __init__(self):
        self.path = os.path.join(_INSTANCE, "test.db")
        self.snapshot = self.path + ".snapshot"
        self.url = "sqlite:///" + self.path

    def snapshot_now(self, engine):
        engine.dispose()
        shutil.copyfile(self.path, self.snapshot)

    def restore(self, engine):
        engine.dispose()
        shutil.copyfile(self.snapshot, self.path)


class _PostgresStore:
    def __init__(self, base_url: str):
        url = make_url(base_url)
        self.db_name = f"{url.database or 'regportal'}_test"
        self.tmpl = f"{self.db_name}_tmpl"
        self.url = url.set(database=self.db_name).render_as_string(hide_password=False)
        self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as con:
            exists = con.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                 {"n": self.tmpl}).first()
            if exists:
                con.execute(text(f'ALTER DATABASE "{self.tmpl}" IS_TEMPLATE false'))
            for name in (self.db_name, self.tmpl):
                con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            con.execute(text(f'CREATE DATABASE "{self.db_name}"'))

    def snapshot_now(self, engine):
        engine.dispose()
        with self.admin.connect() as con:
            con.execute(text(f'CREATE DATABASE "{self.tmpl}" TEMPLATE "{self.db_name}"'))
            # No connections to the template (autovacuum included), or copying it fails.
            con.execute(text(f'ALTER DATABASE "{self.tmpl}" WITH ALLOW_CONNECTIONS false '
                             "IS_TEMPLATE true"))

    def restore(self, engine):
        import time

        engine.dispose()
        with self.admin.connect() as con:
            for attempt in range(20):
                try:
                    con.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
                    break
                except Exception:  # an autovacuum worker (superuser) cannot be terminated
                    if attempt == 19:
                        raise
                    time.sleep(0.5)
            for attempt in range(5):
                try:
                    con.execute(text(f'CREATE DATABASE "{self.db_name}" TEMPLATE "{self.tmpl}"'))
                    return
                except Exception:  # "source database is being accessed by other users"
                    if attempt == 4:
                        raise
                    time.sleep(0.5)


@pytest.fixture(scope="session")
def store():
    return _PostgresStore(PG_URL) if PG_URL else _SqliteStore()


@pytest.fixture(scope="session")
def _app(store):
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": store.url,
        "TESTING": True,
        "CAPTCHA_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        "ATTACHMENT_DIR": os.path.join(_INSTANCE, "attachments"),
        "HUEY_IMMEDIATE": True,  # background jobs run inside the request that submits them
    })
    from flask_migrate import upgrade

    from app.cli import create_permissions, sync_roles
    from app.demo import load_demo_data
    from app.extensions import db
    from app.services.regions import load_regions

    with app.app_context():
        upgrade()
        create_permissions()
        sync_roles()
        load_regions()  # as `flask regportal setup` does
        load_demo_data()
        db.session.remove()
        store.snapshot_now(db.engine)
    return app


@pytest.fixture()
def app(_app, store):
    from app.extensions import db

    with _app.app_context():
        db.session.remove()
        store.restore(db.engine)
    _app.config.update(CAPTCHA_ENABLED=False, WTF_CSRF_ENABLED=False)
    _app.appbuilder.sm.limiter.reset()
    yield _app
    with _app.app_context():
        db.session.remove()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def db_session(app):
    """A session outside any request: unscoped, like a system job."""
    from app.extensions import db

    with app.app_context():
        yield db.session


def totp_now(username: str) -> str:
    return pyotp.TOTP(TOTP_SECRETS[username]).now()


def forget_used_totp(app, username: str) -> None:
    """Replay protection refuses a code twice in one 30 s step; tests that log the same
    user in twice within a step clear the record of the last used step first."""
    from app.extensions import db
    from app.models.identity import AppUser

    with app.app_context():
        db.session.query(AppUser).filter_by(username=username).update(
            {"totp_last_counter": None})
        db.session.commit()
        db.session.remove()


def login(client, username: str, password: str | None = None, *, totp: bool = True):
    """Log in through the real form (and TOTP step). Returns the last response."""
    password = password or PASSWORDS[username]
    resp = client.post("/login/", data={"username": username, "password": password})
    if resp.status_code == 302 and "/login/totp/" in resp.location and totp:
        forget_used_totp(client.application, username)
        resp = client.post("/login/totp/", data={"code": totp_now(username)})
    return resp


def logged_in(app, username: str):
    c = app.test_client()
    resp = login(c, username)
    assert resp.status_code == 302, resp.data[:500]
    return c


@pytest.fixture()
def as_user(app):
    return lambda username: logged_in(app, username)


def api_token(client, username: str, password: str | None = None, **extra) -> str:
    body = {"username": username, "password": password or PASSWORDS[username],
            "provider": "db", **extra}
    if username in TOTP_SECRETS and "totp" not in extra:
        forget_used_totp(client.application, username)
        body["totp"] = totp_now(username)
    resp = client.post("/api/v1/security/login", json=body)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def csrf_token_from(html: str) -> str:
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert m, "no csrf token in page"
    return m.group(1)


def ids(db_session):
    """Primary keys of the demo rows, by key."""
    from app.models.identity import AppUser
    from app.models.org import Authority, Enterprise

    ents = {e.name: e.id for e in db_session.query(Enterprise)}
    users = {u.username: u.id for u in db_session.query(AppUser)}
    auths = {a.name: a.id for a in db_session.query(Authority)}
    return {
        "ent_a": ents["广州市穗通汽车租赁有限公司"],
        "ent_b": ents["深圳市鹏程小客车租赁有限公司"],
        "ent_c": ents["广州市羊城二手车交易市场有限公司"],
        "users": users,
        "authorities": auths,
    }


def clear_demo_cases(db_session, vehicles: bool = False, notifications: bool = False) -> None:
    """For tests that count exactly the cases they create: drop the demo cases (and, if
    asked, the demo vehicles and notifications) of the snapshot."""
    from sqlalchemy import delete

    from app.models.content import Notification
    from app.models.rental import Vehicle
    from app.models.workflow import (
        Application,
        TransitionLog,
        application_attachment,
        transition_attachment,
    )

    db_session.execute(delete(transition_attachment))
    db_session.execute(delete(application_attachment))
    db_session.execute(delete(TransitionLog))
    db_session.execute(delete(Application))
    if vehicles:
        db_session.execute(delete(Vehicle))
    if notifications:
        db_session.execute(delete(Notification))
    db_session.commit()
