"""Licence applications (SPEC P3-P11, P13, P16): step 1 with routes, the section tabs and
their rows, the completeness check, submit, the staged review to a certificate, and the
lifecycle of linked versions with the same number."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from sqlalchemy import select

from tests.conftest import api_token, bearer, logged_in

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _pdf(name="doc.pdf"):
    return (io.BytesIO(PDF), name)


def _ent(db_session, uscc):
    from app.models.org import Enterprise

    return db_session.execute(select(Enterprise).where(Enterprise.uscc == uscc)).scalar_one()


P_USCC = "91440101MA5CUJ2E76"
Q_USCC = "91440115MA9UQ8WE1G"


def _valid_id(seed: int) -> str:
    from stdnum.cn import ric

    body = f"440106{datetime.date(1985, 1, 1) + datetime.timedelta(days=seed):%Y%m%d}" \
           f"{seed % 900 + 100:03d}"
    return body + ric.calc_check_digit(body + "0")


def _bad_id() -> str:
    good = _valid_id(7)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def _draft(db_session, uscc, matter):
    from app.models.licence import DRAFT, LicenceRequest

    ent = _ent(db_session, uscc)
    return db_session.execute(select(LicenceRequest).where(
        LicenceRequest.enterprise_id == ent.id, LicenceRequest.matter == matter,
        LicenceRequest.state == DRAFT)).scalars().first()


# ----- step 1 and routes -----------------------------------------------------------------------
def test_power_home_lists_matters_for_a_licence_holder(app):
    c = logged_in(app, "ent.p")
    html = c.get("/power/").get_data(as_text=True)
    assert "CXS" in html and 'id="matter-registration_change"' in html
    assert 'id="matter-new"' not in html  # a holder applies for changes, not a new licence


def test_new_licence_refused_to_a_holder(app):
    c = logged_in(app, "ent.p")
    resp = c.get("/power/requests/new/new")
    assert resp.status_code == 302 and resp.location.endswith("/power/")


def test_start_offers_routes_by_credit_and_zone(app, db_session):
    """ent.q (南沙, good credit, no licence, case open) is offered 容缺 and the FTZ route;
    a poor credit record removes both."""
    from app.models.licence import CreditRecord

    c = logged_in(app, "ent.q")
    html = c.get("/power/requests/new/new").get_data(as_text=True)
    assert 'data-route-offered="tolerance"' in html and 'data-route-offered="ftz"' in html
    record = db_session.execute(select(CreditRecord).where(
        CreditRecord.uscc == Q_USCC)).scalar_one()
    record.rating = "poor"
    db_session.commit()
    html = c.get("/power/requests/new/new").get_data(as_text=True)
    assert 'data-route-refused="tolerance"' in html and 'data-route-refused="ftz"' in html
    assert 'value="tolerance"' not in html


def test_item_change_draft_with_gaps_lists_every_shortfall_by_section(app):
    """The demo draft of ent.p (add 承试五级) misses the safety lead, materials and test
    staff: the check names each, by section, and the submit button is disabled."""
    c = logged_in(app, "ent.p")
    with app.app_context():
        from app.extensions import db

        req = _draft(db.session, P_USCC, "item_change")
        pk = req.id
    html = c.get(f"/power/requests/{pk}/tab/check").get_data(as_text=True)
    assert 'id="check-findings"' in html
    sections = set(re.findall(r'data-section="(\w+)"', html))
    assert {"safety", "materials"} <= sections
    assert 'id="request-submit" disabled' in html
    resp = c.post(f"/power/requests/{pk}/submit")
    assert resp.status_code == 302
    with app.app_context():
        from app.extensions import db
        from app.models.licence import LicenceRequest

        assert db.session.get(LicenceRequest, pk).state == "draft"


def test_start_validates_submitter_id_and_categories(app, db_session):
    from app.models.licence import LicenceRequest

    c = logged_in(app, "ent.p")
    before = db_session.query(LicenceRequest).count()
    resp = c.post("/power/requests/new/renewal", data={
        "route": "normal", "submitter_kind": "legal", "submitter_name": "冯建民",
        "submitter_id_number": _bad_id(), "downgrade": "y",
        "cat_install": "y", "level_install": "2"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r'id="group-submitter_id_number"[^>]*>', html) and \
        'class="form-group has-error" id="group-submitter_id_number"' in html
    assert db_session.query(LicenceRequest).count() == before


def test_renewal_cannot_raise_a_level(app, db_session):
    from app.models.licence import LicenceRequest

    c = logged_in(app, "ent.p")
    before = db_session.query(LicenceRequest).count()
    resp = c.post("/power/requests/new/renewal", data={
        "route": "normal", "submitter_kind": "legal", "submitter_name": "冯建民",
        "submitter_id_number": _valid_id(1), "downgrade": "y",
        "cat_install": "y", "level_install": "2", "cat_repair": "y", "level_repair": "4"},
        follow_redirects=True)
    assert resp.status_code == 200
    db_session.expire_all()
    assert db_session.query(LicenceRequest).count() == before


def test_forged_route_is_refused(app, db_session):
    """ent.p (天河, not in a pilot area) cannot post the FTZ route."""
    from app.models.licence import LicenceRequest

    c = logged_in(app, "ent.p")
    before = db_session.query(LicenceRequest).count()
    resp = c.post("/power/requests/new/registration_change", data={
        "route": "ftz", "submitter_kind": "legal", "submitter_name": "冯建民",
        "submitter_id_number": _valid_id(2)})
    assert resp.status_code == 200
    db_session.expire_all()
    assert db_session.query(LicenceRequest).count() == before


# ----- tenancy ---------------------------------------------------------------------------------
def test_another_enterprise_and_anonymous_cannot_reach_a_request(app, db_session):
    req = _draft(db_session, P_USCC, "item_change")
    pk = req.id
    q = logged_in(app, "ent.q")
    for url in (f"/power/requests/{pk}/tab/start", f"/power/requests/{pk}/tab/check",
                f"/power/requests/{pk}/rows/project/1"):
        assert q.get(url).status_code == 404
    for url in (f"/power/requests/{pk}/tab/basic", f"/power/requests/{pk}/submit",
                f"/power/requests/{pk}/abandon", f"/power/requests/{pk}/rows/equity/add"):
        assert q.post(url, data={"name": "x"}).status_code == 404
    anon = app.test_client()
    resp = anon.get(f"/power/requests/{pk}/tab/start")
    assert resp.status_code == 302 and "/login" in resp.location
    rental = logged_in(app, "ent.a")
    assert rental.get(f"/power/requests/{pk}/tab/start").status_code in (403, 404, 302)
    assert rental.get("/power/requests/new/new").status_code in (403, 404, 302)


def test_regulator_reads_but_cannot_write_a_request(app, db_session, as_user):
    req = _draft(db_session, P_USCC, "item_change")
    pk = req.id
    reg = as_user("reg.power")
    assert reg.get(f"/power/requests/{pk}/tab/basic").status_code == 200
    resp = reg.post(f"/power/requests/{pk}/rows/equity/add",
                    data={"name": "伪造股东", "kind": "legal", "amount": "1", "share": "1"})
    assert resp.status_code in (302, 403, 404)
    db_session.expire_all()
    from app.models.licence import EquityHolder

    assert not db_session.query(EquityHolder).filter_by(name="伪造股东").count()
    other = as_user("reg.rental")
    assert other.get(f"/power/requests/{pk}/tab/basic").status_code in (302, 403, 404)


def test_row_of_another_request_is_404(app, db_session):
    """A forged row id (ent.q's equity row) under ent.p's request answers 404."""
    from app.models.licence import EquityHolder, LicenceRequest

    mine = _draft(db_session, P_USCC, "item_change")
    q = _ent(db_session, Q_USCC)
    foreign = db_session.execute(select(EquityHolder.id).join(
        LicenceRequest, LicenceRequest.id == EquityHolder.request_id).where(
        LicenceRequest.enterprise_id == q.id)).scalars().first()
    mine_id = mine.id
    c = logged_in(app, "ent.p")
    assert c.get(f"/power/requests/{mine_id}/rows/equity/{foreign}").status_code == 404
    assert c.post(f"/power/requests/{mine_id}/rows/equity/{foreign}/delete"
                  ).status_code == 404


def test_licence_api_is_scoped(app, client):
    token = api_token(client, "ent.q")
    data = client.get("/api/v1/licence/", headers=bearer(token)).get_json()
    assert data["count"] == 0
    token = api_token(client, "ent.p")
    data = client.get("/api/v1/licence/", headers=bearer(token)).get_json()
    assert data["count"] == 3 and {r["version"] for r in data["result"]} == {1, 2, 3}
    assert len({r["number"] for r in data["result"]}) == 1
    assert client.get("/api/v1/licence/").status_code == 401


@pytest.fixture()
def p_licence(db_session):
    from app.models.licence import Licence

    ent = _ent(db_session, P_USCC)
    return db_session.execute(select(Licence).where(
        Licence.enterprise_id == ent.id, Licence.status == "current")).scalar_one()


def test_certificate_pdf_and_foreign_refusal(app, p_licence):
    pk = p_licence.id
    c = logged_in(app, "ent.p")
    resp = c.get(f"/power/licences/certificate/{pk}")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    assert logged_in(app, "ent.q").get(f"/power/licences/certificate/{pk}").status_code == 404
    assert logged_in(app, "ent.q").get(f"/power/licences/show/{pk}").status_code == 404
