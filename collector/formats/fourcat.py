"""4CAT exports (CSV and NDJSON) of any datasource.

The two forms hold different things. 4CAT's NDJSON is the dataset file as collected: each line
is the platform's own item (`Search.items_to_ndjson` writes the items as they came), with
4CAT's `4CAT_metadata` added last, e.g. a Telegram message as Telethon's attributes (dates as
epoch seconds, nested objects with `_type`; `datasources/telegram/search_telegram.py`) or a
Bluesky `postView` as the atproto SDK's `model_dump()` (snake_case keys, `py_type` for
`$type`; `datasources/bsky/search_bsky.py`). The CSV is those items through the
datasource's `map_item`: the core columns `id, thread_id, author, body, timestamp` and the
datasource's own. Lines of a 4CAT NDJSON with the CSV's columns (a converted file) are read
as the CSV is.

What the CSV columns really hold:
* Telegram: `id` is `<chat>-<message id>`, `chat` the username (or the numeric id); `author`
  the sender's numeric id; `entities_linked` the *channel names* of t.me links in the text,
  not links (the links are in `body`, and the link preview's in `link_attached`);
  `entities_mentioned` names without '@'; `timestamp` is the 4CAT server's local time, so
  `unix_timestamp` is used.
* Bluesky: `id` and `thread_id` are `at://` URIs; `replied_to_post` and `quoted_post` are
  bsky.app web links (or `DELETED`, `REMOVED BY AUTHOR`, `VIEWER BLOCKED BY AUTHOR` for a
  quoted post that cannot be seen: no target). A link is turned back into its `at://` URI
  where the CSV tells the DID (a DID in the link, the post's own author, the thread root),
  else kept as the link. `languages` is `N/A` when the post names none; `timestamp` is epoch
  seconds.

Ids take the form smearwatch's own collectors use, so a post imported from 4CAT and the same
post collected later are one post (`collector.post.telegram_post_id` for Telegram).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from collector.bluesky import post_from_view
from collector.formats.base import RowReader, csv_header, first_json_line
from collector.formats.fields import cell, listed, make_post, need, time_of
from collector.post import Post, RecordError, telegram_channel, telegram_post_id

__all__ = [
    "FourcatCsvReader",
    "FourcatNdjsonReader",
    "as_lexicon",
    "bluesky_item_post",
    "guess_platform",
    "hashtags_in_text",
    "telegram_item_post",
    "urls_in_text",
]

CORE = ("id", "thread_id", "author", "body", "timestamp")
_BLUESKY = {"author_display_name", "quoted_post", "replied_to_post", "author_profile"}
_TELEGRAM = {"chat", "author_username", "body_markdown", "author_forwarded_from_name"}
_VK = {"author_screen_name", "author_sex", "author_type"}

# Bluesky's `quoted_post` when the quoted post cannot be seen (4CAT's map_item)
_UNSEEN = {"DELETED", "REMOVED BY AUTHOR", "VIEWER BLOCKED BY AUTHOR"}
_BSKY_LINK = re.compile(r"^https?://bsky\.app/profile/([^/?#]+)/post/([A-Za-z0-9._~:-]+)/?$")
# 4CAT joins list columns with ','; a comma inside a link must not split it
_LINK_SPLIT = re.compile(r",(?=\s*https?://)")
_TEXT_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'«»]+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<![\w/#&=?])#(\w*[^\W\d]\w*)")
_TRAILING = ".,;:!?…)]}»\"'"
_TG_POST = re.compile(r"^https?://(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?([A-Za-z0-9_]+)/(\d+)")
# the first keys of a raw item, for a first line longer than the detection head
_RAW_HEAD = re.compile(
    r'^\s*\{\s*(?:"out"\s*:\s*(?:true|false)\s*,\s*"mentioned"'  # a Telethon message
    r'|"author"\s*:\s*\{\s*"did"\s*:\s*"did:)'  # an atproto postView, model_dump()'d
)


def guess_platform(columns: set[str]) -> str | None:
    for platform, marks in (("bluesky", _BLUESKY), ("telegram", _TELEGRAM), ("vk", _VK)):
        if len(marks & columns) >= 2:
            return platform
    return None


def urls_in_text(text: str) -> list[str]:
    """Links written out in a text (`https://…` or `www.…`), without trailing punctuation."""
    out = []
    for match in _TEXT_URL.finditer(text or ""):
        url = match.group(0).rstrip(_TRAILING)
        if url.lower().startswith("www."):
            url = f"https://{url}"
        if len(url) > len("https://"):
            out.append(url)
    return out


def hashtags_in_text(text: str) -> list[str]:
    """`#tag`s of a text as Telegram marks them (letters, digits, '_'; not a link's `#part`)."""
    return _HASHTAG.findall(text or "")


def _own_post(link: str, channel: str) -> bool:
    match = _TG_POST.match(link)
    return match is not None and telegram_channel(match.group(1)) == channel


def _channel_of(chat: str) -> str:
    """4CAT's `chat`/thread id → smearwatch's channel id: the username, or `c<numeric id>`
    as the Telegram Desktop reader writes a channel it knows only by number."""
    return f"c{chat}" if chat.isdigit() else telegram_channel(chat)


class _Fourcat(RowReader):
    def _platform(self, row: Mapping[str, Any]) -> str:
        platform = self.options.get("platform") or guess_platform(set(row))
        if not platform:
            raise RecordError(
                "(platform)",
                "cannot tell which platform this 4CAT export is from; pass --platform NAME",
            )
        return platform

    def posts(self, row: Any) -> list[Post]:
        if not isinstance(row, Mapping):
            raise RecordError("(record)", "expected a JSON object")
        platform = self._platform(row)
        post_id = need(row, "id")
        author = cell(row, "author")
        author_id = cell(row, "author_id") or author
        if not author_id and platform != "telegram":  # a channel post's author is the channel
            raise RecordError("author", "required value is missing")
        record: dict[str, Any] = {
            "platform": platform,
            "post_id": post_id,
            "url": cell(row, "link") or cell(row, "url"),
            "created_at": _created(row).isoformat(),
            "author": {
                "id": author_id,
                "handle": cell(row, "author_username") or author,
                "display_name": cell(row, "author_display_name") or cell(row, "author_name"),
                "created_at": None,
            },
            "text": row.get("body") or "",
            "links": listed(row.get("links"), "links"),
            "hashtags": listed(row.get("tags") or row.get("hashtags"), "tags"),
            "mentions": listed(row.get("mentions"), "mentions"),
        }
        languages = [lang for lang in listed(row.get("languages"), "languages") if lang != "N/A"]
        if languages:
            record["lang"] = languages[0]
        if platform == "bluesky":
            return [self._bluesky(row, record, author_id or "")]
        if platform == "telegram":
            return [self._telegram(row, record)]
        thread = cell(row, "thread_id")
        if thread and thread != post_id:
            record["reply_to"] = thread
        return [make_post(record, row)]

    @staticmethod
    def _bluesky(row: Mapping[str, Any], record: dict[str, Any], did: str) -> Post:
        def uri(value: str | None) -> str | None:
            if value and not value.startswith("at://") and did.startswith("did:"):
                return f"at://{did}/app.bsky.feed.post/{value}"
            return value

        record["post_id"] = uri(record["post_id"])
        if record["post_id"] and record["post_id"].startswith("at://did:"):
            # the web link as the Bluesky collector writes it (by DID: a handle can change)
            rkey = record["post_id"].rsplit("/", 1)[-1]
            record["url"] = f"https://bsky.app/profile/{did}/post/{rkey}"
        record["links"] = [
            link.strip() for link in _LINK_SPLIT.split(cell(row, "links") or "") if link.strip()
        ]
        thread = uri(cell(row, "thread_id"))
        handle = (cell(row, "author") or "").lower()
        record["reply_to"], _ = _bsky_target(cell(row, "replied_to_post"), did, handle, thread)
        record["quote_of"], unseen = _bsky_target(cell(row, "quoted_post"), did, handle, thread)
        created = cell(row, "author_created_at")
        if created:
            try:
                record["author"]["created_at"] = time_of(created, "author_created_at", UTC)
            except RecordError:
                pass  # 4CAT keeps a profile's unparsable date as it came
            else:
                record["author"]["created_at"] = record["author"]["created_at"].isoformat()
        if cell(row, "created_at"):
            record["created_at"] = time_of(need(row, "created_at"), "created_at", UTC).isoformat()
        return make_post(record, row, quoted_post=unseen)

    @staticmethod
    def _telegram(row: Mapping[str, Any], record: dict[str, Any]) -> Post:
        chat = cell(row, "chat") or cell(row, "thread_id")
        if not chat:
            raise RecordError("chat", "required value is missing")
        channel = _channel_of(chat)
        _, _, number = record["post_id"].rpartition("-")
        if not number.isdigit():
            raise RecordError("id", f"expected '<chat>-<message id>', got {record['post_id']!r}")
        record["post_id"] = telegram_post_id(channel, number)
        if not chat.isdigit():
            record["url"] = record["url"] or f"https://t.me/{chat}/{number}"
        # a channel's post is the channel's; author_name is a user's name, never a channel's
        handle = None if chat.isdigit() else chat
        record["author"] = {"id": channel, "handle": handle, "display_name": None}
        sender = cell(row, "author_username")
        if sender and telegram_channel(sender) != channel:  # a member's message in a group
            record["author"] = {
                "id": telegram_channel(sender),
                "handle": sender,
                "display_name": cell(row, "author_name"),
            }
        links = urls_in_text(record["text"]) + [cell(row, "link_attached") or ""]
        record["links"] = [link for link in links if link and not _own_post(link, channel)]
        record["mentions"] = listed(row.get("entities_mentioned"), "entities_mentioned")
        record["hashtags"] = hashtags_in_text(record["text"])  # 4CAT's Telegram CSV has none
        reply = cell(row, "reply_to")
        if reply and reply.isdigit():
            record["reply_to"] = telegram_post_id(channel, reply)
        views = cell(row, "views")
        return make_post(
            record,
            row,
            linked_channels=listed(row.get("entities_linked"), "entities_linked"),
            forwarded_from=cell(row, "author_forwarded_from_name"),
            forwarded_from_username=cell(row, "author_forwarded_from_username"),
            forwarded_from_id=cell(row, "author_forwarded_from_id"),
            views=int(views) if views and views.isdigit() else None,
            edited=cell(row, "unix_timestamp_edited"),
        )


def _created(row: Mapping[str, Any]) -> Any:
    """`unix_timestamp` (Telegram, VK) or `timestamp`: epoch seconds in the Bluesky CSV, the
    4CAT server's local time elsewhere (read as UTC only when nothing better is there)."""
    unix = cell(row, "unix_timestamp")
    if unix:
        try:
            seconds = float(unix)
        except ValueError:
            raise RecordError("unix_timestamp", f"expected epoch seconds, got {unix!r}") from None
        return time_of(seconds, "unix_timestamp")
    stamp = need(row, "timestamp")
    if stamp.isdigit():
        return time_of(int(stamp), "timestamp")
    return time_of(stamp, "timestamp", UTC)


def _bsky_target(
    value: str | None, did: str, own_handle: str, thread: str | None
) -> tuple[str | None, str | None]:
    """A `replied_to_post`/`quoted_post` cell → (the post's `at://` URI or link, why none)."""
    if not value:
        return None, None
    if value in _UNSEEN:
        return None, value
    if value.startswith("at://"):
        return value, None
    match = _BSKY_LINK.match(value)
    if match is None:
        return value, None
    actor, rkey = match.groups()
    if actor.startswith("did:"):
        return f"at://{actor}/app.bsky.feed.post/{rkey}", None
    if actor.lower() == own_handle and did.startswith("did:"):
        return f"at://{did}/app.bsky.feed.post/{rkey}", None
    if thread and thread.startswith("at://") and thread.rsplit("/", 1)[-1] == rkey:
        return thread, None
    return value, None


class FourcatCsvReader(_Fourcat):
    name = "4cat-csv"
    description = "4CAT CSV export (id, thread_id, author, body, timestamp, ...)"
    required = ("id", "body")

    def sniff(self, head: str, filename: str) -> bool:
        return set(CORE) <= csv_header(head)


# -- NDJSON: the platforms' own items ----------------------------------------------------------


def _camel(key: str) -> str:
    if key == "py_type":
        return "$type"
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def as_lexicon(value: Any) -> Any:
    """An atproto SDK `model_dump()` (snake_case, `py_type`) in the lexicon's own JSON
    spelling (camelCase, `$type`), which the Bluesky collector reads."""
    if isinstance(value, list):
        return [as_lexicon(item) for item in value]
    if isinstance(value, Mapping):
        return {
            (_camel(k) if isinstance(k, str) and _SNAKE.match(k) else k): as_lexicon(v)
            for k, v in value.items()
        }
    return value


def _utf16(text: str, offset: Any, length: Any) -> str:
    """The text a Telegram entity covers: offsets count UTF-16 code units."""
    if not isinstance(offset, int) or not isinstance(length, int):
        return ""
    data = text.encode("utf-16-le")
    return data[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="ignore")


def _chat_name(chat: Any) -> str | None:
    """The public username of a serialized Telethon `Channel` (or its first active one)."""
    if not isinstance(chat, Mapping):
        return None
    if chat.get("username"):
        return str(chat["username"])
    for entry in chat.get("usernames") or ():
        if isinstance(entry, Mapping) and entry.get("username") and entry.get("active", True):
            return str(entry["username"])
    return None


def _peer_channel(peer: Any) -> int | None:
    if isinstance(peer, Mapping) and isinstance(peer.get("channel_id"), int):
        return int(peer["channel_id"])
    return None


def _forward_source(message: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The post a forward repeats (`<channel>/<id>` when the channel is known) and what else
    the forward header tells (name, peer id) for the provenance."""
    header = message.get("fwd_from")
    if not isinstance(header, Mapping):
        return None, {}
    source = header.get("from_id")
    name = None
    forward = message.get("_forward")
    if isinstance(forward, Mapping):
        name = _chat_name(forward.get("_chat"))
    if name is None and isinstance(source, Mapping):
        # with "resolve references" 4CAT replaces the peer by the channel's full info
        chats = source.get("chats") or []
        wanted = source.get("channel_id")
        for chat in chats if isinstance(chats, list) else []:
            if isinstance(chat, Mapping) and (wanted is None or chat.get("id") == wanted):
                name = _chat_name(chat)
                break
    channel_id = source.get("channel_id") if isinstance(source, Mapping) else None
    post = header.get("channel_post")
    target = None
    if isinstance(post, int):
        if name:
            target = telegram_post_id(name, post)
        elif isinstance(channel_id, int):
            target = f"c{channel_id}/{post}"
    about = {"forwarded_from": header.get("from_name") or name, "forwarded_from_id": channel_id}
    return target, about


def telegram_item_post(message: Mapping[str, Any]) -> Post:
    """A Telethon message as 4CAT serialized it → a post, with the ids the web collector uses."""
    number = message.get("id")
    if not isinstance(number, int):
        raise RecordError("id", "required message id is missing")
    chat = message.get("_chat")
    username = _chat_name(chat)
    channel_id = _peer_channel(message.get("peer_id"))
    if username:
        channel = telegram_channel(username)
    elif channel_id is not None:
        channel = f"c{channel_id}"
    else:
        raise RecordError("peer_id", "the message names no channel (no _chat, no peer_id)")
    date = message.get("date")
    if not isinstance(date, int | float) or isinstance(date, bool):
        raise RecordError("date", "expected epoch seconds")
    text = message.get("message") or ""
    if not isinstance(text, str):
        raise RecordError("message", f"expected a string, got {type(text).__name__}")
    links: list[str] = []
    hashtags: list[str] = []
    mentions: list[str] = []
    entities = message.get("entities") or []
    if not isinstance(entities, list):
        raise RecordError("entities", "expected a list")
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        kind = entity.get("_type")
        covered = _utf16(text, entity.get("offset"), entity.get("length")).strip()
        if kind == "MessageEntityUrl" and covered:
            links.append(covered if "://" in covered else f"https://{covered}")
        elif kind == "MessageEntityTextUrl" and entity.get("url"):
            links.append(str(entity["url"]))
        elif kind == "MessageEntityHashtag" and covered:
            hashtags.append(covered)
        elif kind == "MessageEntityMention" and covered:
            mentions.append(covered.lstrip("@"))
    media = message.get("media")
    webpage = media.get("webpage") if isinstance(media, Mapping) else None
    if isinstance(webpage, Mapping) and webpage.get("url"):
        links.append(str(webpage["url"]))
    reply = message.get("reply_to")
    reply_to = None
    if isinstance(reply, Mapping) and isinstance(reply.get("reply_to_msg_id"), int):
        other = _peer_channel(reply.get("reply_to_peer_id"))
        if other is None or other == channel_id:
            reply_to = telegram_post_id(channel, reply["reply_to_msg_id"])
    repost_of, forwarded = _forward_source(message)
    record = {
        "platform": "telegram",
        "post_id": telegram_post_id(channel, number),
        "url": f"https://t.me/{username}/{number}" if username else None,
        "created_at": time_of(date, "date").isoformat(),
        "author": {
            "id": channel,
            "handle": username,
            "display_name": chat.get("title") if isinstance(chat, Mapping) else None,
        },
        "text": text,
        "links": [link for link in links if not _own_post(link, channel)],
        "hashtags": hashtags,
        "mentions": mentions,
        "reply_to": reply_to,
        "repost_of": repost_of,
    }
    edited = message.get("edit_date")
    return make_post(
        record,
        message,
        views=message.get("views"),
        signature=message.get("post_author"),
        edited=int(edited) if isinstance(edited, int | float) else None,
        **forwarded,
    )


def bluesky_item_post(item: Mapping[str, Any]) -> Post:
    """An atproto `postView` as 4CAT stored it → the post the Bluesky collector makes of it."""
    view = as_lexicon({k: v for k, v in item.items() if k != "4CAT_metadata"})
    author = view.get("author")
    if not isinstance(author, Mapping) or not author.get("did"):
        raise RecordError("author.did", "required value is missing")
    if not isinstance(view.get("record"), Mapping):
        raise RecordError("record", "expected the post record")
    try:
        post = post_from_view(view, raw=item)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field of another type
        raise RecordError("record", f"not a Bluesky postView as expected ({exc})") from None
    if not post.post_id.startswith("at://"):
        raise RecordError("uri", "expected an at:// URI")
    return post


def _item_kind(item: Mapping[str, Any]) -> str:
    if "uri" in item and "record" in item:
        return "bluesky"
    if "peer_id" in item or "_chat" in item:
        return "telegram"
    if set(CORE) <= set(item):
        return "mapped"
    return ""


class FourcatNdjsonReader(_Fourcat):
    name = "4cat-ndjson"
    description = (
        "4CAT NDJSON export (the collected items as they came: Telegram messages, Bluesky "
        "posts, ... with 4CAT_metadata)"
    )
    kind = "jsonl"

    def sniff(self, head: str, filename: str) -> bool:
        value = first_json_line(head)
        if isinstance(value, Mapping):
            return "4CAT_metadata" in value or set(CORE) <= set(value)
        return bool(_RAW_HEAD.match(head.lstrip("\ufeff")))

    def posts(self, row: Any) -> list[Post]:
        if not isinstance(row, Mapping):
            raise RecordError("(record)", "expected a JSON object")
        kind = _item_kind(row)
        if kind == "telegram":
            return [telegram_item_post(row)]
        if kind == "bluesky":
            return [bluesky_item_post(row)]
        if kind == "mapped":
            return super().posts(row)
        raise RecordError(
            "(record)",
            "not an item of a datasource smearwatch reads (Telegram messages, Bluesky posts) "
            f"nor 4CAT's columns {', '.join(CORE)}; keys: {', '.join(list(row)[:8])}",
        )
