"""HTML fragments (Mastodon statuses, Telegram messages, feed summaries) to plain text.

Analysis matches names and compares texts, so it needs what a reader sees: paragraphs and line
breaks as newlines, entities decoded, Mastodon's "invisible" URL parts kept (they are part of
the link a reader copies). Anchors are returned beside the text so each collector can decide
which ones are links, mentions or hashtags by its platform's conventions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["Anchor", "html_to_text", "node_text"]

_BLOCKS = "p, div, li, blockquote, h1, h2, h3, h4, h5, h6, pre, tr"


@dataclass(frozen=True, slots=True)
class Anchor:
    href: str
    text: str
    classes: tuple[str, ...]
    rel: tuple[str, ...]


def node_text(node: LexborNode) -> str:
    """Visible text of a parsed node; mutates it (line breaks become text)."""
    for br in node.css("br"):
        br.replace_with("\n")
    for block in node.css(_BLOCKS):
        block.insert_after("\n\n")
    text = node.text(deep=True)
    text = re.sub(r"[ \t\r\f\v]+\n", "\n", text.replace("\u00a0", " "))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def anchors(node: LexborNode) -> list[Anchor]:
    found = []
    for a in node.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if not href:
            continue
        found.append(
            Anchor(
                href=href,
                text=a.text(deep=True).strip(),
                classes=tuple((a.attributes.get("class") or "").split()),
                rel=tuple((a.attributes.get("rel") or "").split()),
            )
        )
    return found


def html_to_text(fragment: str) -> tuple[str, list[Anchor]]:
    """Plain text of an HTML fragment and its anchors in document order."""
    if not fragment or "<" not in fragment and "&" not in fragment:
        return (fragment or "").strip(), []
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    body = tree.body
    if body is None:
        return "", []
    found = anchors(body)
    return node_text(body), found
