"""4CAT exports (CSV and NDJSON) of any datasource.

Every 4CAT export has the core columns `id, thread_id, author, body, timestamp` (UTC, without a
zone) and usually `unix_timestamp`; datasources add their own. The platform is recognised from
those extra columns (Bluesky, Telegram, VK) or given with `--platform`. Ids are brought into
the form smearwatch's own collectors use, so a post imported from 4CAT and the same post
collected later are one post: Telegram `chat-123` becomes `chat/123`, a Bluesky record key
becomes its `at://` URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from collector.formats.base import RowReader, csv_header, first_json_line
from collector.formats.fields import cell, listed, make_post, need, time_of
from collector.post import Post, RecordError

__all__ = ["FourcatCsvReader", "FourcatNdjsonReader", "guess_platform"]

CORE = ("id", "thread_id", "author", "body", "timestamp")
_BLUESKY = {"author_display_name", "quoted_post", "replied_to_post", "author_profile"}
_TELEGRAM = {"chat", "author_username", "body_markdown", "author_forwarded_from_name"}
_VK = {"author_screen_name", "author_sex", "author_type"}


def guess_platform(columns: set[str]) -> str | None:
    for platform, marks in (("bluesky", _BLUESKY), ("telegram", _TELEGRAM), ("vk", _VK)):
        if len(marks & columns) >= 2:
            return platform
    return None


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
        if not author_id:
            raise RecordError("author", "required value is missing")
        if cell(row, "unix_timestamp"):
            created = time_of(float(need(row, "unix_timestamp")), "unix_timestamp")
        else:
            created = time_of(need(row, "timestamp"), "timestamp", UTC)
        record: dict[str, Any] = {
            "platform": platform,
            "post_id": post_id,
            "url": cell(row, "link") or cell(row, "url"),
            "created_at": created.isoformat(),
            "author": {
                "id": author_id,
                "handle": cell(row, "author_username") or author,
                "display_name": cell(row, "author_display_name") or cell(row, "author_name"),
                "created_at": None,
            },
            "text": row.get("body") or "",
            "links": listed(row.get("links") or row.get("entities_linked"), "links"),
            "hashtags": listed(row.get("tags") or row.get("hashtags"), "tags"),
            "mentions": listed(row.get("mentions") or row.get("entities_mentioned"), "mentions"),
        }
        languages = listed(row.get("languages"), "languages")
        if languages:
            record["lang"] = languages[0]
        thread = cell(row, "thread_id")
        if platform == "bluesky":
            self._bluesky(row, record, author_id)
        elif platform == "telegram":
            self._telegram(row, record)
        elif thread and thread != post_id:
            record["reply_to"] = thread
        return [make_post(record, row)]

    @staticmethod
    def _bluesky(row: Mapping[str, Any], record: dict[str, Any], did: str) -> None:
        def uri(value: str | None) -> str | None:
            if value and not value.startswith("at://") and did.startswith("did:"):
                return f"at://{did}/app.bsky.feed.post/{value}"
            return value

        record["post_id"] = uri(record["post_id"])
        record["reply_to"] = cell(row, "replied_to_post")
        record["quote_of"] = cell(row, "quoted_post")
        created = cell(row, "author_created_at")
        if created:
            record["author"]["created_at"] = time_of(created, "author_created_at", UTC).isoformat()
        if cell(row, "created_at"):
            record["created_at"] = time_of(need(row, "created_at"), "created_at", UTC).isoformat()

    @staticmethod
    def _telegram(row: Mapping[str, Any], record: dict[str, Any]) -> None:
        chat = cell(row, "chat")
        post_id = record["post_id"]
        if chat:
            head, _, number = post_id.rpartition("-")
            if number.isdigit():
                record["post_id"] = f"{chat}/{number}"
                record["url"] = record["url"] or f"https://t.me/{chat}/{number}"
            record["author"]["id"] = chat.lower()
            record["author"]["handle"] = chat
            reply = cell(row, "reply_to")
            if reply and reply.isdigit():
                record["reply_to"] = f"{chat}/{reply}"


class FourcatCsvReader(_Fourcat):
    name = "4cat-csv"
    description = "4CAT CSV export (id, thread_id, author, body, timestamp, ...)"
    required = ("id", "body")

    def sniff(self, head: str, filename: str) -> bool:
        return set(CORE) <= csv_header(head)


class FourcatNdjsonReader(_Fourcat):
    name = "4cat-ndjson"
    description = "4CAT NDJSON export (one item per line with id, thread_id, author, body, ...)"
    kind = "jsonl"

    def sniff(self, head: str, filename: str) -> bool:
        value = first_json_line(head)
        return isinstance(value, Mapping) and set(CORE) <= set(value)
