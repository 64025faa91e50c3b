"""Dashboard (SPEC X17): counts and charts match the rows, in the user's scope, computed by
aggregate SQL; SVG charts escape their labels."""

from __future__ import annotations

import datetime
import itertools
import xml.etree.ElementTree as ET

import pytest
from conftest import api_token, bearer, clear_demo_cases, ids
from test_inbox_views import make_case

from app.models.rental import Vehicle
from app.services.charts import bar_chart, nice_max
from app.services.dashboard import add_months, month_start

TODAY = datetime.date.today()
_vin = itertools.count(1)



@pytest.fixture(autouse=True)
def _no_demo_cases(app, db_session):
    """These tests count exactly the cases they make: start without the demo's."""
    clear_demo_cases(db_session, vehicles=True, notifications=True)


def _last_month_day() -> int:
    """Days ago that fall in the previous calendar month."""
    return TODAY.day + 1


@pytest.fixture()
def figures(db_session):
    k = ids(db_session)
    a, b, c = k["ent_a"], k["ent_b"], k["ent_c"]
    mk = make_case
    for args in [
        (a, "submitted", "A 待审 1", {"deadline_days": 3}),
        (a, "submitted", "A 逾期", {"deadline_days": -1}),
        (a, "returned", "A 退回", {}),
        (a, "approved", "A 本月通过 1", {"decided_days_ago": 0}),
        (a, "approved", "A 本月通过 2", {"decided_days_ago": 0}),
        (a, "approved", "A 上月通过", {"decided_days_ago": _last_month_day(),
                                      "submitted_days_ago": _last_month_day() + 3}),
        (a, "rejected", "A 本月不予通过", {"decided_days_ago": 0}),
        (b, "submitted", "B 待审 1", {"deadline_days": 5}),
        (b, "submitted", "B 待审 2", {"deadline_days": -3}),
        (b, "submitted", "B 待审 3", {}),
        (b, "approved", "B 本月通过", {"decided_days_ago": 0}),
        (c, "submitted", "C 待审", {"deadline_days": -1}),
        (c, "rejected", "C 本月不予通过", {"decided_days_ago": 0}),
    ]:
        ent, state, title, kw = args
        mk(db_session, ent, state, title, commit=False, **kw)
    for ent, state, n in [(a, "operating", 3), (a, "suspended", 1), (b, "operating", 2),
                          (b, "scrapped", 1)]:
        for _ in range(n):
            i = next(_vin)
            db_session.add(Vehicle(
                plate=f"粤A{i:05d}", vin=f"LVSHTEST{i:09d}", brand="比亚迪", model="秦PLUS",
                seats=5, owner_name="车主", filed_on=TODAY, state=state, enterprise_id=ent))
    db_session.commit()
    return k


def _dashboard(app, username):
    c = app.test_client()
    r = c.get("/api/v1/dashboard/", headers=bearer(api_token(c, username)))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


EXPECTED = {
    # pending, overdue, returned, approved this month, rejected this month
    "ent.a": (2, 1, 1, 2, 1),
    "ent.b": (3, 1, 0, 1, 0),
    "ent.c": (1, 1, 0, 0, 1),
    "reg.rental": (5, 2, 1, 3, 1),
    "reg.usedcar": (1, 1, 0, 0, 1),
    "auditor": (6, 3, 1, 3, 2),
    "admin": (6, 3, 1, 3, 2),
}


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_counts_match_the_rows_in_scope(app, figures, username):
    counts = _dashboard(app, username)["counts"]
    assert (counts["pending"], counts["overdue"], counts["returned"],
            counts["approved_this_month"], counts["rejected_this_month"]) == EXPECTED[username]


def test_vehicles_by_state_in_scope(app, figures):
    assert _dashboard(app, "ent.a")["vehicles_by_state"] == {
        "operating": 3, "suspended": 1, "terminated": 0, "scrapped": 0}
    assert _dashboard(app, "ent.b")["vehicles_by_state"] == {
        "operating": 2, "suspended": 0, "terminated": 0, "scrapped": 1}
    assert _dashboard(app, "reg.rental")["vehicles_by_state"] == {
        "operating": 5, "suspended": 1, "terminated": 0, "scrapped": 1}
    # Used-car authority and enterprise: no rental vehicles chart at all.
    assert "vehicles_by_state" not in _dashboard(app, "reg.usedcar")
    assert "vehicles_by_state" not in _dashboard(app, "ent.c")


def test_cases_by_month_covers_twelve_months(app, figures):
    data = _dashboard(app, "ent.a")["cases_by_month"]
    this = f"{TODAY.year}-{TODAY.month:02d}"
    last = add_months(month_start(TODAY), -1)
    last_key = f"{last.year}-{last.month:02d}"
    assert len(data["months"]) == 12 and data["months"][-1] == this
    by_month = dict(zip(data["months"], data["received"], strict=True))
    decided = dict(zip(data["months"], data["decided"], strict=True))
    assert sum(data["received"]) == 7
    assert decided[this] == 3 and decided[last_key] == 1
    assert by_month[last_key] >= 1
    assert _dashboard(app, "reg.usedcar")["cases_by_month"]["decided"][-1] == 1


def test_dashboard_page_renders_svg_charts(as_user, figures):
    page = as_user("reg.rental").get("/dashboard/").text
    assert 'id="chart-cases"' in page and 'id="chart-vehicles"' in page
    assert '<div class="dashboard-figure">5</div>' in page  # pending in the jurisdiction
    page = as_user("ent.c").get("/dashboard/").text
    assert 'id="chart-cases"' in page and 'id="chart-vehicles"' not in page
    assert '<div class="dashboard-figure">1</div>' in page


def test_anonymous_has_no_dashboard(client):
    r = client.get("/dashboard/")
    assert r.status_code == 302 and "/login/" in r.location
    assert client.get("/api/v1/dashboard/").status_code == 401


def test_figures_are_single_aggregate_queries(app, figures):
    """One statement per figure whatever the number of rows (GROUP BY / conditional sums)."""
    from sqlalchemy import event

    from app.extensions import db
    from app.services import dashboard

    statements = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", capture)
        try:
            dashboard.case_counts()
            assert len(statements) == 1 and "sum(" in statements[0].lower()
            statements.clear()
            dashboard.vehicles_by_state()
            assert len(statements) == 1 and "group by" in statements[0].lower()
            statements.clear()
            dashboard.cases_by_month()
            assert len(statements) == 2 and all("group by" in s.lower() for s in statements)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
            db.session.remove()


# ----- the SVG helper -----------------------------------------------------------------------
def test_chart_escapes_labels_and_is_well_formed_svg():
    svg = str(bar_chart(["<script>alert(1)</script>", "A & B", '"quoted"'],
                        [("系列<1>", [3, 0, 7]), ("x\" onload=\"y", [1, 2, 3])],
                        title="<b>标题</b>", chart_id='c"1'))
    assert "<script>" not in svg and "<b>" not in svg and 'onload="y' not in svg
    assert "&lt;script&gt;" in svg and "A &amp; B" in svg
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and root.get("aria-label") == "<b>标题</b>"
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if "chart-bar" in (r.get("class") or "")]
    assert len(bars) == 6
    assert "style" not in svg  # CSP: colours come from CSS classes


def test_chart_bar_heights_are_proportional():
    root = ET.fromstring(str(bar_chart(["a", "b"], [("n", [50, 100])], height=260)))
    ns = "{http://www.w3.org/2000/svg}"
    heights = [float(r.get("height")) for r in root.iter(f"{ns}rect")
               if "chart-bar" in (r.get("class") or "")]
    assert heights[1] == pytest.approx(2 * heights[0])
    with pytest.raises(ValueError):
        bar_chart(["a", "b"], [("n", [1])])
    empty = ET.fromstring(str(bar_chart([], [("n", [])])))
    assert empty.tag.endswith("svg")


def test_nice_axis_tops():
    assert nice_max(87) == (100, 25)
    assert nice_max(0) == (4.0, 1.0)
    assert nice_max(3) == (3, 1)
    assert nice_max(1_000_000)[0] == 1_000_000
