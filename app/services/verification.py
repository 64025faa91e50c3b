"""Document verification (SPEC X13): a signed token printed as a QR code on every issued
document, and the public page /verify/<token> that shows the document's key fields and its
live status, read from the database.

For a module adding a verifiable document:

    from app.services import verification as v

    def resolve_licence(obj_id, marker):          # runs unscoped; None = no such document
        lic = db.session.get(Licence, obj_id)
        if lic is None:
            return None
        return v.VerifiedDocument(
            title=_l("Power-facility licence"), number=lic.number,
            fields=[(_l("Holder"), lic.enterprise.name), ...],
            status=v.VALID if lic.active else v.REVOKED,
            note=None if marker == lic.version else gettext("Superseded by ..."))

    v.register_document("power_licence", resolve_licence)   # in register_views()
    token = v.token_for("power_licence", lic.id, lic.version)
    url = v.verify_url(token)              # PUBLIC_BASE_URL + /verify/<token>
    qr = v.qr_data_uri(url)                # <img src="{{ qr }}"> in a PDF template

The token is `[kind, id, marker]` signed with SECRET_KEY (itsdangerous, own salt); it holds
no secret and does not expire (a printed certificate is checked years later). The marker names
the issue the paper belongs to (a certificate number, a licence version): the resolver compares
it with the live row and says when the paper has been superseded.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app, has_request_context, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from app.errors import DomainError

SALT = "regportal.document-verification"
VERIFY_PATH = "/verify/"  # the route of app.views.verify.VerifyView
QR_MASK_PATTERN = 0

# Live status codes a resolver answers with, and how the page shows them.
VALID = "valid"
SUSPENDED = "suspended"
TERMINATED = "terminated"
SCRAPPED = "scrapped"
REVOKED = "revoked"
EXPIRED = "expired"
SUPERSEDED = "superseded"
NOT_ISSUED = "not_issued"

STATUS_LABELS = {
    VALID: _l("Valid"),
    SUSPENDED: _l("Suspended"),
    TERMINATED: _l("Terminated"),
    SCRAPPED: _l("Scrapped"),
    REVOKED: _l("Revoked"),
    EXPIRED: _l("Expired"),
    SUPERSEDED: _l("Superseded"),
    NOT_ISSUED: _l("Not issued"),
}


class VerificationTokenError(DomainError):
    """A verification code that is not genuine (tampered, truncated, or of an unknown kind)."""

    code = 400


class DocumentNotFoundError(DomainError):
    """A genuine code whose document no longer exists."""

    code = 404


@dataclass
class VerifiedDocument:
    """What the public page shows: never contact details or personal ID numbers."""

    title: str  # the kind of document, e.g. "Vehicle filing certificate"
    number: str  # certificate / licence number
    status: str  # one of the status codes above
    fields: list[tuple[str, str]] = field(default_factory=list)  # (label, value), in order
    note: str | None = None  # e.g. "this paper has been superseded by ..."
    lists: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, lines)
    link: tuple[str, str] | None = None  # (label, url), e.g. the current version's page

    @property
    def valid(self) -> bool:
        return self.status == VALID

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.status, self.status))


@dataclass(frozen=True)
class DocumentRef:
    kind: str
    obj_id: int
    marker: str


Resolver = Callable[[int, str], "VerifiedDocument | None"]
_REGISTRY: dict[str, Resolver] = {}


def register_document(kind: str, resolver: Resolver) -> None:
    """Make a document kind verifiable. `resolver(obj_id, marker)` returns a
    VerifiedDocument, or None when the row is gone; it runs unscoped (the public page has no
    tenant) so it must load by id only. Registering a kind again replaces its resolver."""
    _REGISTRY[kind] = resolver


def registered_kinds() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def token_for(kind: str, obj_id: int, marker: str | int | None = None) -> str:
    """The signed token of one issued document."""
    if kind not in _REGISTRY:
        raise ValueError(f"document kind {kind!r} is not registered for verification")
    return _serializer().dumps([kind, int(obj_id), "" if marker is None else str(marker)])


def load(token: str) -> DocumentRef:
    """Check the signature and read the token; VerificationTokenError otherwise."""
    refused = VerificationTokenError(gettext(
        "This verification code is not genuine: the document cannot be verified."))
    if not token or len(token) > 512:
        raise refused
    try:
        data = _serializer().loads(token)
    except BadSignature:
        raise refused from None
    if (not isinstance(data, list) or len(data) != 3 or not isinstance(data[0], str)
            or not isinstance(data[1], int) or not isinstance(data[2], str)
            or data[0] not in _REGISTRY):
        raise refused
    return DocumentRef(kind=data[0], obj_id=data[1], marker=data[2])


def verify(token: str) -> VerifiedDocument:
    """Load the token and resolve its document live, across tenants (the public has no
    scope). Raises VerificationTokenError or DocumentNotFoundError."""
    from app.models.base import unscoped

    ref = load(token)
    with unscoped():
        doc = _REGISTRY[ref.kind](ref.obj_id, ref.marker)
    if doc is None:
        raise DocumentNotFoundError(gettext(
            "The document of this verification code no longer exists."))
    return doc


def public_base_url() -> str:
    """PUBLIC_BASE_URL (set in production); the request's own root where it is empty."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if not base and has_request_context():
        base = request.url_root.rstrip("/")
    return base


def verify_url(token: str) -> str:
    return public_base_url() + VERIFY_PATH + token


@functools.lru_cache(maxsize=256)
def qr_png(data: str, *, box_size: int = 8, border: int = 2) -> bytes:
    """A QR code (error correction M) as PNG bytes. One fixed mask pattern: choosing the
    "best" of eight is most of qrcode's time and buys nothing a scanner notices; the same
    document printed again reuses its image."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border,
                       mask_pattern=QR_MASK_PATTERN)
    qr.add_data(data)
    qr.make(fit=True)
    img = qr.make_image()
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def qr_data_uri(data: str, **kwargs) -> str:
    """The QR code as a data: URI, for <img src> in PDF templates and pages."""
    return "data:image/png;base64," + base64.b64encode(qr_png(data, **kwargs)).decode("ascii")


def mask_middle(value: str | None, keep_start: int = 3, keep_end: int = 4) -> str:
    """Show the ends of an identifier, star the middle: "LSVAB2BM5KN012345" ->
    "LSV**********2345". For pages anyone holding the paper may open."""
    value = value or ""
    if len(value) <= keep_start + keep_end:
        return value
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]
