"""Application factory."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from config import Config

log = logging.getLogger(__name__)

# Endpoints reachable while a password change or a TOTP enrolment is pending.
_GATE_OPEN_ENDPOINTS = {
    "static",
    "appbuilder.static",
    "LocaleView.index",
    "AppAuthDBView.logout",
    "AppAuthDBView.login",
    "AppAuthDBView.login_totp",
    "AppAuthDBView.captcha_image",
}
_PASSWORD_GATE = {"ChangePasswordView.this_form_get", "ChangePasswordView.this_form_post"}
_TOTP_GATE = {"TwoFactorView.enrol", "TwoFactorView.index"}


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=Config().INSTANCE_DIR, instance_relative_config=False)
    app.config.from_object(Config())
    if overrides:
        app.config.update(overrides)

    if app.config.get("PROXY_FIX_X_FOR"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["PROXY_FIX_X_FOR"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)

    from app.services.passwords import fab_validator

    app.config["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = fab_validator
    # FAB's own limit on the login blueprint is replaced by ours (IP + user name).
    app.config["AUTH_RATE_LIMITED"] = False

    from app import models  # noqa: F401  (maps every table before FAB starts)
    from app.extensions import appbuilder, csrf, db, migrate, talisman

    db.init_app(app)
    from app.services import jobs

    jobs.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True)
    csrf.init_app(app)
    _init_security_headers(app, talisman)

    with app.app_context():
        appbuilder.init_app(app, db.session)
        from app.views import register_views

        register_views(appbuilder)

    # API blueprints authenticate with a bearer token, not a cookie: no CSRF there
    # (allow_browser_login stays off on every API).
    _exempt_api_blueprints(app, csrf)

    @app.teardown_request
    def _end_of_request(exc):
        # One session and one scope per request, even when an outer app context (a test,
        # a CLI command) spans several requests: no identity map carries rows across users.
        from app.models.base import forget_request_scope

        db.session.remove()
        forget_request_scope()
        g.pop("_login_user", None)
        g.pop("user", None)

    app.before_request(_guard_fab_routes)
    app.before_request(_account_gates)
    _register_error_handlers(app)
    _register_jinja(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _migrations_dir() -> str:
    import os

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def _exempt_api_blueprints(app, csrf) -> None:
    from flask_appbuilder.api import BaseApi

    for view in app.appbuilder.baseviews:
        if isinstance(view, BaseApi) and view.blueprint is not None:
            csrf.exempt(view.blueprint)


def _init_security_headers(app: Flask, talisman) -> None:
    csp = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    talisman.init_app(
        app,
        force_https=False,  # TLS is terminated by the reverse proxy in production
        strict_transport_security=app.config["PRODUCTION"],
        session_cookie_secure=app.config["PRODUCTION"],
        session_cookie_http_only=True,
        content_security_policy=csp,
        content_security_policy_nonce_in=["script-src"],
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        x_content_type_options=True,
    )


def _guard_fab_routes():
    """FAB answers GET on delete and action routes and changes data there, where CSRF
    protection does not reach; its own UI posts them with a token, so GET is refused.
    An unknown action name makes FAB raise (500) before any permission check: 404."""
    from flask import abort, current_app

    endpoint = request.endpoint or ""
    view_name, _, method = endpoint.rpartition(".")
    if request.method == "GET" and method in ("delete", "action"):
        abort(405)
    if method in ("action", "action_post"):
        name = (request.view_args or {}).get("name") or request.form.get("action")
        view = next((v for v in current_app.appbuilder.baseviews
                     if v.__class__.__name__ == view_name), None)
        if view is None or name not in getattr(view, "actions", {}):
            abort(404)
    return None


def _account_gates():
    """Forced password change and mandatory TOTP enrolment: nothing else is reachable."""
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    endpoint = request.endpoint or ""
    if endpoint in _GATE_OPEN_ENDPOINTS:
        return None
    from flask import current_app

    sm = current_app.appbuilder.sm
    if user.must_change_password:
        if endpoint in _PASSWORD_GATE:
            return None
        if request.path.startswith("/api/"):
            return jsonify(message=gettext("You must change your password first.")), 403
        return redirect(url_for("ChangePasswordView.this_form_get"))
    if sm.totp_required(user) and not user.totp_enabled:
        if endpoint in _TOTP_GATE:
            return None
        if request.path.startswith("/api/"):
            return jsonify(message=gettext("Enrol in two-factor authentication first.")), 403
        return redirect(url_for("TwoFactorView.enrol"))
    return None


def _register_error_handlers(app: Flask) -> None:
    def _api(path: str) -> bool:
        return path.startswith("/api/")

    def render_error(code: int, message: str):
        # Errors raised before FAB's before_request (CSRF) have no g.user yet.
        if not hasattr(g, "user"):
            from flask_login import current_user

            g.user = current_user
        return render_template("errors/error.html", code=code, message=message), code

    @app.errorhandler(429)
    def too_many(exc):
        message = gettext("Too many attempts. Please wait a moment and try again.")
        if _api(request.path):
            return jsonify(message=message), 429
        return render_error(429, message)

    @app.errorhandler(404)
    def not_found(exc):
        message = gettext("The page or record does not exist, or you may not see it.")
        if _api(request.path):
            return jsonify(message=message), 404
        return render_error(404, message)

    @app.errorhandler(413)
    def too_large(exc):
        message = gettext("The upload is too large.")
        if _api(request.path) or request.path.startswith("/attachments/"):
            return jsonify(message=message), 413
        return render_error(413, message)

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        message = gettext("The form has expired or was already sent. Reload the page and "
                          "try again.")
        if request.path.startswith("/attachments/"):
            return jsonify(message=message), 400
        return render_error(400, message)


def _register_jinja(app: Flask) -> None:
    from app.services import captcha

    @app.context_processor
    def _ctx():
        # Lets plain render_template() (error pages) extend FAB's layout.
        return {"captcha_enabled": captcha.enabled(), "appbuilder": app.appbuilder,
                "base_template": app.appbuilder.base_template}


__all__ = ["create_app"]
