"""Mastodon, one instance per source: hashtag timelines, watched accounts, and search.

An instance only knows what reached it by federation, so a source names one instance
(`base_url`) and operators configure several sources for several instances.

Streams and cursor (JSON)::

    {"tags":     {"<hashtag>": {"min_id": ID, "read_at": T, "walk": {"pos": ID, "started": T}
                                | absent, "seen": [ID, ...]}},
     "accounts": {"<acct>":    {"id": "<account id on this instance>", <same keys>}},
     "search":   {"<query>":   {"hwm": K | null, "walk": {..., "started": T} | null,
                                "read_at": T, "seen": [ID, ...]}}}

Late posts. A remote status gets its id from its *publish* time (`Mastodon::Snowflake.id_at`
on `created_at`, which ActivityPub `Create` takes from `published`), not from when it reached
the instance. A post delivered late (federation queues, retries, a reply fetched later) so
sorts below ids read long ago. Every walk therefore starts `overlap` (default 2 h) below the
previous walk: at the lower of the high-water mark and the snowflake id of `read_at - overlap`,
where `read_at` is when the previous complete walk began. That catches every post whose
delivery took less than `overlap`. Statuses of the re-read margin that were already yielded are
in `seen` (ids at or above the next floor, at most 2,000 per stream) and are not yielded again;
anything that slips through is a duplicate the store absorbs on `(platform, post_id)`.

Hashtag timelines and account statuses are read **oldest first** with `min_id`: Mastodon then
returns the statuses immediately newer than `min_id` (Link `rel="prev"` names the next such
page). Every page is a contiguous step forward; an unfinished walk (`max_pages`, a crash)
keeps its position in `walk` and resumes there. On a stream's first run the floor is the
snowflake id of the backfill horizon (`(unix ms) << 16`), so the walk starts at `since`
without walking back from the top.

Status search (only when a token is configured: `SMEARWATCH_MASTODON_TOKEN`, or the variable
named by `token_env`) is ranked newest first, so it uses the same
walk-back-to-the-high-water-mark bookkeeping as Bluesky (`NewestFirstWalk`; keys are
zero-padded status ids; tokens a `max_id`, or `o<offset>`), with the same overlap below the
mark. Search only finds statuses of authors who opted in (`indexable`). See `_search` for why a
short page is not the end and how a refused `max_id` is survived.

Login-only feeds: without a token, a 401 on one hashtag timeline or account (instances whose
admins restrict topic feeds or account pages to logged-in users) fails that stream only; the
error names the stream and the token variable. With a token, a 401 means the token is refused
and stops the source.

Mapping: `post_id` is the status `uri` (global ActivityPub id, the same on every instance),
the author id is the account's `uri` (or profile `url`), the handle the full `user@domain`.
HTML content becomes plain text; anchors that are not mentions or hashtags become links, plus
the preview card's URL. A boost becomes a post of the booster with empty text and
`repost_of` = the boosted status, and the boosted status is yielded too. `in_reply_to_id` is an
id local to the instance: `reply_to` carries the parent's `uri` when this collector has seen
the parent, and `extra["in_reply_to_id"]` always carries the local id. An edited status's
`edited_at` goes to `extra["edited_at"]`.

Recheck: recently stored statuses are looked up by their local id (`GET /api/v1/statuses/:id`);
404 is a deletion, a moved `edited_at` an edit (`_recheck`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import orjson

from collector.base import (
    Collector,
    CollectorContext,
    NewestFirstWalk,
    Page,
    RecheckResult,
    Setting,
    StoredPost,
    is_stream_error,
    key_time,
    time_key,
)
from collector.errors import (
    AuthFailed,
    CollectorError,
    MalformedResponse,
    NotFound,
    PartialFailure,
    RequestRejected,
    SettingsError,
)
from collector.htmltext import html_to_text
from collector.http import safe_url
from collector.post import Post, RecordError, canonical_json, parse_time, post_from_record

__all__ = ["MastodonCollector", "snowflake_at"]

log = logging.getLogger(__name__)

TOKEN_ENV = "SMEARWATCH_MASTODON_TOKEN"
_PUBLIC = frozenset({"public", "unlisted"})
_SEEN_LIMIT = 50_000
#: ids kept per stream to skip re-read statuses of the overlap; beyond it the oldest are
#: forgotten and may be yielded again (the store absorbs them on `(platform, post_id)`)
_SEEN_CAP = 2_000


def snowflake_at(when: datetime) -> str:
    """The smallest Mastodon status id that can have been created at `when`."""
    return str(int(when.timestamp() * 1000) << 16)


def _id_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _id_key(value: Any) -> str:
    return f"{_id_int(value):020d}"


def _id_time(status_id: int) -> datetime:
    """When a status id was minted (its top 48 bits are Unix milliseconds)."""
    return datetime.fromtimestamp((status_id >> 16) / 1000, tz=UTC)


def _next_second_id(status_id: int) -> int:
    """The smallest id of the second after `status_id`'s: a `max_id` that keeps its second.

    Mastodon >= 4.2 turns a search `max_id` into `before:"<its time, whole seconds>"`, so
    `max_id` = the oldest id of a page would skip the unread statuses of that same second.
    """
    return ((status_id >> 16) // 1000 + 1) * 1000 << 16


def _second_start_id(status_id: int) -> int:
    """The smallest id of `status_id`'s own second."""
    return (status_id >> 16) // 1000 * 1000 << 16


def _capped(ids: set[str]) -> list[str]:
    """The newest `_SEEN_CAP` ids, sorted, for the cursor."""
    return sorted(ids, key=_id_int)[-_SEEN_CAP:]


class MastodonCollector(Collector):
    platform = "mastodon"
    version = "1"
    settings = (
        Setting(
            "base_url",
            "url",
            None,
            required=True,
            help="the instance, e.g. https://mastodon.social",
        ),
        Setting(
            "hashtags",
            "strings",
            None,
            help="hashtags without '#'; default: derived from the defenders' aliases",
        ),
        Setting("accounts", "strings", (), help="watched accounts, 'user@domain'"),
        Setting(
            "queries",
            "strings",
            None,
            help="status search (needs a token); default: the defenders' aliases",
        ),
        Setting(
            "token",
            "str",
            None,
            secret=True,
            env=TOKEN_ENV,
            help="user token (read scope) for search and locked-down instances",
        ),
        Setting(
            "token_env", "str", TOKEN_ENV, help="environment variable holding this instance's token"
        ),
        Setting("page_size", "int", 40, help="statuses per request (1-40)"),
        Setting(
            "max_pages",
            "int",
            50,
            help="pages per stream and run; a longer walk resumes on the next run",
        ),
        Setting(
            "overlap",
            "duration",
            timedelta(hours=2),
            help="margin re-read below the last walk for posts that federated late",
        ),
    )
    supports_recheck = True
    default_recheck_max = 200  # one request each, within the usual 300 per 5 minutes
    examples = {
        "base_url": "https://mastodon.social",
        "hashtags": ["example"],
        "accounts": ["someone@mastodon.social"],
    }

    def __init__(self, config: Mapping[str, Any], context: CollectorContext) -> None:
        super().__init__(config, context)
        cfg = self.config
        self.base: str = cfg["base_url"]
        self.host = urlsplit(self.base).hostname or self.base
        if not 1 <= cfg["page_size"] <= 40:
            raise SettingsError(f"source {self.name!r}: page_size must be between 1 and 40")
        terms = self.default_search_terms()  # from the wiring layer; None when built alone
        hashtags = cfg["hashtags"]
        if hashtags is None:
            aliases = self.defender_aliases()
            hashtags = terms.hashtags if terms else [_as_hashtag(a) for a in aliases]
        self.hashtags = tuple(dict.fromkeys(h.lstrip("#") for h in hashtags if h.lstrip("#")))
        self.accounts = tuple(a.lstrip("@") for a in cfg["accounts"])
        self.token = context.env.get(cfg["token_env"]) or None
        queries = cfg["queries"]
        if queries is None:
            queries = (terms.queries if terms else self.defender_aliases()) if self.token else ()
        elif queries and not self.token:
            raise SettingsError(
                f"source {self.name!r}: Mastodon status search needs a user token in "
                f"{cfg['token_env']}; remove 'queries' or set the token"
            )
        self.queries = tuple(queries)
        # local status id -> uri, to turn in_reply_to_id into a global reference
        self._seen: OrderedDict[str, str] = OrderedDict()
        # set once an instance refuses search `max_id` (422 "Invalid date", Mastodon 4.3.0/1)
        self._search_by_offset = False

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # -- fetch -----------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, Any] | None, *, since: datetime) -> Iterator[Page]:
        state: dict[str, Any] = {}
        for key in ("tags", "accounts", "search"):
            state[key] = dict((cursor or {}).get(key) or {})
        for tag in self.hashtags:
            url = f"{self.base}/api/v1/timelines/tag/{quote(tag, safe='')}"
            yield from self._guarded(
                f"#{tag}", self._forward(state["tags"], tag, url, since, state, hashtag=tag)
            )
        for acct in self.accounts:
            yield from self._guarded(f"@{acct}", self._account(state, acct, since))
        for query in self.queries:
            yield from self._guarded(f"search {query!r}", self._search(state, query, since))
        self.finish()

    def _guarded(self, stream: str, pages: Iterator[Page]) -> Iterator[Page]:
        try:
            yield from pages
        except AuthFailed as exc:
            if self.token:
                raise  # the token itself is refused: every stream would fail the same way
            # Without a token, a 401 means this instance shows the feed to logged-in users
            # only (Mastodon's `*_topic_feed_access` / `local_account_statuses_access`
            # settings, or limited-federation mode): that stream fails, the others go on.
            self.stream_failed(
                stream,
                AuthFailed(
                    f"{exc.message}; this instance shows it to logged-in users only "
                    f"(set {self.config['token_env']} to read it)",
                    url=exc.url,
                    status=exc.status,
                    code=exc.code,
                ),
            )
        except CollectorError as exc:
            if isinstance(exc, PartialFailure) or not is_stream_error(exc):
                raise
            self.stream_failed(stream, exc)

    def _overlap_floor(self, sub: Mapping[str, Any], since: datetime) -> int:
        """Where a new walk starts: `overlap` below the previous walk, so late posts are read.

        A remote status gets an id made from its *publish* time (Mastodon's
        `Snowflake.id_at(created_at)`), not from when it reached the instance, so a post
        delivered late sorts below the high-water mark. A walk that began at time S has read
        everything that had arrived by S above its floor; a post that arrived after S within
        `overlap` of its publish time has an id above `snowflake(S - overlap)`. The next walk
        therefore starts at the lower of the mark and that id (the mark alone when nothing
        came for longer than `overlap`).
        """
        hwm = sub.get("min_id") if "min_id" in sub else sub.get("hwm")
        if not hwm:
            return int(snowflake_at(since))
        hwm_id = _id_int(hwm)
        read_at = sub.get("read_at")
        base = key_time(read_at) if read_at else _id_time(hwm_id)
        return min(hwm_id, int(snowflake_at(base - self.config["overlap"])))

    def _forward(
        self,
        streams: dict[str, Any],
        key: str,
        url: str,
        since: datetime,
        state: dict[str, Any],
        **provenance: Any,
    ) -> Iterator[Page]:
        """Oldest-first `min_id` walk from the overlap floor up to the newest status.

        Sub-cursor: `min_id` the newest id read (the high-water mark), `read_at` when the
        last complete walk began, `walk` the position of an unfinished walk (`pos`, the
        newest id read so far, and `started`) and `seen` the ids already yielded at or above
        the next walk's floor, so the re-read overlap yields only what is new in it.
        """
        sub = dict(streams.get(key) or {})
        walk = sub.get("walk")
        if walk:
            pos, started = _id_int(walk["pos"]), walk["started"]
        else:
            pos, started = self._overlap_floor(sub, since), time_key(self.context.now())
        hwm = _id_int(sub["min_id"]) if sub.get("min_id") else None
        seen = {str(i) for i in sub.get("seen") or ()}
        limit = self.config["page_size"]
        for _ in range(self.config["max_pages"]):
            data, response = self.http.get_json(
                url, params={"min_id": str(pos), "limit": limit}, headers=self._headers
            )
            fetched_at = self.context.now()
            statuses = _status_list(data, response)
            newer = [s for s in statuses if _id_int(s.get("id")) > pos]
            fresh = [s for s in newer if str(s["id"]) not in seen]
            posts = self._posts(fresh, fetched_at, response, **provenance)
            if newer:
                pos = max(_id_int(s["id"]) for s in newer)
                hwm = pos if hwm is None else max(hwm, pos)
            seen.update(str(s["id"]) for s in fresh)
            done = len(statuses) < limit or not newer
            sub["min_id"] = str(hwm if hwm is not None else pos)
            if done:
                sub.pop("walk", None)
                sub["read_at"] = started
                # only what the next walk re-reads (it starts above its floor)
                floor = self._overlap_floor(sub, since)
                seen = {i for i in seen if _id_int(i) > floor}
            else:
                sub["walk"] = {"pos": str(pos), "started": started}
            sub["seen"] = _capped(seen)
            streams[key] = sub
            yield self.page(posts, state, response, fetched_at)
            if done:
                return  # caught up: the server had fewer than a page of newer statuses
            prev = _link_min_id(response)
            if prev is not None and _id_int(prev) > pos:
                pos = _id_int(prev)  # the server's own "newer page" link, when it sends one

    def _account(self, state: dict[str, Any], acct: str, since: datetime) -> Iterator[Page]:
        streams = state["accounts"]
        sub = dict(streams.get(acct) or {})
        if not sub.get("id"):
            data, response = self.http.get_json(
                f"{self.base}/api/v1/accounts/lookup",
                params={"acct": acct},
                headers=self._headers,
            )
            if not isinstance(data, dict) or not data.get("id"):
                url = safe_url(response.request.url)
                raise MalformedResponse(f"{url}: account lookup without an id", url=url)
            sub["id"] = str(data["id"])
            streams[acct] = sub
        url = f"{self.base}/api/v1/accounts/{quote(sub['id'], safe='')}/statuses"
        yield from self._forward(streams, acct, url, since, state, account=acct)

    def _search(self, state: dict[str, Any], query: str, since: datetime) -> Iterator[Page]:
        """Newest-first status search, down to the overlap floor below the last walk.

        Mastodon drops the hits the reader may not see (blocks, mutes, filters) *after* it
        applied `limit`, so a short page is not the end: only an empty page, or a page that
        reaches the floor, ends the walk. Paging is by `max_id` (since Mastodon 4.2 turned
        into `before:<that id's second>`, so the next `max_id` is the start of the second
        after the page's oldest status, which re-reads that second instead of skipping its
        unread statuses); when an instance refuses `max_id` with 422 "Invalid date"
        (Mastodon 4.3.0 and 4.3.1) or a second holds more than a page, the walk starts again
        from the top with `offset` paging (tokens `o<offset>`) down to the same floor.
        """
        streams = state["search"]
        sub = dict(streams.get(query) or {})
        walk = NewestFirstWalk(sub, floor=_id_key(self._overlap_floor(sub, since)))
        started = (sub.get("walk") or {}).get("started") or time_key(self.context.now())
        seen = {str(i) for i in sub.get("seen") or ()}
        limit = self.config["page_size"]
        token: str | None = walk.next
        by_offset = self._search_by_offset or (token or "").startswith("o")
        for _ in range(self.config["max_pages"]):
            params: dict[str, Any] = {"q": query, "type": "statuses", "limit": limit}
            if by_offset:
                params["offset"] = int(token[1:]) if token else 0
            elif token:
                params["max_id"] = token
            try:
                data, response = self.http.get_json(
                    f"{self.base}/api/v2/search", params=params, headers=self._headers
                )
            except RequestRejected as exc:
                if exc.status != 422 or "max_id" not in params:
                    raise
                log.info(
                    "source %r: search refuses max_id (%s); paging by offset instead",
                    self.name,
                    exc.code or exc.message,
                )
                self._search_by_offset = by_offset = True
                walk.restart()
                token = None
                continue
            fetched_at = self.context.now()
            if not isinstance(data, dict) or not isinstance(data.get("statuses"), list):
                url = safe_url(response.request.url)
                raise MalformedResponse(
                    f"{url}: expected an object with a 'statuses' list", url=url
                )
            statuses = [s for s in data["statuses"] if isinstance(s, dict)]
            next_token: str | None = None
            if statuses and by_offset:
                next_token = f"o{params['offset'] + limit}"
            elif statuses:
                oldest = min(_id_int(s.get("id")) for s in statuses)
                following = _next_second_id(oldest)
                if token is not None and following >= _id_int(token):
                    # The whole page lies in the second below `token`. Nothing new in it: that
                    # second is read out, go below it. Else it holds more than a page, which
                    # `before:` cannot step through: page by offset from the top instead.
                    if all(str(s.get("id")) in seen for s in statuses):
                        following = _second_start_id(oldest)
                    elif _id_key(oldest) >= walk.floor:
                        self._search_by_offset = by_offset = True
                        walk.restart()
                        token = None
                        continue
                next_token = str(following)
            keys = [_id_key(s.get("id")) for s in statuses]
            kept = [
                s
                for s, k in zip(statuses, keys, strict=True)
                if walk.keep(k) and str(s.get("id")) not in seen
            ]
            posts = self._posts(kept, fetched_at, response, query=query)
            seen.update(str(s.get("id")) for s in kept)
            walk.advance(keys, next_token)
            sub = walk.state()
            if walk.done:
                sub["read_at"] = started
                # only what the next walk re-reads (it keeps keys at or above its floor)
                floor = self._overlap_floor(sub, since)
                seen = {i for i in seen if _id_int(i) >= floor}
            elif sub["walk"] is not None:
                sub["walk"]["started"] = started
            sub["seen"] = _capped(seen)
            streams[query] = sub
            yield self.page(posts, state, response, fetched_at)
            if walk.done:
                return
            token = walk.next

    # -- mapping ---------------------------------------------------------------------------
    def _posts(
        self,
        statuses: list[dict[str, Any]],
        fetched_at: datetime,
        response: httpx.Response,
        **provenance: Any,
    ) -> list[Post]:
        extra = self.provenance(safe_url(response.request.url), **provenance)
        posts: list[Post] = []
        # oldest first, so a reply's parent on the same page is known before the reply
        for status in sorted(statuses, key=lambda s: _id_int(s.get("id"))):
            if status.get("visibility", "public") not in _PUBLIC:
                continue
            try:
                reblog = status.get("reblog")
                if isinstance(reblog, dict):
                    posts.append(self._status_post(reblog, fetched_at, extra))
                posts.append(self._status_post(status, fetched_at, extra))
            except (RecordError, KeyError, TypeError, ValueError) as exc:
                log.warning("skipping a malformed status %s (%s)", status.get("id"), exc)
        return posts

    def _full_acct(self, acct: str | None, url: str | None = None) -> str | None:
        """`user` → `user@domain`: local accounts get the domain of their profile URL (the
        instance's own name, even when we read it through a mirror)."""
        if not acct:
            return None
        acct = acct.lstrip("@")
        if "@" in acct:
            return acct
        host = urlsplit(url).hostname if url else None
        return f"{acct}@{host or self.host}"

    def _status_post(
        self, status: Mapping[str, Any], fetched_at: datetime, extra: Mapping[str, Any]
    ) -> Post:
        account = status.get("account") or {}
        reblog = status.get("reblog")
        if isinstance(reblog, dict):
            text, links = "", []
        else:
            text, anchors = html_to_text(status.get("content") or "")
            links = [
                a.href
                for a in anchors
                if "mention" not in a.classes
                and "hashtag" not in a.classes
                and "tag" not in a.rel
                and a.href.startswith(("http://", "https://"))
            ]
            card = status.get("card") or {}
            if isinstance(card, dict) and card.get("url"):
                links.append(card["url"])
            spoiler = (status.get("spoiler_text") or "").strip()
            if spoiler:
                text = f"{spoiler}\n\n{text}"
        reply_local = status.get("in_reply_to_id")
        quote = status.get("quote") or {}
        quoted = quote.get("quoted_status") if isinstance(quote, dict) else None
        post = post_from_record(
            {
                "platform": "mastodon",
                "post_id": status.get("uri") or status.get("url"),
                "url": status.get("url") or status.get("uri"),
                "created_at": status.get("created_at"),
                "author": {
                    "id": account.get("uri") or account.get("url"),
                    "handle": self._full_acct(account.get("acct"), account.get("url")),
                    "display_name": account.get("display_name"),
                    "created_at": account.get("created_at"),
                },
                "text": text,
                "lang": status.get("language"),
                "links": links,
                "hashtags": [t.get("name") for t in status.get("tags") or () if t.get("name")],
                "mentions": [
                    self._full_acct(m.get("acct"), m.get("url"))
                    for m in status.get("mentions") or ()
                    if m.get("acct")
                ],
                "reply_to": self._seen.get(str(reply_local)) if reply_local else None,
                "repost_of": reblog.get("uri") if isinstance(reblog, dict) else None,
                "quote_of": quoted.get("uri") if isinstance(quoted, dict) else None,
            },
            raw=canonical_json(status),
        )
        more = dict(extra)
        more.update(_edit_extra(status))
        if reply_local:
            more["in_reply_to_id"] = str(reply_local)
            more["instance"] = self.host
        self._remember(status)
        return dataclasses.replace(post, collected_at=fetched_at, extra=more)

    def recheck(self, stored: Sequence[StoredPost]) -> Iterator[RecheckResult]:
        """See `_recheck` (kept apart from the paging code above)."""
        return _recheck(self, stored)

    def _remember(self, status: Mapping[str, Any]) -> None:
        if status.get("id") and status.get("uri"):
            self._seen[str(status["id"])] = status["uri"]
            while len(self._seen) > _SEEN_LIMIT:
                self._seen.popitem(last=False)


# -- edits and recheck (GET /api/v1/statuses/:id) --------------------------------------------

#: Statuses looked up before their answers are stored together (one transaction).
RECHECK_BATCH = 20


def _edit_extra(status: Mapping[str, Any]) -> dict[str, Any]:
    """`edited_at` of a status that was edited (Mastodon 3.5+; null or absent otherwise),
    kept as the platform's own time of the latest edit."""
    edited = status.get("edited_at")
    if not edited:
        return {}
    try:
        return {"edited_at": parse_time(edited, "edited_at").isoformat()}
    except RecordError:
        return {}


def _stored_status(item: StoredPost) -> dict[str, Any] | None:
    try:
        status = orjson.loads(item.raw)
    except orjson.JSONDecodeError:
        return None
    return status if isinstance(status, dict) else None


def _local_status_id(status: Mapping[str, Any]) -> str | None:
    """The instance-local status id of a stored status (the `uri` is global, the API wants
    this instance's id)."""
    value = status.get("id")
    return str(value) if value is not None and str(value).isdigit() else None


def _recheck(collector: MastodonCollector, stored: Sequence[StoredPost]) -> Iterator[RecheckResult]:
    """`MastodonCollector.recheck`: each stored status looked up by its local id.

    A 404 (or 410) is a deletion: Mastodon answers so for a status deleted on this instance
    or whose deletion federated to it, and for one no longer visible to this client (made
    private), which is gone from public view as well. An edit comes back with its new
    content and `edited_at`. A 429, 5xx or timeout after the retries concerns the whole source
    and stops the recheck (nothing is marked); a malformed answer or another 4xx fails that
    status's look-up only.
    """
    posts: list[Post] = []
    deleted: list[str] = []
    last: tuple[str, int, datetime] | None = None
    for item in stored:
        status = _stored_status(item)
        local_id = _local_status_id(status) if status is not None else None
        if status is None or local_id is None:
            continue
        url = f"{collector.base}/api/v1/statuses/{local_id}"
        try:
            data, response = collector.http.get_json(url, headers=collector._headers)
        except NotFound as exc:
            if not exc.code:
                # Mastodon says 404 with a JSON error ("Record not found"); a bare 404 page is
                # a proxy or a wrong base_url, and no evidence that anything was deleted.
                collector.stream_failed(f"recheck {item.post_id}", exc)
                continue
            deleted.append(item.post_id)
            last = (exc.url or url, exc.status or 404, collector.context.now())
        except CollectorError as exc:
            if not is_stream_error(exc):
                raise
            collector.stream_failed(f"recheck {item.post_id}", exc)
            continue
        else:
            fetched_at = collector.context.now()
            last = (safe_url(response.request.url), response.status_code, fetched_at)
            post = _rechecked_post(collector, item, status, data, fetched_at, response)
            if post is not None:
                posts.append(post)
        if len(posts) + len(deleted) >= RECHECK_BATCH and last is not None:
            yield RecheckResult(tuple(posts), tuple(deleted), *last)
            posts, deleted = [], []
    if (posts or deleted) and last is not None:
        yield RecheckResult(tuple(posts), tuple(deleted), *last)
    collector.finish()


def _rechecked_post(
    collector: MastodonCollector,
    item: StoredPost,
    stored: Mapping[str, Any],
    data: Any,
    fetched_at: datetime,
    response: httpx.Response,
) -> Post | None:
    """The status as it stands now, if its author edited it since it was stored.

    Only `edited_at` says an author edited: a preview card fetched after the status was
    first read, or a parent now unknown to this run, changes what would be mapped without
    anyone editing, so an unchanged `edited_at` yields nothing."""
    url = safe_url(response.request.url)
    if not isinstance(data, dict) or data.get("id") is None:
        collector.stream_failed(
            f"recheck {item.post_id}",
            MalformedResponse(f"{url}: expected a JSON status", url=url, status=200),
        )
        return None
    if data.get("visibility", "public") not in _PUBLIC:
        return None  # narrowed to followers: neither the public post nor provably gone
    extra = collector.provenance(url, recheck=True)
    try:
        post = collector._status_post(data, fetched_at, extra)
    except (RecordError, KeyError, TypeError, ValueError) as exc:
        collector.stream_failed(
            f"recheck {item.post_id}",
            MalformedResponse(f"{url}: unreadable status ({exc})", url=url, status=200),
        )
        return None
    if post.post_id != item.post_id:
        return None
    target = data.get("reblog") if isinstance(data.get("reblog"), dict) else data
    before = stored.get("reblog") if isinstance(stored.get("reblog"), dict) else stored
    if target.get("edited_at") == before.get("edited_at"):
        return None
    if post.reply_to is None and item.reply_to is not None:
        post = dataclasses.replace(post, reply_to=item.reply_to)
    return post


def _as_hashtag(alias: str) -> str:
    """'Bakhyt Ormanova' → 'BakhytOrmanova' (Mastodon matches tags case-insensitively)."""
    return re.sub(r"[\W_]+", "", alias)


def _status_list(data: Any, response: httpx.Response) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        url = safe_url(response.request.url)
        raise MalformedResponse(
            f"{url}: expected a JSON list of statuses", url=url, status=response.status_code
        )
    return [s for s in data if isinstance(s, dict) and s.get("id") is not None]


def _link_min_id(response: httpx.Response) -> str | None:
    """`min_id` of the Link header's `rel="prev"` (the next newer page), if any."""
    prev = response.links.get("prev")
    if not prev or not prev.get("url"):
        return None
    values = parse_qs(urlsplit(prev["url"]).query).get("min_id")
    return values[0] if values else None
