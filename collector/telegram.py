"""Telegram public channels through their web preview (`https://t.me/s/<channel>`).

No account and no API key: the preview is public HTML, about 20 messages per page, newest page
first, older pages by `?before=<id>` (exclusive). A channel without a public preview redirects
to `t.me/<channel>`; that is reported as access refused for that channel, and the other
channels carry on.

Cursor (JSON)::

    {"channels": {"<channel>": {"hwm": <newest message id committed> | null,
                                "walk": {"next": <before id>, "top": <id>, "floor": <id>|null}
                                        | null,
                                "horizon": "<time key>" | null,
                                "created_at": "<ISO time>" | null}}}

Each run reads the newest page, then walks back with `?before=` until it meets a message at or
below the high-water mark (or, on a channel's first run, older than the backfill horizon, kept
in `horizon` so that a resumed first walk keeps its original limit). The mark moves to the
newest id only when the walk is complete (`NewestFirstWalk`), so an interrupted walk resumes
from the next older page and no message between the old mark and the new top is skipped.
Message ids within a channel only grow, which is what makes them a safe mark.

Mapping: `post_id` = `data-post` (`channel/123`), author = the channel (a signature, when the
channel shows one, goes to `extra["signature"]`), `repost_of` = the forwarded-from post
(`other_channel/12`), `reply_to` = the replied-to post, links = anchors in the text plus the
link preview (hashtag searches and the channel's own post links excluded), hashtags from the
`?q=%23…` anchors, mentions from `@name` anchors, views in `extra["views"]`. Photo, video and
album posts keep their caption inside `.media_supported_cont`; it is their text like any other
(`message_text_node`), and `extra["media"]` says which media the post carries. A forwarded
message carries the original's text and links; its source goes to `repost_of` (when it is a
public post), `extra["forwarded_from"]`, `…_url` and `…_author`. Message links' hrefs are
escaped twice by t.me (`&amp;` survives HTML parsing), so they are decoded once
(`decode_href`) before the store normalises them. Telegram's "edited" marker becomes
`extra["edited"]`.

Recheck (`TelegramCollector.recheck`): the pages covering recently stored message ids are read
again from the newest down; found messages come back as they stand (edits), and a stored id
missing between present neighbours is a deletion (see the method). The raw payload is
the message's HTML fragment exactly as received. The channel's creation date (service message
"Channel created", usually message 1) is remembered in the cursor once a walk has reached it
and used as the author's creation date.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode

from collector.base import (
    Collector,
    CollectorContext,
    NewestFirstWalk,
    Page,
    RecheckResult,
    Setting,
    StoredPost,
    is_stream_error,
    time_key,
)
from collector.errors import AccessRefused, CollectorError, MalformedResponse
from collector.htmltext import node_text
from collector.http import safe_url
from collector.post import (
    Post,
    RecordError,
    parse_time,
    post_from_record,
    telegram_channel,
    telegram_post_id,
)

__all__ = [
    "TelegramCollector",
    "album_ids",
    "decode_href",
    "is_edited",
    "media_kinds",
    "message_text_node",
    "parse_channel_page",
    "parse_count",
]

log = logging.getLogger(__name__)

_WRAP = re.compile(r'<div\b[^>]*\bclass="[^"]*\btgme_widget_message_wrap\b[^"]*"[^>]*>')
_SECTION_END = re.compile(r"</section>", re.IGNORECASE)
_POST_HREF = re.compile(r"^https?://(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?([A-Za-z0-9_]+)/(\d+)")
_USER_HREF = re.compile(r"^https?://(?:www\.)?(?:t\.me|telegram\.me)/([A-Za-z0-9_]{4,})/?$")
_COUNT = re.compile(r"^\s*([\d.,]+)\s*([KkMm]?)\s*$")


def parse_count(text: str | None) -> int | None:
    """'1.2K' → 1200, '12.3M' → 12300000, '987' → 987."""
    if not text:
        return None
    match = _COUNT.match(text)
    if not match:
        return None
    number = float(match.group(1).replace(",", "."))
    factor = {"k": 1_000, "m": 1_000_000}.get(match.group(2).lower(), 1)
    return int(round(number * factor))


# Ancestors whose `.tgme_widget_message_text` is not the message's own text: the quoted
# message of a reply, a link preview's description, a poll's question.
_FOREIGN_TEXT = frozenset(
    {"tgme_widget_message_reply", "tgme_widget_message_link_preview", "tgme_widget_message_poll"}
)
# `&amp;` as it stands in an href *after* HTML parsing: t.me escapes the ampersands of message
# links twice (since 2024), so the parsed attribute still holds the entity.
_ESCAPED_AMP = re.compile(r"&(?:amp|#0*38|#x0*26);", re.IGNORECASE)
_MEDIA = (
    ("tgme_widget_message_grouped_wrap", "album"),
    ("tgme_widget_message_photo_wrap", "photo"),
    ("tgme_widget_message_video_player", "video"),
    ("tgme_widget_message_roundvideo_player", "video_note"),
    ("tgme_widget_message_voice_player", "voice"),
    ("tgme_widget_message_document_wrap", "document"),
    ("tgme_widget_message_sticker_wrap", "sticker"),
    ("tgme_widget_message_poll", "poll"),
)


def decode_href(href: str | None) -> str:
    """An href with the second escaping of its ampersands undone, once.

    Only `&amp;` (and its numeric forms) is decoded, not every entity: `html.unescape` would
    also turn a query like `?a=1&copy=2` into `?a=1©=2`, HTML5's legacy entities needing no
    semicolon. Decoding once keeps a link that really contains the text `&amp;` (escaped
    three times on the page) as its author wrote it.
    """
    text = (href or "").strip()
    return _ESCAPED_AMP.sub("&", text) if "&" in text else text


def _classes(node: LexborNode) -> set[str]:
    return set((node.attributes.get("class") or "").split())


def message_text_node(message: LexborNode) -> LexborNode | None:
    """The message's own text: a plain post's text or a media post's caption.

    Photo, video and album posts keep the caption inside `.media_supported_cont`, so the text
    is not always a direct child of the bubble; a reply's quoted text, a link preview and a
    poll carry `.tgme_widget_message_text` nodes of their own, which are not this message's.
    """
    for candidate in message.css(".tgme_widget_message_text"):
        parent = candidate.parent
        foreign = False
        while parent is not None:
            if _classes(parent) & _FOREIGN_TEXT:
                foreign = True
                break
            parent = parent.parent
        if not foreign and "js-message_reply_text" not in _classes(candidate):
            return candidate
    return None


def is_edited(message: LexborNode) -> bool:
    """Telegram marks an edited message with the word "edited" before its time (no edit time
    is shown, so the edit is dated by when it was noticed)."""
    meta = message.css_first(".tgme_widget_message_meta")
    if meta is None:
        return False
    date = meta.css_first(".tgme_widget_message_date")
    text = meta.text(deep=True)
    if date is not None:
        text = text.replace(date.text(deep=True), " ")
    return "edited" in text.lower()


def media_kinds(message: LexborNode) -> list[str]:
    """What media the message carries ('photo', 'album', 'video', ...), in a fixed order."""
    found = set()
    for node in message.css("[class]"):
        classes = _classes(node)
        for css_class, kind in _MEDIA:
            if css_class in classes:
                found.add(kind)
    if "album" in found:
        found.discard("photo")
    return [kind for _, kind in _MEDIA if kind in found]


def album_ids(message: LexborNode) -> list[int]:
    """Message ids of an album's members (`…/<id>?single` links): one widget shows several
    messages, so their ids are present on the page although only the first has a widget."""
    ids = []
    for a in message.css("a.grouped_media_wrap[href]"):
        ref = _post_ref(a.attributes.get("href"))
        if ref:
            ids.append(int(ref.rpartition("/")[2]))
    return ids


def _post_ref(href: str | None) -> str | None:
    """`https://t.me/channel/12` → `channel/12` (our Telegram post id form)."""
    if not href:
        return None
    match = _POST_HREF.match(href.strip())
    return telegram_post_id(match.group(1), match.group(2)) if match else None


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One parsed message of a channel page (service messages included, flagged)."""

    post_ref: str
    message_id: int
    fragment: str
    node: LexborNode
    service: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelPage:
    title: str | None
    messages: tuple[Message, ...]
    before: int | None  # the "load older" token, if the page offers one


def _fragments(html: str) -> list[str]:
    """Each message wrap's HTML exactly as received (from its tag to the next wrap's)."""
    starts = [m.start() for m in _WRAP.finditer(html)]
    fragments = []
    for i, start in enumerate(starts):
        if i + 1 < len(starts):
            end = starts[i + 1]
        else:
            section_end = _SECTION_END.search(html, start)
            end = section_end.start() if section_end else len(html)
        fragments.append(html[start:end].rstrip())
    return fragments


def parse_channel_page(html: str) -> ChannelPage:
    tree = LexborHTMLParser(html)
    title_node = tree.css_first(".tgme_channel_info_header_title")
    title = title_node.text(deep=True).strip() if title_node else None
    more = tree.css_first("a.tme_messages_more[data-before]")
    before = None
    if more is not None:
        try:
            before = int(more.attributes.get("data-before") or "")
        except ValueError:
            before = None
    messages = []
    for fragment in _fragments(html):
        node = LexborHTMLParser(fragment).css_first(".tgme_widget_message[data-post]")
        if node is None:
            continue
        post_ref = (node.attributes.get("data-post") or "").strip()
        channel, _, number = post_ref.rpartition("/")
        if not channel or not number.isdigit():
            continue
        classes = (node.attributes.get("class") or "").split()
        messages.append(
            Message(post_ref, int(number), fragment, node, "service_message" in classes)
        )
    return ChannelPage(title, tuple(messages), before)


class TelegramCollector(Collector):
    platform = "telegram"
    version = "1"
    supports_recheck = True
    settings = (
        Setting("base_url", "url", "https://t.me", help="web preview host"),
        Setting(
            "channels", "strings", None, required=True, help="public channel usernames, without '@'"
        ),
        Setting(
            "max_pages",
            "int",
            50,
            help="pages per channel and run; a longer walk resumes on the next run",
        ),
    )
    examples = {"channels": ["example_channel"]}

    def __init__(self, config: Mapping[str, Any], context: CollectorContext) -> None:
        super().__init__(config, context)
        self.base: str = self.config["base_url"] or "https://t.me"
        names = [c.strip().lstrip("@") for c in self.config["channels"]]
        names = [_channel_from_url(c) for c in names]
        self.channels = tuple(dict.fromkeys(c for c in names if c))

    def fetch(self, cursor: Mapping[str, Any] | None, *, since: datetime) -> Iterator[Page]:
        state: dict[str, Any] = {"channels": dict((cursor or {}).get("channels") or {})}
        for channel in self.channels:
            try:
                yield from self._channel(state, channel, since)
            except CollectorError as exc:
                if not is_stream_error(exc):
                    raise
                self.stream_failed(channel, exc)
        self.finish()

    def _channel(self, state: dict[str, Any], channel: str, since: datetime) -> Iterator[Page]:
        streams = state["channels"]
        sub = dict(streams.get(channel) or {})
        hwm = sub.get("hwm")
        walk = NewestFirstWalk(sub, floor=hwm + 1 if hwm is not None else None)
        if hwm is None and not sub.get("walk"):
            sub["horizon"] = time_key(since)
        horizon = sub.get("horizon") if hwm is None else None
        before = walk.next
        for _ in range(self.config["max_pages"]):
            page, response, fetched_at = self._read_page(channel, before)
            posts, keys = [], []
            reached_floor = False
            for message in page.messages:
                keys.append(message.message_id)
                if message.service:
                    self._note_service(sub, message)
                    continue
                if not walk.keep(message.message_id):
                    continue
                try:
                    post = self._post(channel, message, page.title, sub, fetched_at, response)
                except RecordError as exc:
                    log.warning("skipping malformed message %s (%s)", message.post_ref, exc)
                    continue
                if horizon and time_key(post.created_at) < horizon:
                    reached_floor = True
                    continue
                posts.append(post)
            next_before = page.before  # None: no "older" link, the channel's start is reached
            if next_before is not None and before is not None and next_before >= before:
                next_before = None  # a page that does not move back would loop
            walk.advance(keys, next_before, reached_floor=reached_floor)
            sub.update(walk.state())
            if walk.done:
                sub.pop("horizon", None)
            streams[channel] = sub
            yield self.page(posts, state, response, fetched_at)
            if walk.done:
                return
            before = walk.next

    def _read_page(
        self, channel: str, before: int | None
    ) -> tuple[ChannelPage, httpx.Response, datetime]:
        """One page of the channel's preview (the newest, or the one before `before`)."""
        params = {"before": before} if before else None
        response = self.http.get(f"{self.base}/s/{quote(channel)}", params=params)
        fetched_at = self.context.now()
        if not urlsplit(str(response.url)).path.startswith("/s/"):
            raise AccessRefused(
                f"channel {channel!r} has no public web preview (redirected to "
                f"{safe_url(response.url)})",
                url=safe_url(response.url),
                status=response.status_code,
            )
        page = parse_channel_page(response.text)
        if not page.messages and "tgme_channel_info" not in response.text:
            url = safe_url(response.url)
            raise MalformedResponse(
                f"{url}: not a channel preview page", url=url, status=response.status_code
            )
        return page, response, fetched_at

    # -- recheck ---------------------------------------------------------------------------
    def recheck(self, stored: Sequence[StoredPost]) -> Iterator[RecheckResult]:
        """Re-read the pages that cover the stored messages, newest page first.

        A stored message found again is yielded as it stands now (edited or not: the store
        compares). A stored message id missing from the pages while ids below and above it
        are present (messages, service messages, album members) was deleted: channel message
        ids only grow and are never reused. The newest stored message has no neighbour above
        it until the channel posts again, so its deletion is noticed on a later run. A channel
        that lost its preview says nothing about its messages (a stream failure, no deletions).
        """
        configured = {c.lower() for c in self.channels}
        by_channel: dict[str, dict[int, StoredPost]] = {}
        for item in stored:
            channel, _, number = item.post_id.rpartition("/")
            # a channel taken out of the config is not read any more, not even to recheck
            if channel.lower() in configured and number.isdigit():
                by_channel.setdefault(channel, {})[int(number)] = item
        for channel, wanted in by_channel.items():
            try:
                yield from self._recheck_channel(channel, wanted)
            except CollectorError as exc:
                if not is_stream_error(exc):
                    raise
                self.stream_failed(f"recheck {channel}", exc)
        self.finish()

    def _recheck_channel(
        self, channel: str, wanted: dict[int, StoredPost]
    ) -> Iterator[RecheckResult]:
        lowest = min(wanted)
        undecided = set(wanted)
        present: set[int] = set()
        before: int | None = None
        sub: dict[str, Any] = {}
        for _ in range(self.config["max_pages"]):
            page, response, fetched_at = self._read_page(channel, before)
            ids = [m.message_id for m in page.messages]
            for message in page.messages:
                ids.extend(album_ids(message.node))
            present.update(ids)
            posts = []
            for message in page.messages:
                if message.service:
                    self._note_service(sub, message)
                    continue
                if message.message_id not in undecided:
                    continue
                try:
                    posts.append(
                        self._post(channel, message, page.title, sub, fetched_at, response)
                    )
                except RecordError as exc:
                    log.warning("skipping malformed message %s (%s)", message.post_ref, exc)
                    continue
                undecided.discard(message.message_id)
            undecided -= present
            deleted = []
            if present:
                low, high = min(present), max(present)
                deleted = sorted(i for i in undecided if low < i < high)
                undecided.difference_update(deleted)
            yield RecheckResult(
                tuple(posts),
                tuple(wanted[i].post_id for i in deleted),
                safe_url(response.url),
                response.status_code,
                fetched_at,
            )
            next_before = page.before
            if (
                not undecided
                or not ids
                or min(ids) <= lowest
                or next_before is None
                or (before is not None and next_before >= before)
            ):
                return
            before = next_before

    def _note_service(self, sub: dict[str, Any], message: Message) -> None:
        text_node = message.node.css_first(".tgme_widget_message_text")
        time_node = message.node.css_first("time[datetime]")
        if text_node is None or time_node is None:
            return
        if "channel created" in text_node.text(deep=True).lower():
            try:
                created = parse_time(time_node.attributes.get("datetime"), "datetime")
            except RecordError:
                return
            sub["created_at"] = created.isoformat()

    def _post(
        self,
        channel: str,
        message: Message,
        title: str | None,
        sub: Mapping[str, Any],
        fetched_at: datetime,
        response: httpx.Response,
    ) -> Post:
        node = message.node
        time_node = node.css_first(".tgme_widget_message_date time[datetime]") or node.css_first(
            "time[datetime]"
        )
        created = time_node.attributes.get("datetime") if time_node else None
        text_node = message_text_node(node)
        links: list[str] = []
        hashtags: list[str] = []
        mentions: list[str] = []
        own = channel.lower()
        if text_node is not None:
            for a in text_node.css("a[href]"):
                href = decode_href(a.attributes.get("href"))
                label = a.text(deep=True).strip()
                if href.startswith("?q="):
                    tag = unquote(href[3:])
                    if tag.startswith("#"):
                        hashtags.append(tag[1:])
                    continue
                user = _USER_HREF.match(href)
                if label.startswith("@") and user:
                    mentions.append(user.group(1))
                    continue
                ref = _post_ref(href)
                if ref and ref.split("/")[0].lower() == own:
                    continue
                if href.startswith(("http://", "https://")) and "?single" not in href:
                    links.append(href)
            text = node_text(text_node)
        else:
            text = ""
        preview = node.css_first("a.tgme_widget_message_link_preview[href]")
        if preview is not None:
            links.append(decode_href(preview.attributes.get("href")))
        forwarded = node.css_first(".tgme_widget_message_forwarded_from_name")
        forwarded_href = forwarded.attributes.get("href") if forwarded is not None else None
        reply = node.css_first("a.tgme_widget_message_reply[href]")
        owner = node.css_first(".tgme_widget_message_owner_name")
        signature = node.css_first(".tgme_widget_message_from_author")
        views = node.css_first(".tgme_widget_message_views")
        post = post_from_record(
            {
                "platform": "telegram",
                "post_id": telegram_post_id(
                    message.post_ref.rpartition("/")[0], message.message_id
                ),
                "url": f"https://t.me/{message.post_ref}",
                "created_at": created,
                "author": {
                    "id": telegram_channel(channel),
                    "handle": message.post_ref.rpartition("/")[0],
                    "display_name": (owner.text(deep=True).strip() if owner else None) or title,
                    "created_at": sub.get("created_at"),
                },
                "text": text,
                "links": [link for link in links if link],
                "hashtags": hashtags,
                "mentions": mentions,
                "reply_to": _post_ref(reply.attributes.get("href")) if reply else None,
                "repost_of": _post_ref(forwarded_href),
            },
            raw=message.fragment,
        )
        extra = self.provenance(safe_url(response.url), channel=channel)
        view_count = parse_count(views.text(deep=True)) if views else None
        if view_count is not None:
            extra["views"] = view_count
        if signature is not None:
            extra["signature"] = signature.text(deep=True).strip()
        if forwarded is not None:
            extra["forwarded_from"] = forwarded.text(deep=True).strip()
            if forwarded_href:
                extra["forwarded_from_url"] = decode_href(forwarded_href)
            forwarded_author = node.css_first(".tgme_widget_message_forwarded_from_author")
            if forwarded_author is not None:
                extra["forwarded_from_author"] = forwarded_author.text(deep=True).strip()
        if is_edited(node):
            extra["edited"] = True
        media = media_kinds(node)
        if media:
            extra["media"] = media
        return dataclasses.replace(post, collected_at=fetched_at, extra=extra)


def _channel_from_url(value: str) -> str:
    """Accept 'name', '@name', 't.me/name' or 'https://t.me/s/name'."""
    match = re.match(
        r"^(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?([A-Za-z0-9_]+)", value
    )
    return match.group(1) if match else value
