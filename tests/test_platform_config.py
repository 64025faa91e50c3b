"""Platform: configuration, secrets, security headers, CSRF, page-size cap, i18n, schema."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from babel.messages.pofile import read_po
from conftest import login

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config_in_subprocess(env_extra: dict, code: str):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "REGPORTAL_ENV",
                                                           "DATABASE_URL", "REDIS_URL")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_secret_key(tmp_path):
    r = _config_in_subprocess({"REGPORTAL_ENV": "production",
                               "REGPORTAL_INSTANCE": str(tmp_path)},
                              "from app import create_app; create_app()")
    assert r.returncode != 0 and "SECRET_KEY must be set" in r.stderr


def test_development_generates_and_keeps_a_secret_key(tmp_path):
    code = "from config import Config; print(Config().SECRET_KEY)"
    first = _config_in_subprocess({"REGPORTAL_INSTANCE": str(tmp_path)}, code)
    second = _config_in_subprocess({"REGPORTAL_INSTANCE": str(tmp_path)}, code)
    assert first.returncode == 0 and len(first.stdout.strip()) == 64
    assert first.stdout == second.stdout
    assert oct(os.stat(tmp_path / "secret_key").st_mode)[-3:] == "600"


def test_environment_selects_database_redis_and_cookie_flags(tmp_path):
    code = ("from config import Config; c = Config(); print(c.SQLALCHEMY_DATABASE_URI); "
            "print(c.RATELIMIT_STORAGE_URI); print(c.SESSION_COOKIE_SECURE); "
            "print(c.LOAD_DEMO_DATA)")
    r = _config_in_subprocess({"REGPORTAL_INSTANCE": str(tmp_path)}, code)
    url, storage, secure, demo = r.stdout.split()
    assert url == f"sqlite:///{tmp_path}/regportal.db" and storage == "memory://"
    assert secure == "False" and demo == "True"
    r = _config_in_subprocess({
        "REGPORTAL_INSTANCE": str(tmp_path), "REGPORTAL_ENV": "production", "SECRET_KEY": "k",
        "PUBLIC_BASE_URL": "https://portal.example.gov.cn",
        "DATABASE_URL": "postgresql+psycopg://u:p@db/regportal",
        "REDIS_URL": "redis://cache:6379/0"}, code)
    url, storage, secure, demo = r.stdout.split()
    assert url == "postgresql+psycopg://u:p@db/regportal" and storage == "redis://cache:6379/0"
    assert secure == "True" and demo == "False"


def test_production_refuses_to_start_without_public_base_url(tmp_path):
    r = _config_in_subprocess({"REGPORTAL_ENV": "production", "SECRET_KEY": "k",
                               "REGPORTAL_INSTANCE": str(tmp_path)},
                              "from config import Config; Config()")
    assert r.returncode != 0 and "PUBLIC_BASE_URL must be set" in r.stderr


def test_proxy_fix_takes_the_client_ip_from_the_trusted_proxy(tmp_path):
    code = ("from app import create_app; app = create_app(); "
            "from flask import request; "
            "print(app.wsgi_app.__class__.__name__)")
    r = _config_in_subprocess({"REGPORTAL_INSTANCE": str(tmp_path), "PROXY_FIX_X_FOR": "1"},
                              code)
    assert r.stdout.strip().endswith("ProxyFix"), r.stderr[-2000:]


def test_demo_data_is_refused_in_production(tmp_path):
    env = {"REGPORTAL_INSTANCE": str(tmp_path), "REGPORTAL_ENV": "production",
           "SECRET_KEY": "x" * 32, "PUBLIC_BASE_URL": "https://portal.example.gov.cn"}
    r = subprocess.run([os.path.join(ROOT, ".venv", "bin", "flask"), "--app", "run",
                        "regportal", "setup", "--demo"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120,
                       env={**{k: v for k, v in os.environ.items()
                               if k not in ("DATABASE_URL", "REGPORTAL_ENV")}, **env})
    assert r.returncode != 0 and "never loaded" in (r.stderr + r.stdout)


def test_security_headers_on_every_response(client):
    for path in ("/", "/login/", "/static/css/regportal.css", "/nope"):
        h = client.get(path).headers
        csp = h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'nonce-" in script_src
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert h["X-Frame-Options"] == "DENY"


def test_session_cookie_is_httponly_and_lax(client):
    client.get("/login/")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_csrf_is_enforced_on_forms(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    r = client.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026"})
    assert r.status_code == 400 and "表单已过期" in r.text
    page = client.get("/login/").text
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post("/login/", data={"username": "ent.a", "password": "Enterprise#2026",
                                     "csrf_token": token})
    assert r.status_code == 302
    # Logged in, a form post without the token still fails.
    r = client.post("/enterprise/roles/add", data={"name": "no token"})
    assert r.status_code == 400


def test_get_cannot_delete_or_run_actions(as_user, db_session):
    from conftest import ids

    a = as_user("ent.a")
    me = ids(db_session)["users"]["ent.a"]
    assert a.get(f"/enterprise/users/delete/{me}").status_code == 405
    assert a.get(f"/enterprise/users/action/reset_password/{me}").status_code == 405


def test_page_size_is_capped(as_user, app):
    r = as_user("admin").get("/audit/list/?psize_AuditEventView=100000")
    assert r.status_code == 200
    import re

    rows = len(re.findall(r'<input[^>]+class="action_check"', r.text))
    assert rows <= app.config["FAB_MAX_PAGE_SIZE"]


def test_chinese_by_default_and_english_on_request(client):
    assert "登录" in client.get("/login/").text
    r = client.get("/lang/en")
    assert r.status_code == 302
    page = client.get("/login/").text
    assert "Sign in to RegPortal" in page and "用户名" not in page
    client.get("/lang/zh")
    assert "登录" in client.get("/login/").text


def test_zh_catalog_is_complete_and_has_no_fuzzy_entries():
    with open(os.path.join(ROOT, "translations", "zh", "LC_MESSAGES", "messages.po"), "rb") as f:
        catalog = read_po(f)
    missing = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not missing, f"untranslated: {missing}"
    assert not fuzzy, f"fuzzy: {fuzzy}"


def test_catalog_covers_every_string_in_the_code(tmp_path):
    """Extract again: every marked string in app/ must be in the zh catalog."""
    pot = tmp_path / "messages.pot"
    subprocess.run([os.path.join(ROOT, ".venv", "bin", "pybabel"), "-q", "extract", "-F",
                    "babel.cfg", "-k", "lazy_gettext", "-k", "_l", "-k", "gettext", "-o",
                    str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with open(os.path.join(ROOT, "translations", "zh", "LC_MESSAGES", "messages.po"), "rb") as f:
        have = {m.id for m in read_po(f) if m.id and m.string}
    assert not wanted - have, f"run `make i18n` and translate: {sorted(wanted - have)}"


def test_alembic_sees_every_table_and_nothing_is_pending(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.extensions import db
    from app.models import Model

    assert {"ab_user", "enterprise", "authority", "audit_event", "attachment",
            "enterprise_role"} <= set(Model.metadata.tables)
    with app.app_context(), db.engine.connect() as con:
        ctx = MigrationContext.configure(con, opts={"compare_type": False})
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # expression indexes (lower(username)) not reflected
            found = compare_metadata(ctx, Model.metadata)
        diff = [d for d in found
                if not (isinstance(d, tuple) and d[0] in ("remove_index", "add_index"))]
    assert diff == [], diff


def test_openapi_lists_our_resources(app):
    from conftest import api_token, bearer

    c = app.test_client()
    spec = c.get("/api/v1/_openapi", headers=bearer(api_token(c, "ent.a"))).get_json()
    for res in ("enterprise", "authority", "enterprise_user", "enterprise_role",
                "audit_event"):
        assert f"/api/v1/{res}/" in spec["paths"], res


def test_swagger_ui_renders_for_a_signed_in_user(as_user):
    r = as_user("ent.a").get("/swagger/v1")
    assert r.status_code == 200 and "swagger" in r.text.lower()


@pytest.mark.parametrize("username", ["ent.a", "reg.rental", "auditor", "admin"])
def test_every_role_lands_on_a_working_home_page(app, username):
    c = app.test_client()
    login(c, username)
    r = c.get("/")
    assert r.status_code == 200 and username in r.text
