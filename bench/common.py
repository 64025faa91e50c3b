"""Helpers shared by the benchmarks: a median timer and a real login (password + TOTP)."""

from __future__ import annotations

import statistics
import time

import pyotp


def timed(fn, repeat: int) -> float:
    """Median seconds of `repeat` calls after one warm-up call (statement caches,
    templates, the OS page cache)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def login(client, app, username: str, password: str, secret: str | None) -> None:
    """Log a test client in through the real form (and TOTP step)."""
    from app.extensions import db
    from app.models.identity import AppUser

    resp = client.post("/login/", data={"username": username, "password": password})
    if resp.status_code == 302 and "/login/totp/" in resp.location:
        with app.app_context():
            db.session.query(AppUser).filter_by(username=username).update(
                {"totp_last_counter": None})
            db.session.commit()
            db.session.remove()
        resp = client.post("/login/totp/", data={"code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 302 and "/login" not in resp.location, resp.location


def prepare(app) -> None:
    """Inside an app context: migrate, permissions and roles, the demo data if empty."""
    from flask_migrate import upgrade

    from app.cli import create_permissions, sync_roles
    from app.demo import load_demo_data
    from app.extensions import db
    from app.models.org import Enterprise

    upgrade()
    create_permissions()
    sync_roles()
    if db.session.query(Enterprise).count() == 0:
        load_demo_data()
