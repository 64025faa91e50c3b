"""Attachments (SPEC X14): content-checked type, size limit, outside the web root, scoped."""

from __future__ import annotations

import io
import os

from app.models.attachment import Attachment

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
       b"\x00\x00\x00IEND\xaeB`\x82")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def _upload(client, data, name):
    return client.post("/attachments/upload", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_pdf_is_stored_outside_web_root_under_a_random_name(app, as_user, db_session):
    r = _upload(as_user("ent.a"), PDF, "营业执照.pdf")
    assert r.status_code == 201
    row = db_session.get(Attachment, r.get_json()["id"])
    assert row.original_name == "营业执照.pdf" and row.mime_type == "application/pdf"
    row_id, storage_name = row.id, row.storage_name
    path = os.path.join(app.config["ATTACHMENT_DIR"], storage_name)
    assert os.path.exists(path) and "营业执照" not in storage_name
    assert not os.path.abspath(path).startswith(os.path.abspath(app.static_folder))
    r = as_user("ent.a").get(f"/attachments/{row_id}")
    assert r.status_code == 200 and r.data == PDF
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment;" in r.headers["Content-Disposition"]


def test_exe_renamed_pdf_is_refused(as_user, db_session):
    before = db_session.query(Attachment).count()
    r = _upload(as_user("ent.a"), EXE, "invoice.pdf")
    assert r.status_code == 422 and "PDF" in r.get_json()["message"]
    assert db_session.query(Attachment).count() == before


def test_html_disguised_as_png_is_refused(as_user, db_session):
    before = db_session.query(Attachment).count()
    r = _upload(as_user("ent.a"), b"<html><script>alert(1)</script></html>", "a.png")
    assert r.status_code == 422
    assert db_session.query(Attachment).count() == before


def test_png_by_content_whatever_its_name(as_user):
    r = _upload(as_user("ent.a"), PNG, "photo.pdf")
    assert r.status_code == 201 and r.get_json()["mime"] == "image/png"


def test_oversized_upload_is_refused(app, as_user, db_session):
    before = db_session.query(Attachment).count()
    app.config["ATTACHMENT_MAX_BYTES"] = 1024
    try:
        r = _upload(as_user("ent.a"), PDF + b"0" * 2048, "big.pdf")
    finally:
        app.config["ATTACHMENT_MAX_BYTES"] = 10 * 1024 * 1024
    assert r.status_code == 422 and "MB" in r.get_json()["message"]
    assert db_session.query(Attachment).count() == before


def test_other_enterprise_and_anonymous_cannot_download(app, as_user, client):
    r = _upload(as_user("ent.a"), PDF, "a.pdf")
    att = r.get_json()["id"]
    assert as_user("ent.b").get(f"/attachments/{att}").status_code == 404
    r = client.get(f"/attachments/{att}")
    assert r.status_code == 302 and "/login/" in r.location
    assert as_user("ent.a").get(f"/attachments/{att}").status_code == 200


def test_anonymous_upload_is_refused(client, db_session):
    before = db_session.query(Attachment).count()
    assert _upload(client, PDF, "a.pdf").status_code in (401, 403)
    assert db_session.query(Attachment).count() == before
