"""One PDF renderer for every module (SPEC X13): a Jinja template under app/templates/pdf/
rendered to HTML, converted by xhtml2pdf with the CJK font shipped in app/services/fonts/.

    from app.services.pdf import render_pdf
    data = render_pdf("pdf/vehicle_certificate.html", vehicle=v, qr=qr_data_uri(url))

Templates extend "pdf/base.html" (page size, margins, the font) and set
`font-family: {{ pdf_font }}` nowhere else: the base does it.

The font (WenQuanYi Micro Hei, Apache-2.0, TrueType outlines; see LICENSE-wqy-microhei.txt
beside it) is registered with ReportLab once per process, by name, not through @font-face:
xhtml2pdf only reads local files under its working directory, and loading the 5 MB
collection costs about 100 ms that a certificate should not pay each time. Chinese is real,
extractable text (a ToUnicode map comes with ReportLab's TrueType subsets).

Rendering runs under a resource policy that allows no network and no local file: images come
as `data:` URIs (see app.services.verification.qr_data_uri), so a value that ends up in a
template can never make the renderer fetch anything.
"""

from __future__ import annotations

import io
import logging
import os
import threading

from flask import render_template

log = logging.getLogger(__name__)

FONT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fonts")
FONT_FILE = os.path.join(FONT_DIR, "wqy-microhei.ttc")
FONT_SUBFONT = 0  # 0 = WenQuanYi Micro Hei, 1 = WenQuanYi Micro Hei Mono
FONT_NAME = "WQYMicroHei"  # the ReportLab name, and the CSS font-family in templates

_font_lock = threading.Lock()
_font_ready = False


class PdfRenderError(RuntimeError):
    """xhtml2pdf reported errors: a template bug, never the user's doing."""


def register_font() -> str:
    """Register the CJK font with ReportLab and make xhtml2pdf know its CSS name. Idempotent
    and cheap after the first call; returns the font name to use in CSS."""
    global _font_ready
    if _font_ready:
        return FONT_NAME
    with _font_lock:
        if _font_ready:
            return FONT_NAME
        import xhtml2pdf.default
        from reportlab import rl_config
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont(FONT_NAME, FONT_FILE, subfontIndex=FONT_SUBFONT))
        # One face for regular, bold and italic: <b> and <th> keep the font (and the
        # Chinese) instead of falling back to Helvetica-Bold, which has no CJK glyphs.
        for bold in (0, 1):
            for italic in (0, 1):
                addMapping(FONT_NAME, bold, italic, FONT_NAME)
        # xhtml2pdf copies this table into every document's context: the CSS name maps to
        # the registered font (CSS family names are matched lower-cased).
        xhtml2pdf.default.DEFAULT_FONT[FONT_NAME.lower()] = FONT_NAME
        # Binary (Flate-only) streams: ReportLab's pure-Python ASCII85 encoding of the QR
        # image cost ~5 ms a certificate and 6% of its size, for 7-bit-clean output
        # nothing here needs.
        rl_config.useA85 = 0
        _font_ready = True
        log.debug("registered PDF font %s from %s", FONT_NAME, FONT_FILE)
    return FONT_NAME


def _policy():
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    # No network, no local files (base_dir=None denies them); data: URIs still work.
    return ResourceAccessPolicy.server(base_dir=None, allow_remote=False)


def html_to_pdf(html: str) -> bytes:
    """Convert an HTML string (already rendered) to PDF bytes."""
    from xhtml2pdf import pisa

    register_font()
    out = io.BytesIO()
    status = pisa.pisaDocument(html, dest=out, encoding="utf-8", resource_policy=_policy())
    if status.err:
        raise PdfRenderError(f"xhtml2pdf reported {status.err} error(s)")
    return out.getvalue()


def render_pdf(template_name: str, **context) -> bytes:
    """Render a Jinja template (needs an app context) and convert it to PDF bytes.

    The template gets `pdf_font` (the CSS font-family) besides the given context."""
    font = register_font()
    html = render_template(template_name, pdf_font=font, **context)
    return html_to_pdf(html)


def pdf_response(data: bytes, filename: str, *, inline: bool = True):
    """A Flask response for a rendered PDF; the file name may be Chinese (RFC 6266)."""
    from urllib.parse import quote

    from flask import Response

    ascii_name = filename.encode("ascii", "ignore").decode() or "document.pdf"
    ascii_name = ascii_name.replace('"', "")
    disposition = "inline" if inline else "attachment"
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
