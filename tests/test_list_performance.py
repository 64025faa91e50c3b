"""Large-list mechanics of AppSQLAInterface (app/views/base.py), on the vehicle list: capped
count, deep pages by number (deferred join) and by keyset cursor, index-served plate prefix,
and a constant number of queries per page (no N+1). bench/rental.py measures the speed."""

from __future__ import annotations

import datetime
import re

import pytest
from sqlalchemy import event

from app.models.org import Enterprise
from app.models.rental import Vehicle
from app.views import base as view_base

A_NAME = "广州市穗通汽车租赁有限公司"
B_NAME = "深圳市鹏程小客车租赁有限公司"


def _add_vehicles(db_session, enterprise_name: str, n: int, letter: str) -> None:
    eid = db_session.query(Enterprise).filter_by(name=enterprise_name).one().id
    db_session.execute(Vehicle.__table__.insert(), [
        {"plate": f"粤{letter}9{i:04d}", "vin": f"LBVTEST{letter}{i:09d}", "brand": "大众",
         "model": "朗逸", "vehicle_type": "small", "seats": 5, "usage": "rental",
         "owner_name": enterprise_name, "state": "operating" if i % 4 else "suspended",
         "filed_on": datetime.date(2026, 1, 1), "changed_on": datetime.datetime(2026, 1, 1),
         "enterprise_id": eid} for i in range(n)])
    db_session.commit()


def _rows(db_session, enterprise_name: str | None = None, **where):
    q = db_session.query(Vehicle.id, Vehicle.plate).filter_by(**where).order_by(
        Vehicle.id.desc())
    if enterprise_name:
        q = q.join(Enterprise, Enterprise.id == Vehicle.enterprise_id).filter(
            Enterprise.name == enterprise_name)
    return [tuple(r) for r in q]


def _listed_ids(html: bytes) -> list[int]:
    return [int(x) for x in re.findall(rb'/vehicles/show/(\d+)"', html)]


def _page_ids(client, qs: str) -> list[int]:
    resp = client.get(f"/vehicles/list/?{qs}")
    assert resp.status_code == 200
    return list(dict.fromkeys(_listed_ids(resp.data)))


@pytest.fixture()
def many(db_session):
    _add_vehicles(db_session, A_NAME, 60, "A")
    _add_vehicles(db_session, B_NAME, 40, "B")


def test_vehicle_view_uses_the_fast_datamodel(app):
    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == "VehicleView")
    assert isinstance(view.datamodel, view_base.AppSQLAInterface)
    assert view.datamodel.eager == ("enterprise",)


def test_count_is_capped_and_shown_with_a_plus(app, as_user, many):
    app.config["LIST_COUNT_CAP"] = 10
    try:
        html = as_user("ent.a").get("/vehicles/list/").data.decode()
    finally:
        app.config.pop("LIST_COUNT_CAP")
    assert re.search(r'id="record-count">10\+<', html)
    assert "after_VehicleView=" in html  # the next link is a keyset cursor


def test_exact_count_below_the_cap(app, as_user, db_session, many):
    html = as_user("ent.a").get("/vehicles/list/").data.decode()
    expected = len(_rows(db_session, A_NAME))
    assert re.search(rf'id="record-count">{expected}<', html)


@pytest.mark.parametrize("deferred_from", [0, 10_000])
def test_page_numbers_return_the_right_rows(app, as_user, db_session, many, monkeypatch,
                                            deferred_from):
    """The deferred join (boundary id first) and the plain OFFSET give the same page."""
    monkeypatch.setattr(view_base, "DEFERRED_JOIN_FROM", deferred_from)
    expected = [r[0] for r in _rows(db_session, A_NAME)]
    client = as_user("ent.a")
    for page in (0, 1, 2):
        got = _page_ids(client, f"psize_VehicleView=25&page_VehicleView={page}")
        assert got == expected[page * 25:(page + 1) * 25]
    assert _page_ids(client, "page_VehicleView=50") == []


def test_keyset_cursors_walk_forward_and_back_within_scope(app, as_user, db_session, many):
    expected = [r[0] for r in _rows(db_session, A_NAME)]
    client = as_user("ent.a")
    first = _page_ids(client, "")
    assert first == expected[:25]
    second = _page_ids(client, f"page_VehicleView=1&after_VehicleView={first[-1]}")
    assert second == expected[25:50]
    back = _page_ids(client, f"page_VehicleView=0&before_VehicleView={second[0]}")
    assert back == expected[:25]
    # A cursor never widens the scope: B's vehicles are not A's next page.
    b_ids = {r[0] for r in _rows(db_session, B_NAME)}
    assert not b_ids & set(_page_ids(client, f"page_VehicleView=1&after_VehicleView="
                                             f"{max(b_ids) + 1}"))


def test_next_link_carries_the_last_id(app, as_user, db_session, many):
    html = as_user("ent.a").get("/vehicles/list/").data.decode()
    last = _listed_ids(html.encode())[-1]
    assert f"after_VehicleView={last}" in html


def test_plate_prefix_filter_returns_exactly_the_prefixed_rows(app, as_user, db_session,
                                                               many):
    from flask_appbuilder.models.sqla.filters import FilterStartsWith

    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == "VehicleView")
    flts = view.datamodel.get_filters(["plate"]).get_search_filters()["plate"]
    idx = next(i for i, f in enumerate(flts) if isinstance(f, FilterStartsWith))
    assert isinstance(flts[idx], view_base.FilterPrefix)
    client = as_user("reg.rental")
    expected = sorted(r[0] for r in _rows(db_session) if r[1].startswith("粤A9001"))
    assert len(expected) == 10
    assert sorted(_page_ids(client, f"_flt_{idx}_plate=粤A9001")) == expected
    # Lower-case input is upper-cased for plates; LIKE wildcards are literal.
    assert sorted(_page_ids(client, f"_flt_{idx}_plate=粤a9001")) == expected
    assert _page_ids(client, f"_flt_{idx}_plate=粤A9%25") == []
    assert _page_ids(client, f"_flt_{idx}_plate=粤_9001") == []
    # The scope still applies: ent.a never sees B's plates by prefix.
    assert _page_ids(as_user("ent.a"), f"_flt_{idx}_plate=粤B9001") == []


def test_state_filter_with_enterprise(app, as_user, db_session, many):
    from flask_appbuilder.models.sqla.filters import FilterEqual

    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == "VehicleView")
    flts = view.datamodel.get_filters(["state"]).get_search_filters()["state"]
    eq = next(i for i, f in enumerate(flts) if isinstance(f, FilterEqual))
    b_uscc = db_session.query(Enterprise).filter_by(name=B_NAME).one().uscc
    expected = [r[0] for r in _rows(db_session, B_NAME, state="suspended")]
    got = _page_ids(as_user("reg.rental"), f"_flt_{eq}_state=suspended&enterprise={b_uscc}")
    assert got == expected[:25] and got


def _count_selects(app, client, url) -> int:
    from app.extensions import db

    counter = {"n": 0}

    def before(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            counter["n"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return counter["n"]


def test_queries_per_page_do_not_grow_with_rows(app, as_user, db_session):
    """No N+1: the enterprise name of every row comes with the page, not one SELECT each."""
    client = as_user("reg.rental")
    client.get("/vehicles/list/")  # warm: permissions, menus
    _add_vehicles(db_session, A_NAME, 3, "A")
    few = _count_selects(app, client, "/vehicles/list/?psize_VehicleView=3")
    _add_vehicles(db_session, B_NAME, 60, "C")
    _add_vehicles(db_session, A_NAME, 60, "D")
    full = _count_selects(app, client, "/vehicles/list/?psize_VehicleView=50")
    deep = _count_selects(app, client, "/vehicles/list/?psize_VehicleView=50&page_VehicleView=2")
    assert full == few, (few, full)
    assert deep <= few + 1, (few, deep)  # + the boundary id of a deep page
