"""Public document verification (SPEC X13): /verify/<token> from the QR code of a certificate
shows the document's key fields and its live status. No login; rate-limited per address."""

from __future__ import annotations

from flask import current_app
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import limit

from app.services import verification


def _verify_limit() -> str:
    return current_app.config.get("VERIFY_RATE_LIMIT", "60 per minute")


class VerifyView(BaseView):
    route_base = "/verify"
    default_view = "verify"

    @expose("/<token>")
    @limit(_verify_limit)
    def verify(self, token):
        try:
            doc = verification.verify(token)
        except (verification.VerificationTokenError,
                verification.DocumentNotFoundError) as exc:
            resp = current_app.make_response((self.render_template(
                "verify/refused.html", appbuilder=self.appbuilder, message=str(exc)),
                exc.code))
        else:
            resp = current_app.make_response(self.render_template(
                "verify/document.html", appbuilder=self.appbuilder, doc=doc))
        # Live status: never from a cache, never in a search index. (The site-wide
        # strict-origin-when-cross-origin referrer policy keeps the token to this site.)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Robots-Tag"] = "noindex, nofollow"
        return resp
