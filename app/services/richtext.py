"""Rich text from authorities (announcement bodies): plain text or a small subset of HTML,
sanitised with nh3 (Ammonia). Scripts, styles, event handlers, images and any URL scheme
other than http(s)/mailto are removed; what is stored is what is shown."""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup, escape

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_BLOCK_END = re.compile(r"<\s*(?:br|hr|/p|/li|/h[1-6]|/tr|/td|/th|/div|/dd|/dt)\b[^>]*>", re.I)

# "<p", "</p", "<br/>", "<!--": the text means to be HTML.
_LOOKS_LIKE_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*[\s/>]|<!--")
# HTML that lays out its own lines; without any of these, newlines still make paragraphs.
_BLOCK_TAG = re.compile(r"<\s*(p|div|br|ul|ol|li|table|h[1-6]|blockquote|pre|hr|dl)\b", re.I)


def looks_like_html(text: str) -> bool:
    return bool(_LOOKS_LIKE_HTML.search(text or ""))


def text_to_html(text: str, *, inline_html: bool = False) -> str:
    """Plain text to paragraphs: a blank line starts a paragraph, a newline breaks a line.
    `inline_html`: the text already holds inline markup (<b>, <a>), kept as it is."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    line = (lambda s: s.strip()) if inline_html else (lambda s: str(escape(s.strip())))
    paragraphs = re.split(r"\n\s*\n", text)
    return "".join(
        "<p>" + "<br>".join(line(x) for x in p.split("\n")) + "</p>"
        for p in paragraphs if p.strip()
    )


def sanitise_html(html: str) -> str:
    return nh3.clean(html or "", tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer",
                     strip_comments=True)


def to_safe_html(value: str | None) -> str:
    """What to store: sanitised HTML, plain text turned into paragraphs first."""
    if value is None:
        return ""
    value = str(value)
    if not looks_like_html(value):
        value = text_to_html(value)
    elif not _BLOCK_TAG.search(value):
        value = text_to_html(value, inline_html=True)
    return sanitise_html(value)


def render(value: str | None) -> Markup:
    """For templates: sanitised again on the way out (rows written by raw SQL too)."""
    return Markup(sanitise_html(value or ""))


def plain_text(value: str | None, limit: int | None = None) -> str:
    """Tags removed, whitespace collapsed: for summaries and search snippets."""
    value = _BLOCK_END.sub(" ", value or "")  # blocks and line breaks part words
    text = nh3.clean(value, tags=set(), attributes={})
    text = re.sub(r"\s+", " ", _unescape(text)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


__all__ = ["looks_like_html", "plain_text", "render", "sanitise_html", "text_to_html",
           "to_safe_html"]
