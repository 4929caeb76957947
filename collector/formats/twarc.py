"""twarc2 exports of X/Twitter API v2 data: the JSONL `twarc2 search` writes, and `twarc2 csv`.

JSONL lines are either whole API response pages (`data`, `includes`, `meta`, and `__twarc`
appended last by twarc), or flattened tweets (`twarc2 flatten`) that carry their `author`,
their `referenced_tweets` and their media inline. A page is flattened here the way twarc does
it, so one tweet becomes one post with the same raw payload from either form.

A page of 100 tweets with its includes is usually several hundred KiB on one line, far more
than the head that format detection sees; such a line is recognised from its opening (a
`data` list whose first object has a tweet's keys), not from `__twarc` at its end.

A native retweet's own `text` is "RT @user: " plus the original cut to fit 140 characters,
and its entities are those of the cut text. Like twarc-csv (`merge_retweets`, its default),
the post takes the original's full text and entities when the page includes the original, so
a retweet carries the links and mentions of what it spreads.

The CSV follows twarc-csv's default columns (`id`, `author_id`, `created_at`, `text`,
`referenced_tweets.*.id`, `entities.*` as JSON lists, `author.*`, `__twarc.*`). twarc-csv
writes every line break in a text cell as the two characters `\\n` (and drops `\\r`); that is
undone for the text and the author's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.formats.base import RowReader, csv_header, first_json_line
from collector.formats.fields import cell, listed, make_post, need, time_of
from collector.post import Post, RecordError

__all__ = ["TwarcCsvReader", "TwarcJsonlReader", "flatten_page", "tweet_post"]

PLATFORM = "x"

# The opening of a response page: `{"data": [{` (json.dumps puts a space after ':').
_PAGE_START = re.compile(r'^\s*\{\s*"data"\s*:\s*\[\s*\{')
# Keys only an API v2 tweet object has; its first object (well inside the head) shows some.
_TWEET_KEYS = re.compile(
    r'"(?:edit_history_tweet_ids|conversation_id|author_id|referenced_tweets|reply_settings)"\s*:'
)


_TAG = ("tag",)
_USER = ("username",)


def _url(username: str | None, tweet_id: str) -> str:
    if username:
        return f"https://x.com/{username}/status/{tweet_id}"
    return f"https://x.com/i/web/status/{tweet_id}"


def _index(items: Any, key: str) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {str(i[key]): i for i in items if isinstance(i, Mapping) and i.get(key) is not None}


def flatten_page(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tweets of a response page with their includes inline, as `twarc2 flatten` writes.

    Each object that has an `author_id` gets `author`, `in_reply_to_user_id` gets
    `in_reply_to_user`, `media_keys` gets `media`, entity mentions get the mentioned user's
    fields, and `referenced_tweets` entries get the referenced tweet (itself expanded); what
    the includes lack (deleted or protected) stays as it was. `__twarc` and
    `matching_rules` go onto every tweet.
    """
    includes = page.get("includes") or {}
    if not isinstance(includes, Mapping):
        raise RecordError("includes", "expected an object")
    users = _index(includes.get("users"), "id")
    by_name = {str(u.get("username")).lower(): u for u in users.values() if u.get("username")}
    media = _index(includes.get("media"), "media_key")
    polls = _index(includes.get("polls"), "id")
    places = _index(includes.get("places"), "id")
    tweets: dict[str, Any] = {}

    def expand(value: Any) -> Any:
        if isinstance(value, list):
            return [expand(item) for item in value]
        if not isinstance(value, Mapping):
            return value
        out = {key: expand(item) for key, item in value.items()}
        if "author_id" in out:
            out["author"] = users.get(str(out["author_id"]), {})
        if "in_reply_to_user_id" in out:
            out["in_reply_to_user"] = users.get(str(out["in_reply_to_user_id"]), {})
        if isinstance(out.get("media_keys"), list):
            out["media"] = [media.get(str(k), {}) for k in out["media_keys"]]
        if isinstance(out.get("poll_ids"), list) and out["poll_ids"]:
            out["poll"] = polls.get(str(out["poll_ids"][-1]), {})
        geo = out.get("geo")
        if isinstance(geo, Mapping) and geo.get("place_id") is not None:
            out["geo"] = {**geo, **places.get(str(geo["place_id"]), {})}
        if isinstance(out.get("mentions"), list):
            out["mentions"] = [
                {**m, **by_name.get(str(m.get("username", "")).lower(), {})}
                if isinstance(m, Mapping)
                else m
                for m in out["mentions"]
            ]
        if isinstance(out.get("referenced_tweets"), list):
            out["referenced_tweets"] = [
                {**ref, **tweets.get(str(ref.get("id")), {})} if isinstance(ref, Mapping) else ref
                for ref in out["referenced_tweets"]
            ]
        return out

    for tweet_id, tweet in _index(includes.get("tweets"), "id").items():
        tweets[tweet_id] = expand(tweet)
    data = page.get("data")
    if isinstance(data, Mapping):  # a single-tweet lookup response
        data = [data]
    if not isinstance(data, list):
        raise RecordError("data", "expected a list of tweets")
    flat = []
    for index, tweet in enumerate(data):
        if not isinstance(tweet, Mapping):
            raise RecordError(f"data[{index}]", "expected a tweet object")
        item = expand(tweet)
        if "__twarc" in page:
            item["__twarc"] = page["__twarc"]
        if "matching_rules" in page:
            item["matching_rules"] = page["matching_rules"]
        flat.append(item)
    return flat


def _references(refs: Any, where: str) -> dict[str, Mapping[str, Any]]:
    """The first referenced tweet of each type (`replied_to`, `retweeted`, `quoted`)."""
    found: dict[str, Mapping[str, Any]] = {}
    if refs is None:
        return found
    if not isinstance(refs, list):
        raise RecordError(where, "expected a list")
    for ref in refs:
        if isinstance(ref, Mapping) and ref.get("type") and ref.get("id"):
            found.setdefault(str(ref["type"]), ref)
    return found


def _content(tweet: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    """A tweet's full text and its entities: a long post's `note_tweet` when there is one."""
    note = tweet.get("note_tweet")
    if isinstance(note, Mapping) and isinstance(note.get("text"), str) and note["text"]:
        entities = note.get("entities")
        return note["text"], entities if isinstance(entities, Mapping) else {}
    entities = tweet.get("entities")
    if not isinstance(entities, Mapping):
        entities = {}
    text = tweet.get("text")
    return text if isinstance(text, str) else None, entities


def _entity_values(items: Any, where: str, keys: tuple[str, ...]) -> list[str]:
    """The first of `keys` present in each entity object (a flattened mention also carries
    the user's fields, `url` among them, so the key to read must be named)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise RecordError(where, "expected a list")
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise RecordError(where, f"expected entity objects, found {type(item).__name__}")
        value = next((item[k] for k in keys if isinstance(item.get(k), str) and item[k]), None)
        if value:
            out.append(value)
    return out


def _links(urls: Any, where: str) -> list[str]:
    """Expanded links of `entities.urls`; a media item's own link (`media_key`) is left out:
    it points at the tweet itself, not at anything the tweet spreads."""
    if isinstance(urls, list):
        urls = [u for u in urls if not (isinstance(u, Mapping) and u.get("media_key"))]
    return _entity_values(urls, where, ("expanded_url", "unwound_url", "url"))


def tweet_post(tweet: Any, where: str = "") -> Post:
    """One flattened API v2 tweet (author and referenced tweets inline) → a post."""
    if not isinstance(tweet, Mapping):
        raise RecordError(where or "(record)", "expected a tweet object")
    prefix = f"{where}." if where else ""
    tweet_id = tweet.get("id")
    if not tweet_id:
        raise RecordError(f"{prefix}id", "required value is missing")
    user = tweet.get("author")
    user = user if isinstance(user, Mapping) else {}
    author_id = tweet.get("author_id") or user.get("id")
    if not author_id:
        raise RecordError(f"{prefix}author_id", "required value is missing")
    refs = _references(tweet.get("referenced_tweets"), f"{prefix}referenced_tweets")
    text, entities = _content(tweet)
    entities_where = f"{prefix}entities"
    original = refs.get("retweeted")
    if original is not None:
        full, full_entities = _content(original)
        if full:  # the original is in the includes: its whole text, not the cut one
            text, entities = full, full_entities
            entities_where = f"{prefix}referenced_tweets.retweeted.entities"
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
        "text": text or "",
        "lang": tweet.get("lang"),
        "links": _links(entities.get("urls"), f"{entities_where}.urls"),
        "hashtags": _entity_values(entities.get("hashtags"), f"{entities_where}.hashtags", _TAG),
        "mentions": _entity_values(entities.get("mentions"), f"{entities_where}.mentions", _USER),
        "reply_to": _ref_id(refs, "replied_to"),
        "repost_of": _ref_id(refs, "retweeted"),
        "quote_of": _ref_id(refs, "quoted"),
    }
    try:
        return make_post(record, tweet)
    except RecordError as exc:
        if exc.field.startswith("author."):
            raise RecordError(f"{prefix}author.{exc.field[7:]}", exc.message) from None
        raise


def _ref_id(refs: Mapping[str, Mapping[str, Any]], kind: str) -> str | None:
    ref = refs.get(kind)
    return str(ref["id"]) if ref is not None else None


def _is_page_head(head: str) -> bool:
    """A response page too long for the head: its opening and a tweet's keys show it."""
    text = head.lstrip("\ufeff")
    return bool(_PAGE_START.match(text)) and bool(_TWEET_KEYS.search(text))


class TwarcJsonlReader(RowReader):
    name = "twarc2-jsonl"
    description = "twarc2 JSONL (X/Twitter API v2 response pages or flattened tweets)"
    kind = "jsonl"

    def sniff(self, head: str, filename: str) -> bool:
        value = first_json_line(head)
        if isinstance(value, Mapping):
            if "__twarc" in value and ("data" in value or "author_id" in value):
                return True
            return isinstance(value.get("data"), list | Mapping) and (
                "includes" in value or "meta" in value
            )
        # the first line is cut off by the head (a page is usually several hundred KiB)
        return _is_page_head(head)

    def posts(self, value: Any) -> list[Post]:
        if not isinstance(value, Mapping):
            raise RecordError("(record)", "expected a JSON object")
        if "data" in value:
            tweets = flatten_page(value)
            return [tweet_post(tweet, f"data[{i}]") for i, tweet in enumerate(tweets)]
        if "id" not in value and ("meta" in value or "errors" in value):
            return []  # a page without results (or only errors): nothing to import
        return [tweet_post(value)]


_CSV_REQUIRED = ("id", "author_id", "created_at", "text")


def _unescape(value: str | None) -> str | None:
    """Undo twarc-csv's newline escape (`\\n` written for a line break)."""
    return value.replace("\\n", "\n") if value else value


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
        links = listed(cell(row, "entities.urls"), "entities.urls", separator=None)
        record = {
            "platform": PLATFORM,
            "post_id": tweet_id,
            "url": _url(username, tweet_id),
            "created_at": time_of(need(row, "created_at"), "created_at").isoformat(),
            "author": {
                "id": need(row, "author_id"),
                "handle": username,
                "display_name": _unescape(cell(row, "author.name")),
                "created_at": cell(row, "author.created_at"),
            },
            "text": _unescape(row.get("text")) or "",
            "lang": cell(row, "lang"),
            # a media item is written as its display link ("pic.x.com/…"): not a link it spreads
            "links": [link for link in links if "://" in link],
            "hashtags": listed(cell(row, "entities.hashtags"), "entities.hashtags", separator=None),
            "mentions": listed(cell(row, "entities.mentions"), "entities.mentions", separator=None),
            "reply_to": cell(row, "referenced_tweets.replied_to.id"),
            "repost_of": cell(row, "referenced_tweets.retweeted.id"),
            "quote_of": cell(row, "referenced_tweets.quoted.id"),
        }
        return [make_post(record, row)]
