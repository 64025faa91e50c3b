"""Attachment upload and download (SPEC X14), through permission and tenancy checks."""

from __future__ import annotations

from flask import abort, g, jsonify, request, send_file
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, has_access_api
from flask_babel import gettext

from app.extensions import db
from app.models.attachment import Attachment
from app.security import PV_ATTACHMENT
from app.services import attachments, audit


class AttachmentView(BaseView):
    route_base = "/attachments"
    class_permission_name = PV_ATTACHMENT
    method_permission_name = {"upload": "upload", "download": "download"}
    base_permissions = ["can_upload", "can_download"]

    @expose("/upload", methods=["POST"])
    @has_access_api
    def upload(self):
        enterprise_id = getattr(g.user, "enterprise_id", None)
        if not enterprise_id:
            return jsonify(message=gettext("Only enterprise users can upload attachments.")), 403
        try:
            row = attachments.save_upload(request.files.get("file"), enterprise_id, g.user.id)
        except attachments.AttachmentRejectedError as exc:
            return jsonify(message=str(exc)), 422
        db.session.flush()
        audit.record(db.session, "upload", target=row)
        db.session.commit()
        return jsonify(id=row.id, name=row.original_name, size=row.size, mime=row.mime_type), 201

    @expose("/<int:pk>")
    @has_access
    def download(self, pk):
        # The scoped session answers None for another tenant's attachment: 404, never the file.
        row = db.session.get(Attachment, pk)
        if row is None:
            abort(404)
        return send_file(attachments.file_path(row), mimetype=row.mime_type, as_attachment=True,
                         download_name=row.original_name, max_age=0)
