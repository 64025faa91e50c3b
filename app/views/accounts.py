"""Accounts (SPEC X4, X5, X6): login with captcha and TOTP, forced and voluntary password
change, forgot-password by signed link, TOTP enrolment, API login with TOTP, outbox."""

from __future__ import annotations

import time

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.const import API_SECURITY_ACCESS_TOKEN_KEY, API_SECURITY_REFRESH_TOKEN_KEY
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.decorators import has_access, limit
from flask_appbuilder.security.schemas import login_post
from flask_appbuilder.security.views import AuthDBView, ResetMyPasswordView, ResetPasswordView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.utils.limit import Limit
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
)
from flask_limiter.util import get_remote_address
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from marshmallow import ValidationError
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.extensions import db
from app.services import audit, captcha, sessions, totp
from app.services.mail import send_mail
from app.services.passwords import PasswordPolicy, PasswordPolicyError


# ----- rate-limit keys ------------------------------------------------------------------
def _username_key() -> str:
    """Per-account limit key: the user name of a form or JSON login; on the TOTP step only
    the pending user from the signed session (a form field cannot change the bucket)."""
    if (request.endpoint or "").endswith(".login_totp"):
        return f"pending:{session.get('pending_2fa_user', '')}"
    name = request.form.get("username")
    if name is None and request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            name = body.get("username")
    # A used-car licence number counts against the account it names (one bucket).
    name = current_app.appbuilder.sm.login_name(str(name or "").strip()[:128])
    return "user:" + str(name or "").lower()[:128]


def _not_a_login() -> bool:
    """Blueprint-wide limits apply to the login steps only (not to token refresh)."""
    return (request.endpoint or "").rsplit(".", 1)[-1] not in ("login", "login_totp")


def _current_user_key() -> str:
    user = getattr(g, "user", None)
    uid = user.id if user is not None and getattr(user, "is_authenticated", False) else ""
    return f"account:{uid}:{get_remote_address()}"


def _login_limit() -> str:
    return current_app.config.get("LOGIN_RATE_LIMIT", "10 per minute")


def _captcha_limit() -> str:
    return current_app.config.get("CAPTCHA_RATE_LIMIT", "30 per minute")


def _forgot_limit() -> str:
    return current_app.config.get("FORGOT_PASSWORD_RATE_LIMIT", "5 per hour")


# ----- forms ----------------------------------------------------------------------------
class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=128)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])


class TotpForm(FlaskForm):
    code = StringField(_l("Authentication code"), validators=[DataRequired(), Length(max=16)])


PASSWORD_RULE = _l("At least 8 characters with an upper-case letter, a lower-case letter and a "
                   "digit; not your user name and not a common password.")


class ChangePasswordForm(DynamicForm):
    old_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(_l("New password"), validators=[DataRequired(), PasswordPolicy()],
                             description=PASSWORD_RULE)
    conf_password = PasswordField(
        _l("Confirm new password"),
        validators=[EqualTo("password", message=_l("The passwords do not match."))],
    )


class ForgotPasswordForm(FlaskForm):
    username = StringField(_l("User name or e-mail"), validators=[DataRequired(), Length(max=320)])
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), PasswordPolicy()])
    conf_password = PasswordField(
        _l("Confirm new password"),
        validators=[EqualTo("password", message=_l("The passwords do not match."))],
    )


# ----- login ----------------------------------------------------------------------------
PENDING_2FA_SECONDS = 300
PENDING_2FA_ATTEMPTS = 5


def fresh_session() -> None:
    """Start from an empty session (no captcha, enrolment or 2FA state of a previous user);
    only the chosen language survives."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def _finish_login(user, next_url: str):
    fresh_session()
    login_user(user, remember=False)
    session[sessions.SESSION_KEY] = sessions.session_version(user)
    audit.record(db.session, "login", actor=user, target=user)
    db.session.commit()
    return redirect(next_url or current_app.appbuilder.get_url_for_index)


class AppAuthDBView(AuthDBView):
    """FAB's AuthDBView with captcha, audit, lockout-free rate limits and a TOTP step."""

    login_template = "accounts/login.html"
    invalid_login_message = _l("Wrong user name or password.")

    # Every POST of this blueprint (password and TOTP steps): per IP and per user name.
    limits = [
        Limit(_login_limit, get_remote_address, methods=["POST"], exempt_when=_not_a_login),
        Limit(_login_limit, _username_key, methods=["POST"], exempt_when=_not_a_login),
        # Each captcha image stores a challenge row: bounded per IP.
        Limit(_captcha_limit, get_remote_address, methods=["GET"],
              exempt_when=lambda: not (request.endpoint or "").endswith(".captcha_image")),
    ]

    @expose("/login/", methods=["GET", "POST"])
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            if not captcha.check(form.captcha.data):
                flash(gettext("The verification code is wrong; try the new one."), "warning")
                return self._render(form)
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if not user:
                audit.record(db.session, "login_failed", actor_name=form.username.data[:128],
                             target_type="ab_user", detail=gettext("Wrong user name or password."))
                db.session.commit()
                flash(str(self.invalid_login_message), "warning")
                return self._render(form)
            if user.totp_enabled:
                fresh_session()
                session["pending_2fa_user"] = user.id
                session["pending_2fa_at"] = int(time.time())
                session["pending_2fa_tries"] = 0
                session["pending_2fa_next"] = next_url
                return redirect(url_for(f"{self.__class__.__name__}.login_totp"))
            return _finish_login(user, next_url)
        return self._render(form)

    def _render(self, form):
        return self.render_template(self.login_template, title=self.title, form=form,
                                    appbuilder=self.appbuilder,
                                    captcha_enabled=captcha.enabled())

    @expose("/login/totp/", methods=["GET", "POST"])
    def login_totp(self):
        uid = session.get("pending_2fa_user")
        if not uid:
            return redirect(self.appbuilder.get_url_for_login)
        user = self.appbuilder.sm.get_user_by_id(uid)
        expired = time.time() - session.get("pending_2fa_at", 0) > PENDING_2FA_SECONDS
        if user is None or not user.is_active or expired:
            fresh_session()
            if expired:
                flash(gettext("The sign-in has expired; enter your password again."), "info")
            return redirect(self.appbuilder.get_url_for_login)
        form = TotpForm()
        if form.validate_on_submit():
            if totp.verify_user_code(user, form.code.data):
                return _finish_login(user, session.get("pending_2fa_next", ""))
            audit.record(db.session, "login_failed", actor_name=user.username, target=user,
                         detail=gettext("Wrong two-factor code."))
            db.session.commit()
            session["pending_2fa_tries"] = session.get("pending_2fa_tries", 0) + 1
            if session["pending_2fa_tries"] >= PENDING_2FA_ATTEMPTS:
                fresh_session()
                flash(gettext("Too many wrong codes; enter your password again."), "warning")
                return redirect(self.appbuilder.get_url_for_login)
            flash(gettext("The code is wrong or already used."), "warning")
        return self.render_template("accounts/totp_verify.html", form=form,
                                    appbuilder=self.appbuilder)

    @expose("/captcha.png")
    def captcha_image(self):
        resp = Response(captcha.new_challenge_png(), mimetype="image/png")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @expose("/logout/")
    def logout(self):
        user = self._get_authenticated_user()
        if user is not None:
            # Every copy of this user's session cookie (and API token) ends here.
            user.session_epoch = (user.session_epoch or 0) + 1
            audit.record(db.session, "logout", actor=user, target=user)
            db.session.commit()
        logout_user()
        fresh_session()
        return redirect(self.appbuilder.get_url_for_index)


# ----- password change ------------------------------------------------------------------
class ChangePasswordView(ResetMyPasswordView):
    """Replaces FAB's reset-my-password: asks for the current password, applies the policy.
    The only page (besides logout and language) reachable while a change is forced."""

    route_base = "/resetmypassword"
    form = ChangePasswordForm
    limits = [Limit(_login_limit, _current_user_key, methods=["POST"])]
    form_title = _l("Change password")

    def form_get(self, form):
        if g.user.must_change_password:
            flash(gettext("You must change your password before you continue."), "info")

    def form_post(self, form):
        user = self.appbuilder.sm.get_user_by_id(g.user.id)
        if not check_password_hash(user.password or "", form.old_password.data):
            flash(gettext("The current password is wrong."), "danger")
            return redirect(url_for(f"{self.__class__.__name__}.this_form_get"))
        if check_password_hash(user.password or "", form.password.data):
            flash(gettext("The new password must differ from the current one."), "danger")
            return redirect(url_for(f"{self.__class__.__name__}.this_form_get"))
        try:
            self.appbuilder.sm.reset_password(user.id, form.password.data, by_owner=True)
        except PasswordPolicyError as exc:
            flash(str(exc), "danger")
            return redirect(url_for(f"{self.__class__.__name__}.this_form_get"))
        audit.record(db.session, "password", target=user)
        db.session.commit()
        # Other sessions and tokens of this user end; this one goes on.
        session[sessions.SESSION_KEY] = sessions.session_version(user)
        flash(gettext("Your password has been changed."), "success")
        return redirect(self.appbuilder.get_url_for_index)


class ScopedResetPasswordView(ResetPasswordView):
    """FAB's admin reset (?pk=): the user is fetched through the scoped session, so a
    foreign pk answers 404; the reset forces a change at next login."""

    def form_post(self, form):
        from flask import abort

        pk = request.args.get("pk", type=int)
        user = self.appbuilder.sm.get_user_by_id(pk) if pk else None
        if user is None:
            abort(404)
        try:
            self.appbuilder.sm.reset_password(user.id, form.password.data, by_owner=False)
        except PasswordPolicyError as exc:
            flash(str(exc), "danger")
            return
        audit.record(db.session, "password_reset", target=user)
        db.session.commit()
        flash(gettext("Password reset; the user must change it at next login."), "info")


# ----- forgot password ------------------------------------------------------------------
def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(user) -> str:
    # Any password change voids the link (single use); the hash itself is not disclosed.
    return sessions.session_version(user)[:16]


def make_reset_token(user) -> str:
    return _reset_serializer().dumps({"uid": user.id, "ph": _password_fingerprint(user)})


def read_reset_token(token: str):
    """The user a valid, unexpired, unused token names; None otherwise."""
    max_age = current_app.config.get("PASSWORD_RESET_MAX_AGE", 1800)
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = current_app.appbuilder.sm.get_user_by_id(data.get("uid"))
    if user is None or not user.is_active or data.get("ph") != _password_fingerprint(user):
        return None
    return user


class ForgotPasswordView(BaseView):
    route_base = "/forgot-password"
    default_view = "forgot"

    @expose("/", methods=["GET", "POST"])
    @limit(_forgot_limit, methods=["POST"])
    def forgot(self):
        form = ForgotPasswordForm()
        if form.validate_on_submit():
            if not captcha.check(form.captcha.data):
                flash(gettext("The verification code is wrong; try the new one."), "warning")
            else:
                sm = self.appbuilder.sm
                name = form.username.data.strip()
                user = sm.find_user(username=sm.login_name(name)) or sm.find_user(email=name)
                if user is not None and user.is_active and user.email:
                    # Never from the Host header: a forged Host would send the token away.
                    link = current_app.config["PUBLIC_BASE_URL"] + url_for(
                        "PasswordResetView.reset", token=make_reset_token(user))
                    send_mail(user.email, gettext("RegPortal password reset"),
                              gettext("Open this link within 30 minutes to set a new password "
                                      "for %(user)s:\n\n%(link)s\n\nIf you did not ask for "
                                      "it, ignore this message.", user=user.username,
                                      link=link))
                # The same answer either way: the page never reveals who has an account.
                flash(gettext("If the account exists, a reset link has been sent to its "
                              "e-mail address. The link is valid for 30 minutes."), "info")
                return redirect(self.appbuilder.get_url_for_login)
        return self.render_template("accounts/forgot_password.html", form=form,
                                    appbuilder=self.appbuilder,
                                    captcha_enabled=captcha.enabled())


class PasswordResetView(BaseView):
    route_base = "/reset-password"

    @expose("/<token>", methods=["GET", "POST"])
    @limit(_login_limit, methods=["POST"])
    def reset(self, token):
        user = read_reset_token(token)
        if user is None:
            flash(gettext("The reset link is invalid, expired or already used."), "danger")
            return redirect(url_for("ForgotPasswordView.forgot"))
        form = NewPasswordForm()
        if form.validate_on_submit():
            try:
                self.appbuilder.sm.reset_password(user.id, form.password.data, by_owner=True)
            except PasswordPolicyError as exc:
                flash(str(exc), "danger")
            else:
                audit.record(db.session, "password_reset", actor=user, target=user,
                             detail=gettext("Forgot-password link"))
                db.session.commit()
                flash(gettext("Your password has been set. Please log in."), "success")
                return redirect(self.appbuilder.get_url_for_login)
        return self.render_template("accounts/reset_password.html", form=form,
                                    appbuilder=self.appbuilder)


# ----- TOTP enrolment ---------------------------------------------------------------------
class TwoFactorView(BaseView):
    """Enrol (QR + confirm), show remaining recovery codes, regenerate, disable (optional
    roles only). Any logged-in user may use it for their own account."""

    route_base = "/two-factor"
    default_view = "index"
    limits = [Limit(_login_limit, _current_user_key, methods=["POST"])]

    @expose("/", methods=["GET"])
    def index(self):
        if not g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login)
        user = g.user
        if not user.totp_enabled:
            return redirect(url_for("TwoFactorView.enrol"))
        return self.render_template(
            "accounts/two_factor.html", appbuilder=self.appbuilder, user=user,
            remaining=totp.remaining_recovery_codes(user),
            mandatory=self.appbuilder.sm.totp_required(user), form=FlaskForm(),
        )

    @expose("/enrol/", methods=["GET", "POST"])
    def enrol(self):
        if not g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login)
        user = self.appbuilder.sm.get_user_by_id(g.user.id)
        if user.totp_enabled:
            return redirect(url_for("TwoFactorView.index"))
        pending = session.get("totp_enrol")
        if not pending or pending.get("uid") != user.id:
            pending = {"uid": user.id, "secret": totp.new_secret()}
            session["totp_enrol"] = pending
        secret = pending["secret"]
        form = TotpForm()
        if form.validate_on_submit():
            if totp.verify_code(secret, form.code.data):
                user.totp_secret = secret
                user.totp_enabled = True
                codes = totp.new_recovery_codes(user)
                audit.record(db.session, "totp", target=user, detail="enrolled")
                db.session.commit()
                session.pop("totp_enrol", None)
                session[sessions.SESSION_KEY] = sessions.session_version(user)
                return self.render_template("accounts/recovery_codes.html", codes=codes,
                                            appbuilder=self.appbuilder)
            flash(gettext("The code is wrong; check the time on your phone and try again."),
                  "danger")
        uri = totp.provisioning_uri(secret, user.username)
        return self.render_template(
            "accounts/totp_enrol.html", form=form, appbuilder=self.appbuilder, secret=secret,
            qr=totp.qr_data_uri(uri), mandatory=self.appbuilder.sm.totp_required(user),
        )

    @expose("/recovery-codes/", methods=["POST"])
    def regenerate(self):
        if not g.user.is_authenticated or not g.user.totp_enabled:
            return redirect(self.appbuilder.get_url_for_login)
        form = TotpForm()
        user = self.appbuilder.sm.get_user_by_id(g.user.id)
        if form.validate_on_submit() and totp.verify_user_code(user, form.code.data):
            codes = totp.new_recovery_codes(user)
            audit.record(db.session, "totp", target=user, detail="recovery codes renewed")
            db.session.commit()
            return self.render_template("accounts/recovery_codes.html", codes=codes,
                                        appbuilder=self.appbuilder)
        flash(gettext("The code is wrong or already used."), "danger")
        return redirect(url_for("TwoFactorView.index"))

    @expose("/disable/", methods=["POST"])
    def disable(self):
        if not g.user.is_authenticated or not g.user.totp_enabled:
            return redirect(self.appbuilder.get_url_for_login)
        user = self.appbuilder.sm.get_user_by_id(g.user.id)
        if self.appbuilder.sm.totp_required(user):
            flash(gettext("Two-factor authentication is mandatory for your role."), "danger")
            return redirect(url_for("TwoFactorView.index"))
        form = TotpForm()
        if form.validate_on_submit() and totp.verify_user_code(user, form.code.data):
            totp.remove(user)
            audit.record(db.session, "totp", target=user, detail="disabled")
            db.session.commit()
            session[sessions.SESSION_KEY] = sessions.session_version(user)
            flash(gettext("Two-factor authentication is off."), "info")
            return redirect(self.appbuilder.get_url_for_index)
        flash(gettext("The code is wrong or already used."), "danger")
        return redirect(url_for("TwoFactorView.index"))


# ----- API login ------------------------------------------------------------------------
class AppSecurityApi(SecurityApi):
    """FAB's /api/v1/security/login, with rate limits, audit and the TOTP step."""

    limits = [
        Limit(_login_limit, get_remote_address, methods=["POST"], exempt_when=_not_a_login),
        Limit(_login_limit, _username_key, methods=["POST"], exempt_when=_not_a_login),
    ]

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=gettext("Request payload is not JSON"))
        code = body.pop("totp", None)
        try:
            payload = login_post.load(body)
        except ValidationError as error:
            return self.response_400(message=error.messages)
        if payload.get("provider", "db") != "db":
            return self.response_400(message=gettext("Only the db provider is available."))
        sm = self.appbuilder.sm
        user = sm.auth_user_db(payload["username"], payload["password"])
        if not user:
            audit.record(db.session, "login_failed", actor_name=payload["username"][:128],
                         target_type="ab_user", detail="API")
            db.session.commit()
            return self.response_401()
        refusal = api_refusal(user)
        if refusal:
            audit.record(db.session, "login_failed", actor_name=user.username, target=user,
                         detail=f"API: {refusal}")
            db.session.commit()
            return self.response(403, message=refusal)
        if user.totp_enabled and not totp.verify_user_code(user, str(code or "")):
            audit.record(db.session, "login_failed", actor_name=user.username, target=user,
                         detail="API: two-factor code")
            db.session.commit()
            return self.response(401, message=gettext(
                "A valid two-factor code is required in the \"totp\" field."))
        audit.record(db.session, "login", actor=user, target=user, detail="API")
        db.session.commit()
        claims = {sessions.JWT_CLAIM: sessions.session_version(user)}
        resp = {API_SECURITY_ACCESS_TOKEN_KEY: create_access_token(
            identity=str(user.id), fresh=True, additional_claims=claims)}
        if payload.get("refresh"):
            resp[API_SECURITY_REFRESH_TOKEN_KEY] = create_refresh_token(
                identity=str(user.id), additional_claims=claims)
        return self.response(200, **resp)

    @expose("/refresh", methods=["POST"])
    @jwt_required(refresh=True)
    @safe
    def refresh(self):
        """A new access token, only while the refresh token's user still passes every gate
        (active, same password and 2FA enrolment, no forced change, not logged out)."""
        user = self.appbuilder.sm.get_user_by_id(int(get_jwt_identity()))
        if user is None or not user.is_active or not sessions.matches(
                user, get_jwt().get(sessions.JWT_CLAIM)):
            return self.response_401()
        refusal = api_refusal(user)
        if refusal:
            return self.response(403, message=refusal)
        audit.record(db.session, "login", actor=user, target=user, detail="API token refresh")
        db.session.commit()
        token = create_access_token(identity=str(user.id), fresh=False, additional_claims={
            sessions.JWT_CLAIM: sessions.session_version(user)})
        return self.response(200, **{API_SECURITY_ACCESS_TOKEN_KEY: token})


def api_refusal(user) -> str | None:
    """Why this user may not use the API now (forced change, missing 2FA), or None."""
    if user.must_change_password:
        return gettext("You must change your password on the web page before using the API.")
    if current_app.appbuilder.sm.totp_required(user) and not user.totp_enabled:
        return gettext("Enrol in two-factor authentication on the web page before using "
                       "the API.")
    return None


# ----- outbox -----------------------------------------------------------------------------
class OutboxView(BaseView):
    """Mail that went nowhere because no SMTP server is configured (system admins)."""

    route_base = "/outbox"
    default_view = "index"
    class_permission_name = "Outbox"
    method_permission_name = {"index": "list"}

    @expose("/")
    @has_access
    def index(self):
        from app.models.outbox import OutboxMessage

        rows = db.session.query(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(100).all()
        return self.render_template("accounts/outbox.html", rows=rows,
                                    appbuilder=self.appbuilder)
