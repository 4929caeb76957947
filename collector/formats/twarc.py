"""twarc2 exports of X/Twitter API v2 data: the JSONL `twarc2 search` writes, and `twarc2 csv`.

JSONL lines are either whole API response pages (`data`, `includes`, `meta`, `__twarc`), where
a tweet's author is found in `includes.users`, or flattened tweets (`twarc2 flatten`) that
carry their `author` inline. Either way one tweet becomes one post, and its raw payload is the
tweet object with its `author` and the `__twarc` capture metadata attached, which is what the
flattened form holds; so the same tweet gets the same payload from either form.

The CSV follows twarc-csv's default columns (`id`, `author_id`, `created_at`, `text`,
`referenced_tweets.*.id`, `entities.*` as JSON lists, `author.*`, `__twarc.*`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from collector.formats.base import RowReader, csv_header, first_json_line
from collector.formats.fields import cell, listed, make_post, need, time_of
from collector.post import Post, RecordError, canonical_json

__all__ = ["TwarcCsvReader", "TwarcJsonlReader"]

PLATFORM = "x"


def _url(username: str | None, tweet_id: str) -> str:
    if username:
        return f"https://x.com/{username}/status/{tweet_id}"
    return f"https://x.com/i/web/status/{tweet_id}"


def _references(refs: Any, where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if refs is None:
        return found
    if not isinstance(refs, list):
        raise RecordError(where, "expected a list")
    for ref in refs:
        if isinstance(ref, Mapping) and ref.get("type") and ref.get("id"):
            found.setdefault(str(ref["type"]), str(ref["id"]))
    return found


def tweet_post(tweet: Any, user: Mapping[str, Any] | None, where: str = "") -> Post:
    """One API v2 tweet object (and its author's user object) → a post."""
    if not isinstance(tweet, Mapping):
        raise RecordError(where or "(record)", "expected a tweet object")
    prefix = f"{where}." if where else ""
    tweet_id = tweet.get("id")
    if not tweet_id:
        raise RecordError(f"{prefix}id", "required value is missing")
    author_id = tweet.get("author_id") or (user or {}).get("id")
    if not author_id:
        raise RecordError(f"{prefix}author_id", "required value is missing")
    user = user or {}
    entities = tweet.get("entities") or {}
    note = tweet.get("note_tweet")
    text = note.get("text") if isinstance(note, Mapping) and note.get("text") else None
    refs = _references(tweet.get("referenced_tweets"), f"{prefix}referenced_tweets")
    record = {
        "platform": PLATFORM,
        "post_id": str(tweet_id),
        "url": _url(user.get("username"), str(tweet_id)),
        "created_at": time_of(tweet.get("created_at"), f"{prefix}created_at").isoformat(),
        "author": {
            "id": str(author_id),
            "handle": user.get("username"),
            "display_name": user.get("name"),
            "created_at": user.get("created_at"),
        },
        "text": text or tweet.get("text") or "",
        "lang": tweet.get("lang"),
        "links": listed(entities.get("urls"), f"{prefix}entities.urls"),
        "hashtags": listed(entities.get("hashtags"), f"{prefix}entities.hashtags"),
        "mentions": listed(entities.get("mentions"), f"{prefix}entities.mentions"),
        "reply_to": refs.get("replied_to"),
        "repost_of": refs.get("retweeted"),
        "quote_of": refs.get("quoted"),
    }
    try:
        return make_post(record, tweet)
    except RecordError as exc:
        if exc.field.startswith("author."):
            raise RecordError(f"{prefix}author.{exc.field[7:]}", exc.message) from None
        raise


class TwarcJsonlReader(RowReader):
    name = "twarc2-jsonl"
    description = "twarc2 JSONL (X/Twitter API v2 response pages or flattened tweets)"
    kind = "jsonl"

    def sniff(self, head: str, filename: str) -> bool:
        value = first_json_line(head)
        if isinstance(value, Mapping):
            if "__twarc" in value and ("data" in value or "author_id" in value):
                return True
            return isinstance(value.get("data"), list) and "includes" in value
        # a page line longer than the head: look for its typical keys
        start = head.lstrip("\ufeff")[:200]
        return (
            start.startswith('{"data": [')
            and '"__twarc"' in head
            or (start.startswith('{"data":[') and '"edit_history_tweet_ids"' in head)
        )

    def posts(self, value: Any) -> list[Post]:
        if not isinstance(value, Mapping):
            raise RecordError("(record)", "expected a JSON object")
        twarc = value.get("__twarc")
        if "data" in value:
            data = value["data"]
            if isinstance(data, Mapping):  # a single-tweet lookup response
                data = [data]
            if not isinstance(data, list):
                raise RecordError("data", "expected a list of tweets")
            users = {
                str(u.get("id")): u
                for u in (value.get("includes") or {}).get("users") or []
                if isinstance(u, Mapping)
            }
            posts = []
            for index, tweet in enumerate(data):
                where = f"data[{index}]"
                if not isinstance(tweet, Mapping):
                    raise RecordError(where, "expected a tweet object")
                user = users.get(str(tweet.get("author_id")))
                raw_tweet = dict(tweet)
                if user is not None:
                    raw_tweet["author"] = user
                if twarc is not None:
                    raw_tweet["__twarc"] = twarc
                post = tweet_post(tweet, user, where)
                posts.append(make_post_raw(post, raw_tweet))
            return posts
        author = value.get("author")
        return [tweet_post(value, author if isinstance(author, Mapping) else None)]


def make_post_raw(post: Post, raw_value: Any) -> Post:
    return dataclasses.replace(post, raw=canonical_json(raw_value))


_CSV_REQUIRED = ("id", "author_id", "created_at", "text")


class TwarcCsvReader(RowReader):
    name = "twarc2-csv"
    description = "twarc2 CSV (twarc-csv columns: id, author_id, created_at, text, ...)"
    required = _CSV_REQUIRED

    def sniff(self, head: str, filename: str) -> bool:
        columns = csv_header(head)
        return set(_CSV_REQUIRED) <= columns and bool(
            {"conversation_id", "__twarc.retrieved_at", "referenced_tweets.replied_to.id"} & columns
        )

    def posts(self, row: Any) -> list[Post]:
        tweet_id = need(row, "id")
        username = cell(row, "author.username")
        record = {
            "platform": PLATFORM,
            "post_id": tweet_id,
            "url": _url(username, tweet_id),
            "created_at": time_of(need(row, "created_at"), "created_at").isoformat(),
            "author": {
                "id": need(row, "author_id"),
                "handle": username,
                "display_name": cell(row, "author.name"),
                "created_at": cell(row, "author.created_at"),
            },
            "text": row.get("text") or "",
            "lang": cell(row, "lang"),
            "links": listed(cell(row, "entities.urls"), "entities.urls", separator=None),
            "hashtags": listed(cell(row, "entities.hashtags"), "entities.hashtags", separator=None),
            "mentions": listed(cell(row, "entities.mentions"), "entities.mentions", separator=None),
            "reply_to": cell(row, "referenced_tweets.replied_to.id"),
            "repost_of": cell(row, "referenced_tweets.retweeted.id"),
            "quote_of": cell(row, "referenced_tweets.quoted.id"),
        }
        return [make_post(record, row)]
