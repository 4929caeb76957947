"""Making hostile post text safe to print, and masking personal data for shared reports.

Post text is written by attackers: it can hold markup that reportlab would interpret
(`<para>`, `&`), control characters, bidi overrides that reorder a line, lone surrogates,
10,000-character "words" and glyphs no font has. Everything that reaches the PDF goes through
`safe_text` first (for plain strings) and `para_text` (for Paragraph markup), so the quote is
shown as it was written, only cut and with unprintable characters replaced.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from xml.sax.saxutils import escape

__all__ = [
    "MISSING_GLYPH",
    "clip",
    "mask_personal_data",
    "para_text",
    "safe_text",
    "set_glyph_check",
]

MISSING_GLYPH = "\u25a1"  # white square: DejaVu has it; stands in for emoji and other gaps
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_glyph_check: Callable[[int], bool] = lambda _cp: True  # noqa: E731


def set_glyph_check(check: Callable[[int], bool]) -> None:
    """Tell `safe_text` which code points the report font can draw (set by the PDF module)."""
    global _glyph_check
    _glyph_check = check
    _clean_char.cache_clear()


@cache
def _clean_char(char: str) -> str:
    if char in "\n\t":
        return " " if char == "\t" else char
    if char in _BIDI_CONTROLS:
        return ""
    category = unicodedata.category(char)
    if category in ("Cc", "Cs", "Co", "Cn"):
        return "" if category != "Cn" else MISSING_GLYPH
    if category == "Cf":
        return ""  # zero-width joiners, soft hyphens: invisible, and they confuse line breaking
    if category.startswith("Z") and char != " ":
        return " "
    if unicodedata.combining(char):
        return char if _glyph_check(ord(char)) else ""
    return char if _glyph_check(ord(char)) else MISSING_GLYPH


def safe_text(value: object, *, keep_newlines: bool = False) -> str:
    """Printable text: control, bidi-override and unknown characters removed or replaced."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = "".join(_clean_char(c) for c in text)
    if not keep_newlines:
        text = text.replace("\n", " ")
    return re.sub(r"[ ]{2,}", " ", text).strip()


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + " …"


def para_text(value: object, *, limit: int | None = None) -> str:
    """Safe text escaped for reportlab Paragraph markup (never interpreted as tags).

    Long tokens need no help: the paragraph styles split words longer than a line.
    """
    text = safe_text(value, keep_newlines=True)
    if limit is not None:
        text = clip(text, limit)
    text = escape(text)
    return text.replace("\n", "<br/>")


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w/])\+?\d[\d\s().-]{7,}\d(?![\w/])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,7}\b")
_ID_NUMBER = re.compile(r"\b\d{12}\b")  # Kazakh IIN and similar national numbers


def mask_personal_data(text: str, evidence_id: str | None = None) -> str:
    """Replace e-mail addresses, phone, IBAN and 12-digit ID numbers with a redaction note."""
    note = f"[personal data redacted — see {evidence_id}]" if evidence_id else "[redacted]"
    for pattern in (_EMAIL, _IBAN, _ID_NUMBER, _PHONE):
        text = pattern.sub(note, text)
    return text
