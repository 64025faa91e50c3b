"""Outgoing mail: SMTP when MAIL_SERVER is set, otherwise the outbox table."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask import current_app

from app.extensions import db
from app.models.outbox import OutboxMessage


def send_mail(recipient: str, subject: str, body: str) -> None:
    cfg = current_app.config
    if not cfg.get("MAIL_SERVER"):
        db.session.add(OutboxMessage(recipient=recipient, subject=subject, body=body))
        db.session.commit()
        return
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_FROM"]
    msg["To"] = recipient
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(cfg["MAIL_SERVER"], cfg.get("MAIL_PORT", 25), timeout=15) as smtp:
        if cfg.get("MAIL_USE_TLS"):
            smtp.starttls()
        if cfg.get("MAIL_USERNAME"):
            smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD", ""))
        smtp.send_message(msg)
