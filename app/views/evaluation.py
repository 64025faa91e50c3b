"""Service evaluations (好差评, seed 002 "好差评", SPEC P14): pages and APIs.

- `/power/evaluations/case/<case_id>` (enterprise, can_add Evaluation): the evaluation of one
  of its ended power cases, reached from the inbox to-do ("evaluation" provider); another
  enterprise's case, an open case or an unknown id is a 404; one evaluation per case.
- `/public/evaluate/<token>` (anyone; captcha, per-IP rate limit on POST, CSRF): the page a
  scanned QR code opens; an unknown or switched-off code is a 404; then `/thanks`.
- `/power/evaluation-codes/` (authority, can_codes): the authority's codes per service
  (一次一评) and per matter (一事一评): "generate", the QR page (image, link, print), the PNG,
  switch off / on.
- `/power/evaluations/` (authority and auditor: list, show, export; can_list / can_export):
  results with filters, the mobile masked (139****1234) in the list and the export; the
  satisfaction chart `/power/evaluations/chart/` with its .xlsx summary.
- REST: `/api/v1/evaluation/` (read-only, mobile masked) and `/api/v1/evaluation_code/`
  (list, show, POST generates a code), both scoped like the pages.

Scope: app/models/evaluation.py adds the ORM criteria; `FilterEvaluationScope` repeats them
as base filters so counts agree. Operations: app/services/evaluations.py.
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import (
    FilterEqual,
    FilterGreater,
    FilterSmaller,
    get_field_setup_query,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_appbuilder.utils.limit import Limit
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import false
from werkzeug.wrappers import Response
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.errors import DomainError
from app.extensions import db
from app.models.base import AUTHORITY, ENTERPRISE, current_scope
from app.models.evaluation import (
    ASPECTS,
    CHANNELS,
    CODE_KINDS,
    COMMENT_MAX,
    NAME_MAX,
    SATISFACTION,
    TITLE_MAX,
    Evaluation,
    EvaluationCode,
    aspects_text,
    mask_mobile,
    satisfaction_label,
)
from app.security import PV_EVALUATION
from app.services import audit, captcha, xlsx
from app.services import evaluations as svc
from app.services.export import XLSX_MIME
from app.services.verification import qr_png
from app.views.base import AppModelRestApi, AppModelView, send_and_remove


def _rate_limit() -> str:
    return current_app.config.get("EVALUATION_RATE_LIMIT", "10 per minute")


# ----- scope ----------------------------------------------------------------------------------
class FilterEvaluationScope(BaseFilter):
    """base_filters twin of the ORM criteria of app/models/evaluation.py:
    `[["enterprise_id", FilterEvaluationScope, lambda: None]]` on evaluations,
    `[["authority_id", FilterEvaluationScope, lambda: None]]` on codes."""

    name = "In scope"
    arg_name = "evaluation_scope"

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        scope = current_scope()
        if scope is None or scope.unrestricted:
            return query
        if self.column_name == "authority_id":
            if scope.kind == AUTHORITY:
                return query.filter(field == scope.authority_id)
            return query.filter(false())
        if scope.kind == ENTERPRISE:
            return query.filter(field == scope.enterprise_id)
        if scope.kind == AUTHORITY:
            return query  # jurisdiction and own codes: the ORM criteria on this query
        return query.filter(false())


class FilterCodeKindArg(BaseFilter):
    """`?kind=service|matter` on the code list: the seed's 一次一评 / 一事一评 pages."""

    name = "Kind"
    arg_name = "kind_arg"

    def apply(self, query, value):
        kind = request.args.get("kind")
        if kind in CODE_KINDS:
            return query.filter(EvaluationCode.kind == kind)
        return query


# ----- labels and formatters ----------------------------------------------------------------
LABELS = {
    "created_on": _l("Evaluated on"),
    "satisfaction": _l("Satisfaction"),
    "satisfaction_label": _l("Satisfaction"),
    "channel": _l("Evaluation channel"),
    "channel_label": _l("Evaluation channel"),
    "mobile": _l("Mobile number"),
    "masked_mobile": _l("Mobile number"),
    "name": _l("Evaluator"),
    "aspects": _l("Aspects evaluated"),
    "aspects_text": _l("Aspects evaluated"),
    "comment": _l("Comments and suggestions"),
    "case": _l("Case"),
    "case.reference": _l("Case reference"),
    "case.title": _l("Case"),
    "enterprise": _l("Enterprise"),
    "enterprise.name": _l("Enterprise"),
    "code": _l("Evaluation code"),
    "code.title": _l("Service or matter"),
    "code.kind": _l("Kind of code"),
    "subject": _l("Service or matter"),
}
CODE_LABELS = {
    "title": _l("Service or matter"),
    "kind": _l("Kind of code"),
    "kind_label": _l("Kind of code"),
    "matter": _l("Matter"),
    "matter_label": _l("Matter"),
    "case.reference": _l("Case reference"),
    "active": _l("In use"),
    "created_on": _l("Generated on"),
    "authority.name": _l("Authority"),
    "id": _l("QR code"),
    "path": _l("Link"),
}


def _datetime(value):
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _code_kind(value):
    return str(CODE_KINDS.get(value, value or ""))


def _channel(value):
    return str(CHANNELS.get(value, value or ""))


def _stars(value):
    if value not in SATISFACTION:
        return ""
    return Markup('<span class="evaluation-level evaluation-level-{}">{}</span>').format(
        int(value), satisfaction_label(value))


def _filter_index(view_cls, column: str, kind) -> int:
    filters = view_cls.datamodel.get_filters([column]).get_search_filters()[column]
    return next(i for i, f in enumerate(filters) if isinstance(f, kind))


# ----- forms ----------------------------------------------------------------------------------
class Starred:
    """Marks a field required (the star, the browser's `required`); the service checks it
    and reports every error at once."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        return None


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EvaluationForm(FlaskForm):
    satisfaction = RadioField(_l("Satisfaction"), validators=[Starred()], validate_choice=False,
                              choices=[(str(k), v) for k, v in SATISFACTION.items()])
    aspects = MultiCheckboxField(_l("Aspects evaluated"), choices=list(ASPECTS.items()),
                                 validate_choice=False)
    comment = TextAreaField(_l("Comments and suggestions"),
                            description=_l("At most 500 characters."))
    name = StringField(_l("Evaluator"))
    mobile = StringField(_l("Mobile number"), validators=[Starred()],
                         description=_l("One evaluation per mobile number every 5 days."))

    def values(self) -> dict:
        return {"satisfaction": self.satisfaction.data, "mobile": self.mobile.data,
                "name": self.name.data, "aspects": self.aspects.data or [],
                "comment": self.comment.data}


class PublicEvaluationForm(EvaluationForm):
    captcha = StringField(_l("Verification code"), validators=[Length(max=8)])


class CodeForm(FlaskForm):
    kind = RadioField(_l("Kind of code"), validators=[Starred()], validate_choice=False,
                      choices=list(CODE_KINDS.items()), default="service")
    title = StringField(_l("Service or matter"), validators=[Starred()],
                        description=_l("e.g. 许可受理窗口, or the matter's name."))
    matter = SelectField(_l("Matter"), validate_choice=False,
                         description=_l("Per matter only: the licensing matter evaluated."))
    case_reference = StringField(_l("Case reference"),
                                 description=_l("Per matter only, optional: one case of your "
                                                "jurisdiction."))


def _apply_errors(form, errors: dict) -> None:
    for name, message in errors.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
        else:
            flash(message, "danger")


# ----- the enterprise's evaluation of a case ----------------------------------------------------
class EvaluationCaseView(BaseView):
    """After a case ends the enterprise evaluates it once (seed: 一事一评界面 / 好差评服务页面)."""

    route_base = "/power/evaluations"
    class_permission_name = PV_EVALUATION
    method_permission_name = {"case": "add"}

    @expose("/case/<int:case_id>", methods=["GET", "POST"])
    @has_access
    def case(self, case_id):
        try:
            case = svc.case_for_evaluation(case_id, g.user)
        except svc.EvaluationCaseError:
            abort(404)
        existing = svc.evaluation_of_case(case.id)
        form = EvaluationForm(data=None if request.method == "POST" else {
            "mobile": g.user.mobile or (case.enterprise.contact_mobile if case.enterprise
                                        else "")})
        status = 200
        if request.method == "POST" and existing is None:
            status = 422
            if form.validate_on_submit():
                try:
                    svc.submit(case=case, user=g.user, **form.values())
                except svc.EvaluationInvalidError as exc:
                    _apply_errors(form, exc.errors)
                except svc.EvaluationMobileLockedError as exc:
                    form.mobile.errors = [*form.mobile.errors, str(exc)]
                    status = exc.code
                except svc.EvaluationExistsError as exc:
                    flash(str(exc), "warning")
                    existing = svc.evaluation_of_case(case.id)
                    status = exc.code
                else:
                    flash(gettext("Thank you for your evaluation."), "success")
                    return redirect(_home_url())
        elif request.method == "POST":
            status = 409
            flash(gettext("This case has already been evaluated."), "warning")
        return self.render_template(
            "evaluation/case.html", case=case, form=form, existing=existing,
            comment_max=COMMENT_MAX, name_max=NAME_MAX, appbuilder=self.appbuilder), status


def _home_url() -> str:
    if current_app.appbuilder.sm.has_access("can_list", "Inbox"):
        return url_for("InboxView.index")
    return current_app.appbuilder.get_url_for_index


# ----- the public page of a QR code -----------------------------------------------------------
class PublicEvaluationView(BaseView):
    """扫码一次一评 / 扫码一事一评: anyone who scans the code."""

    route_base = "/public/evaluate"
    limits = [Limit(_rate_limit, lambda: "evaluate:" + get_remote_address(),
                    methods=["POST"])]

    def _render(self, template, status=200, **kwargs):
        return self.render_template(f"evaluation/{template}", appbuilder=self.appbuilder,
                                    captcha_enabled=captcha.enabled(), **kwargs), status

    @expose("/<token>", methods=["GET", "POST"])
    def evaluate(self, token):
        code = svc.active_code(token)
        if code is None:
            abort(404)
        form = PublicEvaluationForm()
        status = 200
        if request.method == "POST":
            status = 422
            valid = form.validate_on_submit()
            if valid and captcha.check_form(form):
                try:
                    svc.submit(code=code, **form.values())
                except svc.EvaluationInvalidError as exc:
                    _apply_errors(form, exc.errors)
                except svc.EvaluationMobileLockedError as exc:
                    form.mobile.errors = [*form.mobile.errors, str(exc)]
                    status = exc.code
                except svc.EvaluationCaseError:
                    abort(404)
                else:
                    return redirect(url_for(".thanks", token=token))
        form.captcha.data = ""
        return self._render("public.html", status, code=code, form=form,
                            comment_max=COMMENT_MAX, name_max=NAME_MAX)

    @expose("/<token>/thanks")
    def thanks(self, token):
        code = svc.active_code(token)
        if code is None:
            abort(404)
        return self._render("public_thanks.html", code=code)


# ----- the authority's QR codes ---------------------------------------------------------------
class EvaluationCodeView(AppModelView):
    """一次一评 / 一事一评: generate a code, then open its QR image and link."""

    datamodel = SQLAInterface(EvaluationCode)
    class_permission_name = PV_EVALUATION
    route_base = "/power/evaluation-codes"
    base_permissions = ["can_codes", "can_export"]
    method_permission_name = {"list": "codes", "generate": "codes", "qr": "codes",
                              "qr_png": "codes", "toggle": "codes", "export": "export"}
    include_route_methods = {"list", "generate", "qr", "qr_png", "toggle", "export"}
    list_title = _l("Evaluation QR codes")
    export_title = "evaluation-codes"
    label_columns = CODE_LABELS
    list_columns = ["title", "kind", "matter_label", "case.reference", "active", "created_on",
                    "id"]
    export_columns = ["title", "kind", "matter_label", "case.reference", "active",
                      "created_on", "path"]
    export_formatters = {"kind": _code_kind}
    search_columns = ["title", "kind", "active", "created_on"]
    order_columns = ["title", "created_on"]
    base_order = ("id", "desc")
    base_filters = [["authority_id", FilterEvaluationScope, lambda: None],
                    ["kind", FilterCodeKindArg, lambda: None]]
    formatters_columns = {
        "kind": _code_kind,
        "created_on": _datetime,
        "id": lambda pk: Markup('<a class="evaluation-qr-link" href="{}">'
                                '<i class="fa fa-qrcode"></i> {}</a>').format(
            url_for("EvaluationCodeView.qr", pk=pk), gettext("QR code and link")),
    }
    list_template = "evaluation/code_list.html"

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs["kinds"] = list(CODE_KINDS.items())
            kwargs["kind"] = request.args.get("kind", "")
        return super().render_template(template, **kwargs)

    def _code(self, pk) -> EvaluationCode:
        code = self.datamodel.get(pk, self._base_filters)
        if code is None:
            abort(404)
        return code

    @expose("/generate", methods=["GET", "POST"])
    @has_access
    def generate(self):
        kind = request.args.get("kind")
        form = CodeForm(data=None if request.method == "POST" else {
            "kind": kind if kind in CODE_KINDS else "service"})
        form.matter.choices = [("", gettext("(choose)")), *svc.matter_choices()]
        status = 200
        if request.method == "POST":
            status = 422
            if form.validate_on_submit():
                try:
                    code = svc.create_code(svc.CodeRequest(
                        kind=form.kind.data, title=form.title.data, matter=form.matter.data,
                        case_reference=form.case_reference.data), g.user)
                except svc.EvaluationCodeError as exc:
                    db.session.rollback()
                    _apply_errors(form, exc.errors)
                else:
                    flash(gettext("The QR code has been generated."), "success")
                    return redirect(url_for(".qr", pk=code.id))
        return self.render_template("evaluation/code_generate.html", form=form,
                                    title_max=TITLE_MAX, appbuilder=self.appbuilder), status

    @expose("/qr/<int:pk>")
    @has_access
    def qr(self, pk):
        code = self._code(pk)
        return self.render_template("evaluation/code_qr.html", code=code,
                                    url=svc.public_url(code), appbuilder=self.appbuilder)

    @expose("/qr/<int:pk>.png")
    @has_access
    def qr_png(self, pk):
        code = self._code(pk)
        resp = Response(qr_png(svc.public_url(code), box_size=10), mimetype="image/png")
        resp.headers["Cache-Control"] = "private, no-store"
        if request.args.get("download"):
            resp.headers["Content-Disposition"] = f'attachment; filename="evaluation-{pk}.png"'
        return resp

    @expose("/toggle/<int:pk>", methods=["POST"])
    @has_access
    def toggle(self, pk):
        code = self._code(pk)
        svc.set_code_active(code, not code.active)
        flash(gettext("The code is in use again.") if code.active
              else gettext("The code is switched off: its page answers “not found”."), "info")
        return redirect(url_for(".qr", pk=code.id))


# ----- results --------------------------------------------------------------------------------
EXPORT_COLUMNS = ["created_on", "satisfaction", "channel", "case.reference", "case.title",
                  "enterprise.name", "code.title", "code.kind", "mobile", "name", "aspects",
                  "comment"]
EXPORT_FORMATTERS = {"satisfaction": satisfaction_label, "channel": _channel,
                     "mobile": mask_mobile, "aspects": aspects_text, "code.kind": _code_kind}


class EvaluationView(AppModelView):
    """Results (authority: its jurisdiction's cases and its own codes; auditors read and
    export)."""

    datamodel = SQLAInterface(Evaluation)
    class_permission_name = PV_EVALUATION
    route_base = "/power/evaluations"
    base_permissions = ["can_list", "can_show", "can_export"]
    method_permission_name = {"list": "list", "show": "show", "export": "export",
                              "chart": "list", "chart_export": "export"}
    include_route_methods = {"list", "show", "export", "chart", "chart_export"}
    list_title = _l("Service evaluations")
    show_title = _l("Service evaluation")
    export_title = "evaluations"
    label_columns = LABELS
    list_columns = ["created_on", "satisfaction", "channel", "case.reference",
                    "enterprise.name", "code.title", "mobile", "name", "comment"]
    show_columns = ["created_on", "satisfaction", "channel", "case.reference", "case.title",
                    "enterprise.name", "code.title", "code.kind", "mobile", "name",
                    "aspects", "comment"]
    export_columns = EXPORT_COLUMNS
    export_formatters = EXPORT_FORMATTERS
    search_columns = ["created_on", "satisfaction", "channel", "code"]
    order_columns = ["created_on", "satisfaction"]
    base_order = ("created_on", "desc")
    base_filters = [["enterprise_id", FilterEvaluationScope, lambda: None]]
    formatters_columns = {
        "created_on": _datetime,
        "satisfaction": _stars,
        "channel": _channel,
        "mobile": mask_mobile,  # the show page overrides it (full number for follow-up)
        "aspects": aspects_text,
        "code.kind": _code_kind,
        "comment": lambda v: (v[:60] + "…") if v and len(v) > 60 else (v or ""),
    }
    list_template = "evaluation/list.html"
    show_template = "evaluation/show.html"

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs["levels"] = list(SATISFACTION.items())
            kwargs["channels"] = list(CHANNELS.items())
            for key, column, kind in (("level_arg", "satisfaction", FilterEqual),
                                      ("channel_arg", "channel", FilterEqual),
                                      ("from_arg", "created_on", FilterGreater),
                                      ("to_arg", "created_on", FilterSmaller)):
                kwargs[key] = f"_flt_{_filter_index(self, column, kind)}_{column}"
        return super().render_template(template, **kwargs)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return self.render_template(self.show_template, item=item, title=self.show_title,
                                    appbuilder=self.appbuilder)

    # ---- the satisfaction chart ---------------------------------------------------------
    def _chart_args(self) -> dict:
        import datetime

        def day(name):
            try:
                return datetime.date.fromisoformat((request.args.get(name) or "")[:10])
            except ValueError:
                return None

        channel = request.args.get("channel")
        try:
            code_id = int(request.args.get("code") or 0)
        except ValueError:
            code_id = 0
        return {"start": day("start"), "end": day("end"),
                "channel": channel if channel in CHANNELS else "",
                "code": code_id if 0 < code_id < 2**31 else 0}

    def _chart_query(self, args: dict):
        import datetime

        query = db.session.query(Evaluation)
        query = FilterEvaluationScope("enterprise_id", self.datamodel).apply(query, None)
        if args["start"]:
            query = query.filter(Evaluation.created_on >= datetime.datetime.combine(
                args["start"], datetime.time()))
        if args["end"]:
            query = query.filter(Evaluation.created_on < datetime.datetime.combine(
                args["end"] + datetime.timedelta(days=1), datetime.time()))
        if args["channel"]:
            query = query.filter(Evaluation.channel == args["channel"])
        if args["code"]:
            query = query.filter(Evaluation.code_id == args["code"])
        return query

    @expose("/chart/")
    @has_access
    def chart(self):
        from app.services.charts import bar_chart

        args = self._chart_args()
        summary = svc.summary(self._chart_query(args))
        chart = bar_chart([str(v) for v in SATISFACTION.values()],
                          [(gettext("Evaluations"), [summary.counts[k] for k in SATISFACTION])],
                          title=gettext("Evaluations by satisfaction"),
                          chart_id="chart-satisfaction")
        codes = db.session.query(EvaluationCode).order_by(EvaluationCode.title).all()
        return self.render_template(
            "evaluation/chart.html", summary=summary, chart=chart, args=args,
            levels=list(SATISFACTION.items()), channels=list(CHANNELS.items()), codes=codes,
            may_export=self.appbuilder.sm.has_access("can_export", PV_EVALUATION),
            appbuilder=self.appbuilder)

    @expose("/chart/export/")
    @has_access
    def chart_export(self):
        args = self._chart_args()
        summary = svc.summary(self._chart_query(args))
        headers = [gettext("Satisfaction"), gettext("Evaluations"), gettext("Share")]
        title = gettext("Satisfaction summary")
        path = xlsx.written(lambda p: xlsx.write_rows(p, headers, svc.summary_rows(summary),
                                                      sheet_title=title))
        span = "_".join(d.isoformat() for d in (args["start"], args["end"]) if d) or "all"
        audit.record(db.session, "export", target_type="evaluation", target_label=title,
                     detail=gettext("Satisfaction summary %(args)s", args=request.query_string
                                    .decode(errors="replace")[:200] or gettext("none")))
        db.session.commit()
        return send_and_remove(path, f"evaluation_summary_{span}.xlsx", XLSX_MIME)


# ----- REST -----------------------------------------------------------------------------------
def _mask_results(data, key="result"):
    rows = data.get(key)
    for row in rows if isinstance(rows, list) else [rows] if isinstance(rows, dict) else []:
        if "mobile" in row:
            row["mobile"] = mask_mobile(row["mobile"])


class EvaluationApi(AppModelRestApi):
    """`/api/v1/evaluation/`: read-only, the caller's scope, the mobile masked."""

    resource_name = "evaluation"
    datamodel = SQLAInterface(Evaluation)
    class_permission_name = PV_EVALUATION
    include_route_methods = {"get", "get_list", "info"}
    list_columns = ["id", "created_on", "satisfaction", "channel", "case_id", "enterprise_id",
                    "enterprise.name", "code_id", "code.title", "mobile", "name", "aspects",
                    "comment"]
    show_columns = list_columns
    search_columns = ["created_on", "satisfaction", "channel", "code_id", "case_id",
                      "enterprise_id"]
    order_columns = ["id", "created_on", "satisfaction"]
    base_order = ("id", "desc")
    base_filters = [["enterprise_id", FilterEvaluationScope, lambda: None]]
    export_columns = EXPORT_COLUMNS
    export_formatters = EXPORT_FORMATTERS
    openapi_spec_tag = "Service evaluations"

    def pre_get_list(self, data):
        _mask_results(data)

    def pre_get(self, data):
        _mask_results(data)


class EvaluationCodeApi(AppModelRestApi):
    """`/api/v1/evaluation_code/`: the authority's own codes; POST generates one
    (`{"kind": "service"|"matter", "title", "matter", "case_reference"}`)."""

    resource_name = "evaluation_code"
    datamodel = SQLAInterface(EvaluationCode)
    class_permission_name = PV_EVALUATION
    method_permission_name = {"get_list": "codes", "get": "codes", "info": "codes",
                              "export": "export", "post": "codes"}
    include_route_methods = {"get", "get_list", "info", "post"}
    list_columns = ["id", "kind", "title", "matter", "case_id", "active", "created_on",
                    "token"]
    show_columns = list_columns
    add_columns = ["kind", "title", "matter"]
    search_columns = ["kind", "title", "active", "created_on"]
    order_columns = ["id", "created_on", "title"]
    base_order = ("id", "desc")
    base_filters = [["authority_id", FilterEvaluationScope, lambda: None]]
    openapi_spec_tag = "Service evaluations"

    def _with_url(self, row):
        if isinstance(row, dict) and row.get("token"):
            from app.services.verification import public_base_url

            row["url"] = public_base_url() + "/public/evaluate/" + row["token"]
            row["qr_url"] = url_for("EvaluationCodeView.qr_png", pk=row["id"])

    def pre_get_list(self, data):
        for row in data.get("result") or []:
            self._with_url(row)

    def pre_get(self, data):
        self._with_url(data.get("result"))

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def post(self):
        """Generate an evaluation code of the caller's authority
        ---
        post:
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    kind: {type: string, enum: [service, matter]}
                    title: {type: string}
                    matter: {type: string}
                    case_reference: {type: string}
          responses:
            201:
              description: the code, with its public url
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            422:
              description: "{message, errors: {field: message}}"
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        try:
            code = svc.create_code(svc.CodeRequest(
                kind=str(body.get("kind") or ""), title=str(body.get("title") or ""),
                matter=str(body.get("matter") or ""),
                case_reference=str(body.get("case_reference") or "")), g.user)
        except svc.EvaluationCodeError as exc:
            db.session.rollback()
            return self.response(exc.code, message=str(exc), errors=exc.errors)
        except DomainError as exc:
            db.session.rollback()
            return self.response(exc.code, message=str(exc))
        result = self.show_model_schema.dump(code, many=False)
        self._with_url(result)
        return self.response(201, id=code.id, result=result)


__all__ = ["EvaluationApi", "EvaluationCaseView", "EvaluationCodeApi", "EvaluationCodeView",
           "EvaluationView", "FilterEvaluationScope", "PublicEvaluationView"]
