"""Telegram Desktop's channel export (`result.json`, "Export chat history" → JSON).

One JSON document, not JSON lines, and a large channel's can run to gigabytes. It is read as a
stream: the top-level keys before `messages` (channel name, type, id) are parsed whole, then
each message object is decoded on its own from a sliding buffer, so memory holds one message at
a time. Errors name the line where the message starts.

Mapping: `date_unixtime` (UTC; `date` is the exporting computer's local time and is used only
with --timezone), `text` as a string or a list of plain strings and entity objects,
links from `text_entities` (`link`, `text_link`), hashtags, mentions, `reply_to_message_id`.
`forwarded_from` is a display name and `forwarded_from_id` a peer id, neither a post id; both
are kept in the post's provenance. Post ids are `<channel>/<message id>` spelt exactly as the
web-preview collector spells them (`collector.post.telegram_post_id`: the username
lower-cased) when the channel's public username is given (`--channel`), so an export and a
collected channel meet on the same posts; else `c<channel id>/<message id>`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from collector.formats.base import (
    MAX_RECORD_BYTES,
    ExportFile,
    ImportFormatError,
    LineError,
    ParsedRecord,
)
from collector.formats.fields import make_post, time_of
from collector.post import RecordError, telegram_channel, telegram_post_id

__all__ = ["TelegramDesktopReader"]

_CHUNK = 1 << 16
_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


class _Stream:
    """Text of a byte stream, consumed front to back, with line counting."""

    def __init__(self, export: ExportFile) -> None:
        self._raw = export.stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.path = str(export.path)
        self.buffer = ""
        self.line = 1
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self._raw.read(_CHUNK)
        try:
            self.buffer += self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise ImportFormatError(
                self.path, "not valid UTF-8", line=self.line, field="(encoding)"
            ) from None
        if not data:
            self.eof = True
        return True

    def skip_ws(self, also: str = "") -> str:
        """Skip white space (and `also`); the next character, or '' at the end."""
        while True:
            index = 0
            while index < len(self.buffer) and self.buffer[index] in _WS + also:
                index += 1
            self.consume(index)
            if self.buffer or not self.fill():
                return self.buffer[:1]

    def consume(self, count: int) -> str:
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        self.line += taken.count("\n")
        return taken

    def value(self) -> tuple[Any, int, str]:
        """Decode the next JSON value; returns it, its first line and its text."""
        self.skip_ws()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer)
            except json.JSONDecodeError as exc:
                if len(self.buffer) > MAX_RECORD_BYTES:
                    raise ImportFormatError(
                        self.path,
                        f"a value longer than {MAX_RECORD_BYTES:,} characters, or broken JSON",
                        line=self.line,
                    ) from None
                if not self.fill():
                    line = self.line + self.buffer[: exc.pos].count("\n")
                    raise ImportFormatError(
                        self.path, f"not valid JSON: {exc.msg}", line=line
                    ) from None
                continue
            if end == len(self.buffer) and not self.eof and isinstance(value, int | float):
                self.fill()  # a number may continue in the next chunk
                continue
            line = self.line
            return value, line, self.consume(end)


class TelegramDesktopReader:
    name = "telegram-desktop"
    description = "Telegram Desktop channel export (result.json)"

    def __init__(self, **options: Any) -> None:
        self.options = options

    def configure(self, **options: Any) -> TelegramDesktopReader:
        merged = {**self.options, **{k: v for k, v in options.items() if v is not None}}
        return type(self)(**merged)

    def sniff(self, head: str, filename: str) -> bool:
        text = head.lstrip("\ufeff").lstrip()
        return (
            text.startswith("{")
            and '"messages"' in head
            and ('"date_unixtime"' in head or '_channel"' in head or '"text_entities"' in head)
        )

    def read(self, export: ExportFile) -> Iterator[ParsedRecord]:
        stream = _Stream(export)
        if stream.skip_ws() != "{":
            raise ImportFormatError(stream.path, "expected a JSON object (result.json)", line=1)
        stream.consume(1)
        meta: dict[str, Any] = {}
        while True:
            char = stream.skip_ws(",")
            if char == "}":
                break
            if char != '"':
                raise ImportFormatError(stream.path, "expected a key", line=stream.line)
            key, _, _ = stream.value()
            if stream.skip_ws() != ":":
                raise ImportFormatError(stream.path, "expected ':'", line=stream.line)
            stream.consume(1)
            if key == "chats" or key == "personal_information":
                raise ImportFormatError(
                    stream.path,
                    "this is a whole-account export; export one channel instead (channel "
                    "menu → Export chat history → JSON)",
                )
            if key != "messages":
                meta[key], _, _ = stream.value()
                continue
            if stream.skip_ws() != "[":
                raise ImportFormatError(stream.path, "'messages' is not a list", line=stream.line)
            stream.consume(1)
            while True:
                char = stream.skip_ws(",")
                if char == "]":
                    stream.consume(1)
                    break
                if not char:
                    raise ImportFormatError(
                        stream.path, "the file ends inside 'messages'", line=stream.line
                    )
                message, line, text = stream.value()
                record = self._record(message, meta, line, text.encode("utf-8"))
                if record is not None:
                    yield record

    def _channel(self, meta: Mapping[str, Any]) -> str:
        """The channel's id (and prefix of its post ids): the username as the web collector
        spells it (`telegram_channel`), else `c<channel id>`."""
        username = self.options.get("channel")
        if username:
            return telegram_channel(str(username))
        channel_id = meta.get("id")
        if channel_id is None:
            raise RecordError("id", "the export has no channel id; pass --channel USERNAME")
        return f"c{channel_id}"

    def _record(
        self, message: Any, meta: Mapping[str, Any], line: int, source: bytes
    ) -> ParsedRecord | None:
        try:
            if not isinstance(message, Mapping):
                raise RecordError("(message)", "expected a JSON object")
            if message.get("type", "message") != "message":
                return None  # service messages: pinned, joined, title changed
            return ParsedRecord(line, self._post(message, meta), None, source)
        except RecordError as exc:
            return ParsedRecord(line, None, LineError(line, exc.field, exc.message), source)

    def _post(self, message: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
        channel = self._channel(meta)
        number = message.get("id")
        if not isinstance(number, int):
            raise RecordError("id", "required message id is missing")
        if message.get("date_unixtime"):
            created = time_of(str(message["date_unixtime"]), "date_unixtime")
        elif self.options.get("timezone") is not None:
            created = time_of(message.get("date"), "date", self.options["timezone"])
        else:
            raise RecordError(
                "date_unixtime",
                "missing; 'date' is in the exporting computer's local time: pass --timezone",
            )
        text, links, hashtags, mentions = _text(message)
        # the channel's links to its own posts are navigation, as the web collector treats them
        links = [link for link in links if not _own_post(link, channel)]
        reply = message.get("reply_to_message_id")
        username = self.options.get("channel")
        handle = str(username).strip().lstrip("@") if username else None
        record = {
            "platform": "telegram",
            "post_id": telegram_post_id(channel, number),
            "url": f"https://t.me/{handle}/{number}" if handle else None,
            "created_at": created.isoformat(),
            "author": {
                "id": channel,
                "handle": handle,
                "display_name": message.get("from") or meta.get("name"),
            },
            "text": text,
            "links": links,
            "hashtags": hashtags,
            "mentions": mentions,
            "reply_to": telegram_post_id(channel, reply) if isinstance(reply, int) else None,
        }
        return make_post(
            record,
            message,
            forwarded_from=message.get("forwarded_from"),
            forwarded_from_id=message.get("forwarded_from_id"),
            edited=message.get("edited_unixtime"),
            views=message.get("views"),
            channel_name=meta.get("name"),
        )


_OWN_POST = re.compile(r"^https?://(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?([A-Za-z0-9_]+)/\d+")


def _own_post(link: str, channel: str) -> bool:
    match = _OWN_POST.match(link)
    return match is not None and telegram_channel(match.group(1)) == channel


def _text(message: Mapping[str, Any]) -> tuple[str, list[str], list[str], list[str]]:
    value = message.get("text", "")
    entities = message.get("text_entities")
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        parts = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise RecordError("text", "expected strings and entity objects")
        text = "".join(parts)
        if entities is None:
            entities = [p for p in value if isinstance(p, Mapping)]
    else:
        raise RecordError("text", f"expected a string or a list, got {type(value).__name__}")
    links: list[str] = []
    hashtags: list[str] = []
    mentions: list[str] = []
    for entity in entities or []:
        if not isinstance(entity, Mapping):
            continue
        kind, body = entity.get("type"), entity.get("text") or ""
        if kind == "link" and body:
            links.append(body if "://" in body else f"https://{body}")
        elif kind == "text_link" and entity.get("href"):
            links.append(str(entity["href"]))
        elif kind == "hashtag" and body:
            hashtags.append(body)
        elif kind == "mention" and body:  # a mention_name is a person's name, not a handle
            mentions.append(body.lstrip("@"))
    return text, links, hashtags, mentions
