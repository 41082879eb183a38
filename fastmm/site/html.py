"""A tiny HTML builder that escapes every piece of text unless it is already markup.

Pages are XHTML-compatible HTML5 ("polyglot"): every element is closed, void and empty SVG
elements end in "/>", attributes are quoted, and only the five XML entities appear, so a page
parses with both html.parser and xml.etree. Text from scheme files reaches a page only through
`render`, which html-escapes it: a provenance string holding <script> shows as text. Characters
XML 1.0 forbids (C0 controls, lone surrogates, U+FFFE/U+FFFF) become U+FFFD on the way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

_VOID = frozenset({"meta", "link", "br", "hr", "input", "img"})
_SVG_EMPTY = frozenset({"circle", "line", "polyline", "rect", "path", "polygon"})
# what XML 1.0 forbids, and the C1 controls (U+0080–U+009F: allowed, but invisible or a terminal's
# CSI, as a C0 control would be)
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Html(str):
    """Markup that is safe as it stands (built here, never copied from input)."""


# Unicode's Bidi_Control characters: marks (ALM, LRM, RLM), embeddings, overrides and isolates
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape(text: str) -> str:
    """`text` html-escaped, with every character XML 1.0 forbids and every C1 control replaced by
    U+FFFD: a lone surrogate (from JSON "\\ud800" or a file name that is not UTF-8) cannot even be
    encoded.
    Bidirectional controls are shown as \\u202e (as the terminal shows them): a command or file
    name holding one would otherwise read differently from its real characters."""
    text = _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


def render(content: object) -> Html:
    """Markup for `content`: Html as is, lists joined, None empty, anything else escaped text."""
    if content is None:
        return Html("")
    if isinstance(content, Html):
        return content
    if isinstance(content, str):
        return Html(escape(content))
    if isinstance(content, Iterable):
        return Html("".join(render(c) for c in content))
    return Html(escape(str(content)))


def _attr_name(key: str) -> str:
    return key.rstrip("_").replace("_", "-")


def el(tag: str, /, *children: object, **attrs: object) -> Html:
    """<tag attrs>children</tag>; attribute names: class_ -> class, data_sort -> data-sort.

    None and False attributes are left out; True becomes name="name" (XHTML needs a value).
    """
    parts = [tag]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = _attr_name(key)
        text = attr if value is True else str(value)
        parts.append(f'{attr}="{escape(text)}"')
    head = " ".join(parts)
    body = render(children)
    if not body and (tag in _VOID or tag in _SVG_EMPTY):
        return Html(f"<{head}/>")
    return Html(f"<{head}>{body}</{tag}>")


def page(title: str, body: object, *, root: str = "", description: str = "") -> Html:
    """A whole document; `root` is the relative path to the site's top ("" or "../")."""
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        # no inline scripts, nothing from elsewhere: a second line of defence behind escaping
        el("meta", http_equiv="Content-Security-Policy",
           content="default-src 'self'; script-src 'self'; style-src 'self'; "
                   "img-src 'self' data:; connect-src 'none'; object-src 'none'"),
        el("meta", name="description", content=description) if description else None,
        el("title", title),
        el("link", rel="stylesheet", href=f"{root}style.css"),
        el("script", src=f"{root}site.js", defer=True),
    )
    doc = el("html", head, el("body", body), xmlns="http://www.w3.org/1999/xhtml", lang="en")
    return Html(f"<!DOCTYPE html>\n{doc}\n")
