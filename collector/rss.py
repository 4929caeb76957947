"""RSS and Atom feeds: news sites, Mastodon and YouTube feeds, self-hosted bridges.

Feeds are fetched with httpx (the shared policy) and only *parsed* by feedparser, because
feedparser's own fetching would bypass our timeouts, retries and User-Agent.

Cursor (JSON)::

    {"feeds": {"<feed url>": {"etag": "<ETag>" | null, "last_modified": "<HTTP date>" | null,
                              "hwm": "<time key of the newest entry>" | null}}}

Each poll is a conditional GET (`If-None-Match`, `If-Modified-Since`); a 304 yields an empty
page and leaves the cursor alone. A feed is a window of recent entries, not a paginated
listing, so there is nothing to walk: one response is one page and its validators are stored
with it, in the same transaction as its entries. Many servers ignore validators and send the
whole feed every time; the entries are then yielded again and dedup on `(platform, post_id)`
absorbs them. On a feed's first poll (no sub-cursor yet) entries older than the backfill
horizon are dropped; afterwards every entry is yielded, so a late-published or back-dated entry
is never skipped.

Mapping: `post_id` is the entry's `id` when it is globally unique (a URL, URN or tag URI),
else `<feed url>#<id>`, else the entry link. The author is the feed (the publisher); an
entry's byline goes to `extra["byline"]`. Text is the title, a blank line and the entry's
content (or summary) as plain text. The raw payload is the entry's XML element exactly as
received when it can be located in the document, else the canonical JSON of feedparser's view
of the entry.
"""

from __future__ import annotations

import calendar
import dataclasses
import logging
import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import httpx

from collector.base import Collector, CollectorContext, Page, Setting, is_stream_error, time_key
from collector.errors import CollectorError, MalformedResponse
from collector.htmltext import html_to_text
from collector.http import safe_url
from collector.post import Post, RecordError, canonical_json, post_from_record

__all__ = ["RssCollector"]

log = logging.getLogger(__name__)

_ELEMENT = re.compile(
    r"<(?:[A-Za-z_][\w.-]*:)?(item|entry)\b[\s\S]*?</(?:[A-Za-z_][\w.-]*:)?\1\s*>"
)
_GLOBAL_ID = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)", re.IGNORECASE)


class RssCollector(Collector):
    platform = "rss"
    version = "1"
    settings = (
        Setting(
            "base_url",
            "url",
            None,
            help="if set, feed paths that are not absolute URLs are resolved against it",
        ),
        Setting("feeds", "strings", None, required=True, help="feed URLs (RSS 2.0 or Atom)"),
    )
    examples = {"feeds": ["https://example.org/feed.xml"]}

    def __init__(self, config: Mapping[str, Any], context: CollectorContext) -> None:
        super().__init__(config, context)
        base = self.config["base_url"]
        feeds = []
        for feed in self.config["feeds"]:
            if base and not re.match(r"^https?://", feed):
                feed = urljoin(base + "/", feed.lstrip("/"))
            feeds.append(feed)
        self.feeds = tuple(dict.fromkeys(feeds))

    def fetch(self, cursor: Mapping[str, Any] | None, *, since: datetime) -> Iterator[Page]:
        state: dict[str, Any] = {"feeds": dict((cursor or {}).get("feeds") or {})}
        for feed in self.feeds:
            try:
                yield self._feed(state, feed, since)
            except CollectorError as exc:
                if not is_stream_error(exc):
                    raise
                self.stream_failed(feed, exc)
        self.finish()

    def _feed(self, state: dict[str, Any], feed: str, since: datetime) -> Page:
        streams = state["feeds"]
        first_poll = feed not in streams
        sub = dict(streams.get(feed) or {})
        headers = {}
        if sub.get("etag"):
            headers["If-None-Match"] = sub["etag"]
        if sub.get("last_modified"):
            headers["If-Modified-Since"] = sub["last_modified"]
        response = self.http.get(feed, headers=headers)
        fetched_at = self.context.now()
        if response.status_code == 304:
            log.debug("feed %s not modified", safe_url(feed))
            return self.page([], state, response, fetched_at)
        parsed = feedparser.parse(
            response.content,
            response_headers={
                "content-type": response.headers.get("content-type", ""),
                "content-location": str(response.url),
            },
        )
        if parsed.bozo and not parsed.entries and not parsed.feed.get("title"):
            url = safe_url(response.url)
            problem = type(parsed.get("bozo_exception")).__name__
            raise MalformedResponse(
                f"{url}: not a readable RSS/Atom feed ({problem})",
                url=url,
                status=response.status_code,
            )
        fragments = _entry_fragments(response.content, parsed)
        horizon = time_key(since) if first_poll else None
        posts = []
        for index, entry in enumerate(parsed.entries):
            raw = fragments[index] if fragments else None
            try:
                post = self._post(feed, parsed.feed, entry, raw, fetched_at, response)
            except RecordError as exc:
                log.warning("skipping a malformed entry of %s (%s)", safe_url(feed), exc)
                continue
            if horizon and time_key(post.created_at) < horizon:
                continue
            posts.append(post)
        newest = max((time_key(p.created_at) for p in posts), default=None)
        streams[feed] = {
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "hwm": max(filter(None, [newest, sub.get("hwm")]), default=None),
        }
        return self.page(posts, state, response, fetched_at)

    def _post(
        self,
        feed: str,
        meta: Mapping[str, Any],
        entry: Mapping[str, Any],
        raw: str | None,
        fetched_at: datetime,
        response: httpx.Response,
    ) -> Post:
        link = entry.get("link")
        entry_id = (entry.get("id") or "").strip()
        if entry_id and _GLOBAL_ID.match(entry_id):
            post_id = entry_id
        elif entry_id:
            post_id = f"{feed}#{entry_id}"
        else:
            post_id = link
        if not post_id:
            raise RecordError("post_id", "entry has neither id nor link")
        parsed_time = entry.get("published_parsed") or entry.get("updated_parsed")
        extra = self.provenance(safe_url(response.url), feed=feed)
        if parsed_time:
            created = datetime.fromtimestamp(calendar.timegm(parsed_time), UTC)
        else:
            created = fetched_at
            extra["date_missing"] = True
        contents = entry.get("content") or []
        body_html = contents[0].get("value") if contents else entry.get("summary") or ""
        body, anchors = html_to_text(body_html or "")
        title = (entry.get("title") or "").strip()
        text = f"{title}\n\n{body}".strip() if body else title
        links = [link] if link else []
        links += [a.href for a in anchors if a.href.startswith(("http://", "https://"))]
        links += [e.get("href") for e in entry.get("enclosures") or () if e.get("href")]
        language = (meta.get("language") or "").split("-")[0].lower() or None
        if entry.get("author"):
            extra["byline"] = entry["author"]
        tags = [t.get("term") for t in entry.get("tags") or () if t.get("term")]
        if tags:
            extra["categories"] = tuple(tags)
        post = post_from_record(
            {
                "platform": "rss",
                "post_id": post_id,
                "url": link,
                "created_at": created.isoformat(),
                "author": {
                    "id": feed,
                    "handle": meta.get("link"),
                    "display_name": meta.get("title"),
                },
                "text": text,
                "lang": language,
                "links": links,
            },
            raw=raw if raw is not None else canonical_json(_jsonable(entry)),
        )
        return dataclasses.replace(post, collected_at=fetched_at, extra=extra)


def _entry_fragments(content: bytes, parsed: Any) -> list[str] | None:
    """The entries' XML elements verbatim, in document order, if they can be matched 1:1."""
    encoding = parsed.get("encoding") or "utf-8"
    try:
        text = content.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None
    fragments = [m.group(0) for m in _ELEMENT.finditer(text)]
    return fragments if len(fragments) == len(parsed.entries) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, time.struct_time):
        return datetime.fromtimestamp(calendar.timegm(value), UTC).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
