"""Public verification page /verify/<token> (SPEC X13): anyone with the QR code sees the key
fields and the live status; a forged or stale code is refused."""

from __future__ import annotations

import re

import pytest
from certificate_rows import B_VEHICLE_NO, FILING_NO, PREMISES, VEHICLE_NO, make_rental_rows

from app.models.rental import RentalFiling, Vehicle
from app.services import verification


def _status(html: str) -> str:
    m = re.search(r'id="verify-status" data-status="([a-z_]+)"', html)
    assert m, html[:2000]
    return m.group(1)


@pytest.fixture()
def rows(db_session):
    return make_rental_rows(db_session)


def _token(app, kind, obj_id, marker):
    with app.app_context():
        return verification.token_for(kind, obj_id, marker)


def test_anonymous_sees_the_vehicle_and_its_live_status(app, client, rows):
    token = _token(app, "vehicle", rows["vehicle"], VEHICLE_NO)
    r = client.get(f"/verify/{token}")
    assert r.status_code == 200
    html = r.text
    for expected in (VEHICLE_NO, "粤A7K2M9", "大众 朗逸", "广州市穗通汽车租赁有限公司",
                     "LSV********012345", "2026年3月5日"):
        assert expected in html, expected
    assert _status(html) == "valid"
    assert "LSVAB2BM5KN012345" not in html  # the VIN is masked on the public page
    assert "13800138001" not in html and "林晓燕" not in html  # no contact person or mobile
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "noindex" in r.headers["X-Robots-Tag"]


def test_anonymous_sees_the_enterprise_filing_with_its_premises(app, client, rows):
    token = _token(app, "rental_filing", rows["filing"], FILING_NO)
    r = client.get(f"/verify/{token}")
    assert r.status_code == 200
    for expected in (FILING_NO, "广州市穗通汽车租赁有限公司", "91440101MA59XXKL1H", "陈志强",
                     *PREMISES):
        assert expected in r.text, expected
    assert _status(r.text) == "valid"
    assert "020-38880000" not in r.text and "13800138001" not in r.text


@pytest.mark.parametrize("state", ["suspended", "terminated", "scrapped", "operating"])
def test_the_vehicle_page_follows_the_live_state(app, client, rows, db_session, state):
    token = _token(app, "vehicle", rows["vehicle"], VEHICLE_NO)
    db_session.get(Vehicle, rows["vehicle"]).state = state
    db_session.commit()
    r = client.get(f"/verify/{token}")
    assert r.status_code == 200
    assert _status(r.text) == ("valid" if state == "operating" else state)
    assert ("panel-success" in r.text) == (state == "operating")


@pytest.mark.parametrize("state", ["suspended", "terminated"])
def test_the_filing_page_follows_the_live_state(app, client, rows, db_session, state):
    token = _token(app, "rental_filing", rows["filing"], FILING_NO)
    db_session.get(RentalFiling, rows["filing"]).state = state
    db_session.commit()
    assert _status(client.get(f"/verify/{token}").text) == state


def test_a_reissued_certificate_makes_the_old_paper_superseded(app, client, rows, db_session):
    token = _token(app, "vehicle", rows["vehicle"], VEHICLE_NO)
    db_session.get(Vehicle, rows["vehicle"]).certificate_no = "GDZLC20269000009"
    db_session.commit()
    r = client.get(f"/verify/{token}")
    assert r.status_code == 200 and _status(r.text) == "superseded"
    assert 'id="verify-note"' in r.text and "GDZLC20269000009" in r.text


def test_the_page_is_public_for_every_user_whatever_their_scope(app, as_user, rows):
    """The resolver reads unscoped: enterprise B's user, a regulator of another sector and an
    anonymous visitor all see enterprise A's vehicle."""
    token = _token(app, "vehicle", rows["vehicle"], VEHICLE_NO)
    for username in ("ent.b", "reg.usedcar"):
        r = as_user(username).get(f"/verify/{token}")
        assert r.status_code == 200 and "粤A7K2M9" in r.text and _status(r.text) == "valid"


def _flip_signature(token: str) -> str:
    """Change the signature's first character (its last one carries unused padding bits,
    so changing that one may decode to the same bytes)."""
    body, _, sig = token.rpartition(".")
    return f"{body}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


def test_a_tampered_token_is_refused(app, client, rows):
    token = _token(app, "vehicle", rows["vehicle"], VEHICLE_NO)
    b_token = _token(app, "vehicle", rows["b_vehicle"], B_VEHICLE_NO)
    # Another id under a valid signature, a changed signature, a truncated token, junk.
    forged = [b_token.rpartition(".")[0] + "." + token.rpartition(".")[2],
              _flip_signature(token), token[:-6], "abc"]
    for bad in forged:
        r = client.get(f"/verify/{bad}")
        assert r.status_code == 400, bad
        assert 'id="verify-refused"' in r.text
        assert "粤A7K2M9" not in r.text and "粤B3C4D5" not in r.text
        assert r.headers["Cache-Control"] == "no-store"


def test_a_genuine_token_of_a_deleted_document_is_not_found(app, client, rows, db_session):
    token = _token(app, "vehicle", rows["vehicle"], VEHICLE_NO)
    db_session.delete(db_session.get(Vehicle, rows["vehicle"]))
    db_session.commit()
    r = client.get(f"/verify/{token}")
    assert r.status_code == 404 and 'id="verify-refused"' in r.text


def test_refusal_is_translated(app, client):
    zh = client.get("/verify/abc")
    english = app.test_client()
    english.get("/lang/en")
    en = english.get("/verify/abc")
    assert zh.status_code == en.status_code == 400
    assert "该核验码无效" in zh.text
    assert "This verification code is not genuine" in en.text


def test_verification_is_rate_limited(app, client, rows):
    app.config["VERIFY_RATE_LIMIT"] = "5 per minute"
    try:
        token = _token(app, "vehicle", rows["vehicle"], VEHICLE_NO)
        codes = [client.get(f"/verify/{token}").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
    finally:
        app.config.pop("VERIFY_RATE_LIMIT")


def test_the_qr_url_of_a_printed_certificate_opens_its_page(app, client, rows, db_session):
    import io

    from pypdf import PdfReader

    from app.services.certificates import vehicle_certificate_pdf

    data = vehicle_certificate_pdf(db_session.get(Vehicle, rows["vehicle"]))
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    url = re.search(r"http://127\.0\.0\.1:8080(/verify/[A-Za-z0-9_.\-]+)", text).group(1)
    db_session.get(Vehicle, rows["vehicle"]).state = "scrapped"
    db_session.commit()
    r = client.get(url)
    assert r.status_code == 200 and "粤A7K2M9" in r.text and _status(r.text) == "scrapped"
