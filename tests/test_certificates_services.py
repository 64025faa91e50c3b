"""PDF renderer, verification tokens and the two rental certificates (SPEC X13, R5, R8)."""

from __future__ import annotations

import io
import os
import re

import pytest
from certificate_rows import FILING_NO, PREMISES, VEHICLE_NO, make_rental_rows
from PIL import Image, ImageChops
from pypdf import PdfReader

from app.models.rental import RentalFiling, Vehicle
from app.services import certificates, pdf, verification


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _fonts(data: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


def _url_in(text: str) -> str:
    m = re.search(r"https?://\S+/verify/[A-Za-z0-9_.\-]+", text)
    assert m, text
    return m.group(0)


# ----- renderer --------------------------------------------------------------------------
def test_the_cjk_font_is_shipped_truetype_with_its_licence_and_registered_once(app):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    assert os.path.isfile(pdf.FONT_FILE)
    assert os.path.isfile(os.path.join(pdf.FONT_DIR, "LICENSE-wqy-microhei.txt"))
    assert pdf.register_font() == pdf.FONT_NAME
    font = pdfmetrics.getFont(pdf.FONT_NAME)
    assert isinstance(font, TTFont)
    assert pdf.register_font() == pdf.FONT_NAME
    assert pdfmetrics.getFont(pdf.FONT_NAME) is font  # cached, not loaded again


def test_html_to_pdf_writes_chinese_as_extractable_text_in_the_shipped_font(app):
    font = pdf.register_font()
    html = (f"<html><head><style>body {{ font-family: {font}; }}</style></head><body>"
            "<p>广州市穗通汽车租赁有限公司 GDZL2026000001</p><p><b>加粗的中文</b></p>"
            "</body></html>")
    data = pdf.html_to_pdf(html)
    text = _text(data)
    assert "广州市穗通汽车租赁有限公司" in text and "GDZL2026000001" in text
    assert "加粗的中文" in text
    assert any("WenQuanYiMicroHei" in f for f in _fonts(data))


def test_rendering_fetches_no_local_file_and_no_url(app, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (40, 40), "red").save(secret)
    html = (f'<html><body><p>x</p><img src="{secret}"><img src="file://{secret}">'
            '<img src="http://169.254.169.254/latest/meta-data/"></body></html>')
    data = pdf.html_to_pdf(html)
    assert not PdfReader(io.BytesIO(data)).pages[0].images
    # Control: without our policy the same markup does read the file.
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import PERMISSIVE_POLICY

    out = io.BytesIO()
    pisa.pisaDocument(html.replace('<img src="http://169.254.169.254/latest/meta-data/">', ""),
                      dest=out, resource_policy=PERMISSIVE_POLICY)
    assert PdfReader(io.BytesIO(out.getvalue())).pages[0].images


# ----- tokens ----------------------------------------------------------------------------
def test_token_round_trip_and_refusals(app):
    with app.app_context():
        token = verification.token_for("vehicle", 42, VEHICLE_NO)
        ref = verification.load(token)
        assert (ref.kind, ref.obj_id, ref.marker) == ("vehicle", 42, VEHICLE_NO)
        body, _, sig = token.rpartition(".")
        # (The first signature character: the last one carries unused padding bits.)
        for forged in (body + "." + ("A" if sig[0] != "A" else "B") + sig[1:],
                       verification.token_for("vehicle", 43, VEHICLE_NO).rpartition(".")[0]
                       + "." + sig, token[:-3], "", "x" * 600, "not-a-token"):
            with pytest.raises(verification.VerificationTokenError):
                verification.load(forged)
        # Signed with another key, or with our key but another salt: refused.
        from itsdangerous import URLSafeSerializer

        other = URLSafeSerializer("another-key", salt=verification.SALT).dumps(
            ["vehicle", 42, VEHICLE_NO])
        with pytest.raises(verification.VerificationTokenError):
            verification.load(other)
        other = URLSafeSerializer(app.config["SECRET_KEY"], salt="other").dumps(
            ["vehicle", 42, VEHICLE_NO])
        with pytest.raises(verification.VerificationTokenError):
            verification.load(other)
        # Genuine signature, unknown kind or wrong shape: refused too.
        ours = URLSafeSerializer(app.config["SECRET_KEY"], salt=verification.SALT)
        for payload in (["no_such_kind", 1, ""], ["vehicle", "1", ""], {"k": 1}):
            with pytest.raises(verification.VerificationTokenError):
                verification.load(ours.dumps(payload))
        with pytest.raises(ValueError):
            verification.token_for("no_such_kind", 1)


def test_registered_kinds_include_both_rental_documents(app):
    assert {"rental_filing", "vehicle"} <= set(verification.registered_kinds())


def test_verify_url_uses_public_base_url_and_falls_back_to_the_request(app):
    with app.app_context():
        app.config["PUBLIC_BASE_URL"] = "https://portal.example.gov.cn"
        try:
            assert verification.verify_url("T") == "https://portal.example.gov.cn/verify/T"
            app.config["PUBLIC_BASE_URL"] = ""
            with app.test_request_context("/", base_url="http://10.1.2.3:8080"):
                assert verification.verify_url("T") == "http://10.1.2.3:8080/verify/T"
        finally:
            app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:8080"


def test_mask_middle():
    assert verification.mask_middle("LSVAB2BM5KN012345", 3, 6) == "LSV********012345"
    assert verification.mask_middle("ABC") == "ABC"
    assert verification.mask_middle(None) == ""


# ----- certificates ----------------------------------------------------------------------
def _embedded_qr_matches(data: bytes, url: str) -> bool:
    images = PdfReader(io.BytesIO(data)).pages[0].images
    assert len(images) == 1
    embedded = images[0].image.convert("L")
    expected = Image.open(io.BytesIO(verification.qr_png(url))).convert("L")
    return (embedded.size == expected.size
            and ImageChops.difference(embedded, expected).getbbox() is None)


def test_enterprise_certificate_has_the_filing_in_chinese_and_a_qr_to_its_page(db_session):
    rows = make_rental_rows(db_session)
    filing = db_session.get(RentalFiling, rows["filing"])
    data = certificates.enterprise_certificate_pdf(filing)
    assert data.startswith(b"%PDF")
    text = _text(data)
    for expected in ("广州市穗通汽车租赁有限公司", FILING_NO, "91440101MA59XXKL1H", "陈志强",
                     "广州市天河区天河路385号太古汇一座12楼", *PREMISES, "2026年3月2日"):
        assert expected in text, expected
    assert "13800138001" not in text  # the contact mobile is no part of the certificate
    url = _url_in(text)
    assert url == verification.verify_url(
        verification.token_for("rental_filing", filing.id, FILING_NO))
    assert url.startswith("http://127.0.0.1:8080/verify/")  # PUBLIC_BASE_URL (dev default)
    assert _embedded_qr_matches(data, url)


def test_vehicle_certificate_has_the_vehicle_and_its_enterprise(db_session):
    rows = make_rental_rows(db_session)
    vehicle = db_session.get(Vehicle, rows["vehicle"])
    data = certificates.vehicle_certificate_pdf(vehicle)
    text = _text(data)
    for expected in ("粤A7K2M9", "LSVAB2BM5KN012345", "大众", "朗逸", VEHICLE_NO,
                     "广州市穗通汽车租赁有限公司", FILING_NO, "2026年3月5日", "2025年12月1日"):
        assert expected in text, expected
    url = _url_in(text)
    assert url == verification.verify_url(
        verification.token_for("vehicle", vehicle.id, VEHICLE_NO))
    assert _embedded_qr_matches(data, url)


def test_no_certificate_before_one_is_issued(db_session):
    rows = make_rental_rows(db_session)
    filing = db_session.get(RentalFiling, rows["filing"])
    filing.certificate_no = None
    with pytest.raises(certificates.CertificateNotIssuedError):
        certificates.enterprise_certificate_pdf(filing)
    vehicle = db_session.get(Vehicle, rows["vehicle"])
    vehicle.certificate_no = None
    with pytest.raises(certificates.CertificateNotIssuedError):
        certificates.vehicle_certificate_pdf(vehicle)
    db_session.rollback()


def _approve(db_session, enterprise_id: int, username: str):
    import datetime

    from app.models.identity import AppUser
    from app.models.workflow import Application, TransitionLog

    user = db_session.query(AppUser).filter_by(username=username).one()
    case = Application(reference=f"TEST{enterprise_id}-{username}", kind="rental_filing",
                       title="备案", payload={}, state="approved", enterprise_id=enterprise_id)
    db_session.add(case)
    db_session.flush()
    db_session.add(TransitionLog(application_id=case.id, enterprise_id=enterprise_id,
                                 name="approve", from_state="submitted", to_state="approved",
                                 actor_id=user.id, actor_name=username,
                                 at=datetime.datetime(2026, 3, 2, 10, 0)))
    db_session.commit()


def test_issuing_authority_is_the_rental_authority_that_approved(db_session):
    from app.demo_rental import DEMO_APPLICANT_USCC
    from app.models.org import Enterprise

    rows = make_rental_rows(db_session)
    # The demo filings of A and B were approved through the engine by reg.rental.
    assert certificates.issuing_authority(rows["ent_a"]) == "广东省交通运输厅"
    filing = db_session.get(RentalFiling, rows["filing"])
    assert "广东省交通运输厅" in _text(certificates.enterprise_certificate_pdf(filing))
    # An applicant without approvals: two authorities hold the rental sector for all of
    # Guangdong, but the audit office reviews nothing, so the transport department issues;
    # an approval by reg.rental confirms it, and a later one by an authority without the
    # rental sector does not count.
    applicant = db_session.query(Enterprise).filter_by(uscc=DEMO_APPLICANT_USCC).one().id
    assert certificates.issuing_authority(applicant) == "广东省交通运输厅"
    _approve(db_session, applicant, "reg.rental")
    _approve(db_session, applicant, "reg.usedcar")
    assert certificates.issuing_authority(applicant) == "广东省交通运输厅"


def test_issuing_authority_falls_back_to_the_closest_rental_authority(db_session):
    from app.demo_rental import DEMO_APPLICANT_USCC
    from app.models.identity import AppUser
    from app.models.org import Authority, Enterprise, Sector
    from app.security import ROLE_REGULATOR

    applicant = db_session.query(Enterprise).filter_by(uscc=DEMO_APPLICANT_USCC).one()
    rental = db_session.query(Sector).filter_by(code="rental").one()
    assert certificates.issuing_authority(applicant.id) == "广东省交通运输厅"
    city = Authority(name="广州市交通运输局", region_code="440100", region_prefix="4401",
                     sectors=[rental])
    db_session.add(city)
    db_session.commit()
    # An authority nobody reviews for is no issuer; once it has a regulator, the closest wins.
    assert certificates.issuing_authority(applicant.id) == "广东省交通运输厅"
    reviewer = db_session.query(AppUser).filter_by(username="reg.rental").one()
    sm_role = db_session.query(type(reviewer.roles[0])).filter_by(name=ROLE_REGULATOR).one()
    db_session.add(AppUser(username="reg.gz", first_name="广", last_name="州",
                           email="reg.gz@regportal.local", active=True, password="x",
                           authority_id=city.id, roles=[sm_role]))
    db_session.commit()
    assert certificates.issuing_authority(applicant.id) == "广州市交通运输局"


def test_pdf_response_names_the_file_in_ascii_and_utf8(app):
    with app.test_request_context("/"):
        resp = pdf.pdf_response(b"%PDF-1.4", "粤A7K2M9.pdf", inline=False)
    assert resp.mimetype == "application/pdf"
    cd = resp.headers["Content-Disposition"]
    assert cd.startswith("attachment;") and "filename*=UTF-8''%E7%B2%A4A7K2M9.pdf" in cd
    assert resp.headers["Cache-Control"] == "private, no-store"
