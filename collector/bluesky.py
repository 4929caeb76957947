"""Bluesky: keyword search through the PDS (logged in) and watched accounts' feeds (public).

Why two hosts: since 2025 Bluesky serves `app.bsky.feed.searchPosts` only to logged-in
clients, so search goes through the PDS (`base_url`) with an app-password session, while author
feeds and profiles are read from the public AppView (`appview_url`) without credentials.

Search semantics (bluesky-social/indigo `search/post_schema.json` and `parse_query.go`): the
index splits text with `icu_tokenizer` and folds case and diacritics (`icu_folding`) but does
not stem, and a query is strict AND of its words or "quoted phrases"; `OR` is not an operator.
So each inflected form of a name is its own query: the default queries come from
`CollectorContext.search_terms` (built from the mention matcher's forms in
smearwatch/search_terms.py), highest priority first, under the `max_queries` budget (see
`_queries_this_run`). A defender's handle is searched as `mentions:<handle>`, which matches the
posts' mention facets (the DID), not the text. Explicit `queries` are sent as written.

Blocks: a logged-in search hides the posts of accounts that block the research account (and of
the ones it blocks: the AppView applies blocks in both directions to the viewer). An abuser who
blocks the research account disappears from the search results; reading a known account
through `authors` still works, because author feeds and profiles are read from the public
AppView (`appview_url`) without credentials, where blocks of the research account do not
apply. The report's methodology says so.

Session: `createSession` is limited to 30 per 5 minutes and 300 per day per account, so the
session is cached per process (keyed by PDS and identifier) and reused by every collector
instance and run. An expired access token (`ExpiredToken`/`InvalidToken`, HTTP 400 or 401) is
refreshed once with `refreshSession`; if the refresh token is dead too we log in again.

Cursor (JSON)::

    {"search":  {"<query>": {"hwm": K | null, "walk": {"next": "<api cursor>", "top": K,
                                                      "floor": K} | null}},
     "authors": {"<actor>": <same shape>}}

K is a fixed-width UTC time key (`2026-03-03T09:00:00.123000Z`) of the item's sort time: for
posts `min(record.createdAt, indexedAt)` (Bluesky's own `sortAt`), for reposts the repost's
`indexedAt`.

No post is skipped (see `NewestFirstWalk`): both listings are newest first. A run walks back
page by page to the floor, which is the high-water mark minus `overlap` (or the backfill
horizon on a stream's first run). The high-water mark only moves to the newest key seen once the
walk has reached the floor; until then the cursor holds the API cursor of the next page, so an
interrupted walk resumes where the last committed page ended, with the same floor. For search,
the floor is also sent as `since`. The `overlap` (default 10 minutes) re-reads a margin below
the mark for posts that were indexed late; posts whose client-written `createdAt` is back-dated
further than that can be missed by search (the firehose/Jetstream is the complete route).
Re-read posts are duplicates that the store absorbs on `(platform, post_id)`. A search that
found nothing and changed nothing yields no page (its state is already stored): most inflected
forms find nothing in most runs, and each page makes the pipeline store the whole cursor.

Author feeds also yield the author's reposts as posts of their own (`post_id` = the repost
record's URI, empty text, `repost_of` = the reposted post), because reposts are the
amplification edges coordination analysis needs; the reposted post is yielded too.

Recheck: recently stored posts are read back through `app.bsky.feed.getPosts` on the public
AppView, 25 at a time; a post missing from the answer is a deletion (`_recheck`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

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
    RequestRejected,
    SettingsError,
)
from collector.http import HttpClient, safe_url
from collector.post import Account, Post, RecordError, canonical_json, parse_time, post_from_record

__all__ = ["BlueskyCollector", "post_from_view", "reset_caches"]

log = logging.getLogger(__name__)

PASSWORD_ENV = "SMEARWATCH_BLUESKY_APP_PASSWORD"
_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
_PROFILE_BATCH = 25  # getProfiles accepts at most 25 actors
_PROFILE_CACHE_SIZE = 20_000


# -- session ---------------------------------------------------------------------------------


class _Session:
    """Access and refresh tokens for one (PDS, identifier); shared by every collector."""

    def __init__(self, pds: str, identifier: str) -> None:
        self.pds = pds
        self.identifier = identifier
        self.access: str | None = None
        self.refresh_token: str | None = None
        self.lock = threading.Lock()
        self.logins = 0

    def login(self, http: HttpClient, password: str) -> None:
        try:
            data, _ = http.post_json(
                f"{self.pds}/xrpc/com.atproto.server.createSession",
                json={"identifier": self.identifier, "password": password},
            )
        except (AuthFailed, RequestRejected) as exc:
            raise AuthFailed(
                f"Bluesky login refused for {self.identifier!r} at {self.pds} "
                f"({exc.code or exc.status}); check the identifier and {PASSWORD_ENV} "
                "(an app password, not the account password)",
                url=exc.url,
                status=exc.status,
                code=exc.code,
            ) from None
        self._store(data, "createSession")
        self.logins += 1
        log.info("logged in to %s as %s", self.pds, self.identifier)

    def refresh(self, http: HttpClient, password: str) -> None:
        if self.refresh_token:
            try:
                data, _ = http.post_json(
                    f"{self.pds}/xrpc/com.atproto.server.refreshSession",
                    headers={"Authorization": f"Bearer {self.refresh_token}"},
                )
            except (AuthFailed, RequestRejected) as exc:
                log.info("refreshSession refused (%s); logging in again", exc.code or exc.status)
            else:
                self._store(data, "refreshSession")
                log.info("refreshed the Bluesky session of %s", self.identifier)
                return
        self.login(http, password)

    def _store(self, data: Any, method: str) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("accessJwt"), str):
            raise MalformedResponse(f"{self.pds}: {method} answered without an accessJwt")
        self.access = data["accessJwt"]
        self.refresh_token = data.get("refreshJwt") or self.refresh_token


_sessions: dict[tuple[str, str], _Session] = {}
_profiles: OrderedDict[tuple[str, str], datetime | None] = OrderedDict()
_cache_lock = threading.Lock()


def reset_caches() -> None:
    """Forget cached sessions and profiles (tests; after rotating the app password)."""
    with _cache_lock:
        _sessions.clear()
        _profiles.clear()


def _session_for(pds: str, identifier: str) -> _Session:
    with _cache_lock:
        session = _sessions.get((pds, identifier))
        if session is None:
            session = _sessions[(pds, identifier)] = _Session(pds, identifier)
        return session


# -- mapping ---------------------------------------------------------------------------------


def _time_or_none(value: Any, field: str) -> datetime | None:
    try:
        return parse_time(value, field)
    except RecordError:
        return None


def sort_key(view: Mapping[str, Any]) -> str:
    """Bluesky's `sortAt`: the earlier of the record's createdAt and indexedAt."""
    indexed = _time_or_none(view.get("indexedAt"), "indexedAt")
    created = _time_or_none((view.get("record") or {}).get("createdAt"), "record.createdAt")
    times = [t for t in (indexed, created) if t is not None]
    if not times:
        raise RecordError("indexedAt", "post has neither indexedAt nor record.createdAt")
    return time_key(min(times))


def _facet_text(text: str, index: Mapping[str, Any]) -> str | None:
    """The text a facet covers; facet indices are UTF-8 *byte* offsets."""
    try:
        start, end = int(index["byteStart"]), int(index["byteEnd"])
        return text.encode("utf-8")[start:end].decode("utf-8")
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        return None


def post_from_view(
    view: Mapping[str, Any],
    *,
    raw: Mapping[str, Any] | None = None,
    author_created: datetime | None = None,
) -> Post:
    """A `postView` (search result or feed item's post) → `Post`."""
    record = view.get("record") or {}
    author = view.get("author") or {}
    uri = view.get("uri")
    did = author.get("did")
    if not isinstance(record, Mapping) or not isinstance(author, Mapping):
        raise RecordError("record", "postView without record or author")
    text = record.get("text") or ""
    links: list[str] = []
    hashtags: list[str] = []
    mentions: list[str] = []
    mention_dids: list[str] = []
    for facet in record.get("facets") or ():
        for feature in facet.get("features") or ():
            kind = feature.get("$type", "")
            if kind.endswith("#link") and feature.get("uri"):
                links.append(feature["uri"])
            elif kind.endswith("#tag") and feature.get("tag"):
                hashtags.append(feature["tag"])
            elif kind.endswith("#mention") and feature.get("did"):
                covered = _facet_text(text, facet.get("index") or {})
                handle = covered.strip().lstrip("@") if covered else ""
                mentions.append(handle or feature["did"])
                mention_dids.append(feature["did"])
    hashtags.extend(t for t in record.get("tags") or () if isinstance(t, str))
    quote_of = None
    embed = record.get("embed") or {}
    embed_type = embed.get("$type", "")
    if embed_type == "app.bsky.embed.external":
        links.append((embed.get("external") or {}).get("uri") or "")
    elif embed_type == "app.bsky.embed.record":
        quote_of = (embed.get("record") or {}).get("uri")
    elif embed_type == "app.bsky.embed.recordWithMedia":
        quote_of = ((embed.get("record") or {}).get("record") or {}).get("uri")
        media = embed.get("media") or {}
        if media.get("$type") == "app.bsky.embed.external":
            links.append((media.get("external") or {}).get("uri") or "")
    created = _time_or_none(record.get("createdAt"), "record.createdAt") or _time_or_none(
        view.get("indexedAt"), "indexedAt"
    )
    rkey = str(uri).rsplit("/", 1)[-1]
    author_created = _time_or_none(author.get("createdAt"), "author.createdAt") or author_created
    post = post_from_record(
        {
            "platform": "bluesky",
            "post_id": uri,
            "url": f"https://bsky.app/profile/{did}/post/{rkey}" if did and uri else None,
            "created_at": created.isoformat() if created else None,
            "author": {
                "id": did,
                "handle": author.get("handle"),
                "display_name": author.get("displayName"),
                "created_at": author_created.isoformat() if author_created else None,
            },
            "text": text,
            "lang": (record.get("langs") or [None])[0],
            "links": [link for link in links if link],
            "hashtags": hashtags,
            "mentions": mentions,
            "reply_to": ((record.get("reply") or {}).get("parent") or {}).get("uri"),
            "quote_of": quote_of,
        },
        raw=canonical_json(raw if raw is not None else view),
    )
    if mention_dids:
        post = dataclasses.replace(post, extra={"mention_dids": tuple(mention_dids)})
    return post


def repost_from_item(item: Mapping[str, Any]) -> Post | None:
    """A feed item with `reasonRepost` → the repost as a post of the reposting account."""
    reason = item.get("reason") or {}
    if not str(reason.get("$type", "")).endswith("#reasonRepost"):
        return None
    by = reason.get("by") or {}
    uri = reason.get("uri")
    if not uri:  # older AppViews did not send the repost record's URI
        uri = f"at://{by.get('did')}/app.bsky.feed.repost/?{(item.get('post') or {}).get('uri')}"
    return post_from_record(
        {
            "platform": "bluesky",
            "post_id": uri,
            "created_at": reason.get("indexedAt"),
            "author": {
                "id": by.get("did"),
                "handle": by.get("handle"),
                "display_name": by.get("displayName"),
                "created_at": by.get("createdAt"),
            },
            "text": "",
            "repost_of": (item.get("post") or {}).get("uri"),
        },
        raw=canonical_json(item),
    )


def item_key(item: Mapping[str, Any]) -> str:
    reason = item.get("reason") or {}
    if str(reason.get("$type", "")).endswith("#reasonRepost") and reason.get("indexedAt"):
        return time_key(parse_time(reason["indexedAt"], "reason.indexedAt"))
    return sort_key(item.get("post") or {})


# -- the collector ---------------------------------------------------------------------------


class BlueskyCollector(Collector):
    platform = "bluesky"
    version = "1"
    settings = (
        Setting("base_url", "url", "https://bsky.social", help="PDS: login and search"),
        Setting(
            "appview_url",
            "url",
            "https://public.api.bsky.app",
            help="public AppView: author feeds and profiles",
        ),
        Setting(
            "identifier",
            "str",
            None,
            help="handle or e-mail of the research account (needed for search)",
        ),
        Setting(
            "password",
            "str",
            None,
            secret=True,
            env=PASSWORD_ENV,
            help="app password of the research account",
        ),
        Setting(
            "queries",
            "strings",
            None,
            help="search queries as written; default: every inflected form of the defenders' "
            "names and mentions:<handle> for their Bluesky handles",
        ),
        Setting("authors", "strings", (), help="accounts whose feeds are read in full"),
        Setting(
            "max_queries",
            "int",
            1000,
            help="searches per run; with more queries, a quarter of it rotates through the rest",
        ),
        Setting("page_size", "int", 100, help="posts per request (1-100)"),
        Setting(
            "max_pages",
            "int",
            50,
            help="pages per stream and run; a longer walk resumes on the next run",
        ),
        Setting(
            "overlap",
            "duration",
            timedelta(minutes=10),
            help="margin re-read below the high-water mark for late-indexed posts",
        ),
    )
    supports_recheck = True
    examples = {
        "identifier": "research-account.bsky.social",
        "authors": ["example-account.bsky.social"],
    }

    def __init__(self, config: Mapping[str, Any], context: CollectorContext) -> None:
        super().__init__(config, context)
        cfg = self.config
        self.pds: str = cfg["base_url"] or "https://bsky.social"
        self.appview: str = cfg["appview_url"]
        queries = cfg["queries"]
        if queries is None:
            terms = self.default_search_terms()
            if terms is not None:
                queries = list(terms.queries)
            else:
                queries = [_as_query(a) for a in self.defender_aliases()]
                queries += [f"mentions:{h.lstrip('@')}" for h in self.defender_handles("bluesky")]
        self.queries: tuple[str, ...] = tuple(dict.fromkeys(queries))
        if cfg["max_queries"] < 1:
            raise SettingsError(f"source {self.name!r}: max_queries must be at least 1")
        self.authors: tuple[str, ...] = tuple(cfg["authors"])
        if not 1 <= cfg["page_size"] <= 100:
            raise SettingsError(f"source {self.name!r}: page_size must be between 1 and 100")
        self.password = self.secret("password")
        if self.queries and not (cfg["identifier"] and self.password):
            raise SettingsError(
                f"source {self.name!r}: Bluesky search needs a logged-in account: set "
                f"'identifier' and the environment variable {PASSWORD_ENV} (an app password), "
                "or set queries = [] to read only the author feeds"
            )
        self.session = _session_for(self.pds, cfg["identifier"]) if self.queries else None
        self._saved_rotation: Any = None  # the rotation the last yielded page carried

    # -- fetch -----------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, Any] | None, *, since: datetime) -> Iterator[Page]:
        state: dict[str, Any] = {"search": {}, "authors": {}}
        for key in ("search", "authors"):
            state[key] = dict((cursor or {}).get(key) or {})
        if (cursor or {}).get("rotation") is not None:
            state["rotation"] = cursor["rotation"]
        self._saved_rotation = state.get("rotation")
        for query in self._queries_this_run(state):
            yield from self._guarded(f"search {query!r}", self._search(state, query, since))
        for actor in self.authors:
            yield from self._guarded(f"author {actor}", self._author_feed(state, actor, since))
        self.finish()

    def _queries_this_run(self, state: dict[str, Any]) -> list[str]:
        """The queries of this run under the `max_queries` budget.

        Why a budget: the search has no OR, so every inflected form of every name is a query
        of its own, and the PDS allows 3000 requests per 5 minutes per IP. The queries come in
        priority order; when there are more than the budget, three quarters of the budget are
        spent on the head of the list every run and the last quarter rotates through the rest
        (`state["rotation"]` is where the next run starts). A rotating query's high-water mark
        still makes its next turn walk back over everything since its last one.
        """
        budget = self.config["max_queries"]
        if len(self.queries) <= budget:
            state.pop("rotation", None)
            return list(self.queries)
        fixed = budget - budget // 4
        head, tail = list(self.queries[:fixed]), list(self.queries[fixed:])
        slots = budget - fixed
        start = int(state.get("rotation") or 0) % len(tail)
        turn = [tail[(start + i) % len(tail)] for i in range(slots)]
        state["rotation"] = (start + slots) % len(tail)
        return head + turn

    def _guarded(self, stream: str, pages: Iterator[Page]) -> Iterator[Page]:
        try:
            yield from pages
        except CollectorError as exc:
            if not is_stream_error(exc):
                raise
            self.stream_failed(stream, exc)

    def _floor(self, sub: Mapping[str, Any] | None, since: datetime) -> str:
        hwm = (sub or {}).get("hwm")
        if hwm:
            return time_key(key_time(hwm) - self.config["overlap"])
        return time_key(since)

    def _search(self, state: dict[str, Any], query: str, since: datetime) -> Iterator[Page]:
        sub = state["search"].get(query)
        walk = NewestFirstWalk(sub, floor=self._floor(sub, since))
        token = walk.next
        restarted = False
        for _ in range(self.config["max_pages"]):
            params: dict[str, Any] = {
                "q": query,
                "sort": "latest",
                "limit": self.config["page_size"],
                "since": _api_time(walk.floor),
            }
            if token:
                params["cursor"] = token
            try:
                data, response = self._authed_get("app.bsky.feed.searchPosts", params)
            except RequestRejected as exc:
                if token and not restarted:
                    # A stale or refused cursor: walk again from the newest post to the same
                    # floor; duplicates are absorbed downstream, nothing is skipped.
                    log.info("search cursor refused (%s); restarting the walk", exc.code)
                    walk.restart()
                    token, restarted = None, True
                    continue
                raise
            fetched_at = self.context.now()
            views = _list_field(data, "posts", response)
            posts, keys = [], []
            for view in views:
                try:
                    key = sort_key(view)
                    keys.append(key)
                    if walk.keep(key):
                        posts.append(self._post(view, fetched_at, response, query=query))
                except RecordError as exc:
                    log.warning("skipping a malformed search result (%s)", exc)
            next_token = data.get("cursor") if isinstance(data, dict) else None
            if next_token == token:
                next_token = None  # a server that repeats a cursor would loop forever
            walk.advance(keys, next_token)
            state["search"][query] = walk.state()
            if (
                not posts
                and walk.done
                and state["search"][query] == sub
                and state.get("rotation") == self._saved_rotation
            ):
                # Nothing found and nothing to remember: no page, so that a run of a thousand
                # queries with nothing new does not store its whole cursor a thousand times.
                return
            self._saved_rotation = state.get("rotation")
            yield self.page(self._with_profiles(posts), state, response, fetched_at)
            if walk.done:
                return
            token = walk.next

    def _author_feed(self, state: dict[str, Any], actor: str, since: datetime) -> Iterator[Page]:
        sub = state["authors"].get(actor)
        walk = NewestFirstWalk(sub, floor=self._floor(sub, since))
        token = walk.next
        for _ in range(self.config["max_pages"]):
            params: dict[str, Any] = {
                "actor": actor,
                "limit": self.config["page_size"],
                "filter": "posts_with_replies",
            }
            if token:
                params["cursor"] = token
            data, response = self.http.get_json(
                f"{self.appview}/xrpc/app.bsky.feed.getAuthorFeed", params=params
            )
            fetched_at = self.context.now()
            items = _list_field(data, "feed", response)
            posts, keys = [], []
            for item in items:
                try:
                    key = item_key(item)
                    keys.append(key)
                    if not walk.keep(key):
                        continue
                    repost = repost_from_item(item)
                    if repost is not None:
                        posts.append(self._stamp(repost, fetched_at, response, author=actor))
                    posts.append(
                        self._post(
                            item["post"],
                            fetched_at,
                            response,
                            author=actor,
                            raw=item if repost is None else None,
                        )
                    )
                except (RecordError, KeyError, TypeError) as exc:
                    log.warning("skipping a malformed feed item (%s)", exc)
            next_token = data.get("cursor") if isinstance(data, dict) else None
            if next_token == token:
                next_token = None
            walk.advance(keys, next_token)
            state["authors"][actor] = walk.state()
            yield self.page(self._with_profiles(posts), state, response, fetched_at)
            if walk.done:
                return
            token = walk.next

    def recheck(self, stored: Sequence[StoredPost]) -> Iterator[RecheckResult]:
        """See `_recheck` (kept apart from the search and feed code above)."""
        return _recheck(self, stored)

    # -- helpers ---------------------------------------------------------------------------
    def _authed_get(self, method: str, params: Mapping[str, Any]) -> tuple[Any, httpx.Response]:
        session = self.session
        assert session is not None and self.password is not None
        url = f"{self.pds}/xrpc/{method}"
        with session.lock:
            if session.access is None:
                session.login(self.http, self.password)
            token = session.access
        try:
            return self.http.get_json(
                url, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except (AuthFailed, RequestRejected) as exc:
            if exc.code not in _TOKEN_ERRORS:
                raise
        with session.lock:
            if session.access == token:  # another thread may have refreshed already
                session.refresh(self.http, self.password)
            token = session.access
        return self.http.get_json(url, params=params, headers={"Authorization": f"Bearer {token}"})

    def _post(
        self,
        view: Mapping[str, Any],
        fetched_at: datetime,
        response: httpx.Response,
        *,
        raw: Mapping[str, Any] | None = None,
        **more: Any,
    ) -> Post:
        return self._stamp(post_from_view(view, raw=raw), fetched_at, response, **more)

    def _stamp(
        self, post: Post, fetched_at: datetime, response: httpx.Response, **more: Any
    ) -> Post:
        extra = {**post.extra, **self.provenance(safe_url(response.request.url), **more)}
        return dataclasses.replace(post, collected_at=fetched_at, extra=extra)

    def _with_profiles(self, posts: list[Post]) -> list[Post]:
        """Fill author creation dates the AppView left out, from `getProfiles` (cached)."""
        missing = list(dict.fromkeys(p.author.id for p in posts if p.author.created_at is None))
        with _cache_lock:
            unknown = [did for did in missing if (self.appview, did) not in _profiles]
        for start in range(0, len(unknown), _PROFILE_BATCH):
            batch = unknown[start : start + _PROFILE_BATCH]
            try:
                data, _ = self.http.get_json(
                    f"{self.appview}/xrpc/app.bsky.actor.getProfiles",
                    params=[("actors", did) for did in batch],
                )
            except CollectorError as exc:
                if not is_stream_error(exc):
                    raise
                log.warning("getProfiles failed, account ages left empty: %s", exc.message)
                break
            found = {
                p.get("did"): _time_or_none(p.get("createdAt"), "createdAt")
                for p in (data.get("profiles") or [] if isinstance(data, dict) else [])
                if isinstance(p, dict)
            }
            with _cache_lock:
                for did in batch:
                    _profiles[(self.appview, did)] = found.get(did)
                while len(_profiles) > _PROFILE_CACHE_SIZE:
                    _profiles.popitem(last=False)
        result = []
        for post in posts:
            if post.author.created_at is None:
                with _cache_lock:
                    created = _profiles.get((self.appview, post.author.id))
                if created is not None:
                    author: Account = dataclasses.replace(post.author, created_at=created)
                    post = dataclasses.replace(post, author=author)
            result.append(post)
        return result


# -- recheck (app.bsky.feed.getPosts on the public AppView) ---------------------------------

#: `app.bsky.feed.getPosts` takes at most 25 URIs per call.
GETPOSTS_BATCH = 25


def _recheck(collector: BlueskyCollector, stored: Sequence[StoredPost]) -> Iterator[RecheckResult]:
    """`BlueskyCollector.recheck`: the stored posts looked up 25 at a time, no login needed.

    `getPosts` answers with the posts that still exist and leaves out the rest, so an asked-for
    URI missing from a well-formed answer is a deletion. It is also missing when the author's
    account was deleted, deactivated or taken down: gone from public view all the same, which
    is what the tombstone records. A changed record (a client that rewrote it) comes back as a
    new version. Reposts are records of their own (`app.bsky.feed.repost`) that `getPosts`
    does not serve; they are not re-read. A batch that fails with a 4xx or a malformed answer
    fails that batch only; a 429, 5xx or timeout after the retries stops the recheck.
    """
    uris = list(dict.fromkeys(s.post_id for s in stored if "/app.bsky.feed.post/" in s.post_id))
    for number, start in enumerate(range(0, len(uris), GETPOSTS_BATCH), 1):
        batch = uris[start : start + GETPOSTS_BATCH]
        try:
            data, response = collector.http.get_json(
                f"{collector.appview}/xrpc/app.bsky.feed.getPosts",
                params=[("uris", uri) for uri in batch],
            )
            views = _list_field(data, "posts", response)
        except CollectorError as exc:
            if not is_stream_error(exc):
                raise
            collector.stream_failed(f"recheck getPosts batch {number}", exc)
            continue
        fetched_at = collector.context.now()
        wanted = set(batch)
        found: set[str] = set()
        posts: list[Post] = []
        for view in views:
            uri = view.get("uri")
            if uri not in wanted:
                continue
            found.add(uri)
            try:
                posts.append(collector._post(view, fetched_at, response, recheck=True))
            except (RecordError, KeyError, TypeError) as exc:
                log.warning("skipping a malformed post view %s (%s)", uri, exc)
        yield RecheckResult(
            tuple(posts),
            tuple(uri for uri in batch if uri not in found),
            safe_url(response.request.url),
            response.status_code,
            fetched_at,
        )
    collector.finish()


def _as_query(alias: str) -> str:
    """A multi-word alias is searched as a phrase."""
    alias = alias.replace('"', " ").strip()
    return f'"{alias}"' if " " in alias else alias


def _api_time(key: str) -> str:
    return key_time(key).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _list_field(data: Any, name: str, response: httpx.Response) -> list[Any]:
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, list):
        url = safe_url(response.request.url)
        raise MalformedResponse(
            f"{url}: expected a JSON object with a {name!r} list",
            url=url,
            status=response.status_code,
        )
    return [item for item in value if isinstance(item, dict)]
