"""Attachments (SPEC X14): size-limited uploads whose type is read from the content, stored
outside the web root under a random name, served only through a scoped, permission-checked
route (app/views/attachment.py)."""

from __future__ import annotations

import hashlib
import os
import secrets

import filetype
from flask import current_app
from flask_babel import gettext

from app.extensions import db
from app.models.attachment import Attachment


class AttachmentRejectedError(ValueError):
    """Upload refused; str() is a translated message for the user."""


def _storage_dir() -> str:
    path = current_app.config["ATTACHMENT_DIR"]
    os.makedirs(path, exist_ok=True)
    return path


def detect_mime(head: bytes) -> str | None:
    kind = filetype.guess(head)
    return kind.mime if kind else None


def save_upload(file_storage, enterprise_id: int, user_id: int | None) -> Attachment:
    """Validate and store an uploaded werkzeug FileStorage; returns the (uncommitted) row."""
    cfg = current_app.config
    max_bytes = cfg["ATTACHMENT_MAX_BYTES"]
    if file_storage is None or not file_storage.filename:
        raise AttachmentRejectedError(gettext("Choose a file to upload."))
    data = file_storage.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AttachmentRejectedError(
            gettext("The file is larger than the limit of %(mb).1f MB.", mb=max_bytes / 1048576)
        )
    if not data:
        raise AttachmentRejectedError(gettext("The file is empty."))
    mime = detect_mime(data[:8192])
    allowed = cfg["ATTACHMENT_ALLOWED_TYPES"]
    if mime not in allowed:
        raise AttachmentRejectedError(
            gettext("This file type is not accepted: only %(types)s files, checked by their "
                    "content.", types=", ".join(sorted(set(allowed.values()))).upper())
        )
    storage_name = secrets.token_hex(16) + "." + allowed[mime]
    path = os.path.join(_storage_dir(), storage_name)
    with open(path, "wb") as fh:
        fh.write(data)
    original = os.path.basename(file_storage.filename.replace("\\", "/"))[:255]
    row = Attachment(
        enterprise_id=enterprise_id,
        original_name=original or storage_name,
        storage_name=storage_name,
        mime_type=mime,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=user_id,
    )
    db.session.add(row)
    return row


def file_path(attachment: Attachment) -> str:
    # storage_name is ours (hex + known extension): no path traversal possible.
    return os.path.join(_storage_dir(), os.path.basename(attachment.storage_name))
