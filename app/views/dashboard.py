"""Dashboard (SPEC X17): case counts, vehicles by state and cases by month in the user's
scope, charted as server-side SVG; the same figures as JSON at /api/v1/dashboard/."""

from __future__ import annotations

from flask import g
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import has_access, protect
from flask_babel import gettext

from app.models.rental import STATE_LABELS as VEHICLE_STATE_LABELS
from app.security import PV_DASHBOARD
from app.services import dashboard, inbox
from app.services.announcements import sectors_of
from app.services.charts import bar_chart


def shows_vehicles(user) -> bool:
    """The vehicle chart is for whoever's scope includes rental (system users: always)."""
    sectors = sectors_of(user)
    return sectors is None or "rental" in sectors


class DashboardView(BaseView):
    route_base = "/dashboard"
    default_view = "index"
    class_permission_name = PV_DASHBOARD
    method_permission_name = {"index": "list"}

    @expose("/")
    @has_access
    def index(self):
        user = g.user
        counts = dashboard.case_counts()
        months = dashboard.cases_by_month()
        cases_chart = bar_chart(
            months["months"],
            [(gettext("Received"), months["received"]), (gettext("Decided"),
                                                         months["decided"])],
            title=gettext("Cases by month (last 12 months)"), chart_id="chart-cases")
        vehicles = vehicle_chart = None
        if shows_vehicles(user):
            vehicles = dashboard.vehicles_by_state()
            vehicle_chart = bar_chart(
                [str(VEHICLE_STATE_LABELS.get(s, s)) for s, _n in vehicles],
                [(gettext("Vehicles"), [n for _s, n in vehicles])],
                title=gettext("Vehicles by state"), chart_id="chart-vehicles",
                width=420, height=240)
        return self.render_template(
            "dashboard/index.html", counts=counts, months=months, cases_chart=cases_chart,
            vehicles=vehicles, vehicle_chart=vehicle_chart,
            vehicle_labels=VEHICLE_STATE_LABELS, reviewer=inbox.is_reviewer(user),
            enterprise=bool(user.enterprise_id), appbuilder=self.appbuilder)


class DashboardApi(BaseApi):
    resource_name = "dashboard"
    class_permission_name = PV_DASHBOARD
    method_permission_name = {"get": "list"}
    allow_browser_login = False
    openapi_spec_tag = "Dashboard"

    @expose("/", methods=["GET"])
    @protect()
    def get(self):
        """Case counts, cases by month and vehicles by state, in the caller's scope.
        ---
        get:
          responses:
            200:
              description: the figures
            401:
              $ref: '#/components/responses/401'
        """
        data = {"counts": dashboard.case_counts(), "cases_by_month": dashboard.cases_by_month()}
        if shows_vehicles(g.user):
            data["vehicles_by_state"] = dict(dashboard.vehicles_by_state())
        return self.response(200, **data)
