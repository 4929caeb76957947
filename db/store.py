"""Bulk, idempotent writing of posts.

Writing is split in two steps. `PostPreparer` turns a `Post` into the rows it will be stored
as (hashes, normalised links, times in the database's storage form); it needs no database, so
a large import runs it in a worker process while this one writes. `PostWriter` then stores
prepared posts inside a transaction the caller owns: an import commits once per file, a
collector once per page together with its cursor, so a crash leaves either all or nothing of a
unit of work. Per chunk it does a constant number of statements (look up known accounts and
posts, insert the new ones, archive edited versions), never one round trip per post, which is
what keeps a million-post import linear on both SQLite and PostgreSQL.

Identity is `(platform, post_id)`. A post seen again with the same content is counted as
known and left untouched; with different content (an edit) the stored version is copied to
`post_version` and the post row takes the new one. Content means what a reader sees (text,
links, tags, targets), so a changed like-count in the raw payload is not taken for an edit.
A payload and content identical to one of the post's kept earlier versions are known too:
that old version read again (a file with a post and its edit, imported twice), not an edit.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, delete, exists, func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from collector.post import (
    Post,
    RecordError,
    content_fingerprint_of,
    evidence_id,
    normalize_link,
    record_lists,
    record_raw_hashed,
    sha256_text,
)
from db import fulltext, models
from db.engine import DatabaseError

_log = logging.getLogger(__name__)

__all__ = [
    "ForeignKeyViolation",
    "PostPreparer",
    "PostWriter",
    "PreparedPost",
    "WriteCounts",
    "foreign_keys_checked_once",
    "holds_posts",
    "known_source_lines",
    "mark_deleted",
    "pages_written_once",
    "post_indexes_rebuilt",
]

_POST = models.Post.__table__
_LINK = models.PostLink.__table__
_HASHTAG = models.PostHashtag.__table__
_TAG = models.PostTag.__table__

# Enough to keep the statement count low, small enough to stay within SQLite's bound-parameter
# limit in one multi-row INSERT and to keep memory flat.
LOOKUP_CHUNK = 900
ACCOUNT_CACHE_LIMIT = 200_000
# Below this many posts a load updates the indexes as it goes (see post_indexes_rebuilt).
BULK_REBUILD_MIN = 50_000
# Rows per multi-row INSERT on SQLite (within its bound-parameter limit).
MULTIROW_MAX_ROWS = 300

# Column order of a post row: the writer's part (id, key, account), the post's own part as the
# preparer builds it, then what is the same for every post of one writer.
POST_KEY_COLUMNS = ("id", "platform", "platform_id", "account_id")
POST_VALUE_COLUMNS = (
    "evidence_id", "author_handle", "author_display_name", "created_at", "collected_at",
    "text", "lang", "url", "reply_to", "repost_of", "quote_of", "raw", "raw_sha256",
    "content_sha256", "source_sha256", "provenance",
)  # fmt: skip
POST_WRITER_COLUMNS = (
    "ingested_at", "version", "collector", "source_name", "import_batch_id", "collection_run_id",
)  # fmt: skip
_RAW_SHA256_AT = POST_VALUE_COLUMNS.index("raw_sha256")
VERSION_COLUMNS = (
    "post_id", "version", "text", "raw", "raw_sha256", "content_sha256", "collected_at",
    "superseded_at", "collector", "import_batch_id", "collection_run_id",
)  # fmt: skip


@dataclass
class WriteCounts:
    inserted: int = 0
    known: int = 0
    updated: int = 0

    def add(self, other: WriteCounts) -> None:
        self.inserted += other.inserted
        self.known += other.known
        self.updated += other.updated


class PreparedPost(NamedTuple):
    """A post as the rows it will be stored as, ready for the writer.

    A plain tuple so that a worker process can send millions of them cheaply. Times are in
    the database's storage form (`storage_time`), which sorts like the times themselves.
    """

    platform: str
    post_id: str
    content_sha256: str
    author_id: str
    author_handle: str | None
    author_display_name: str | None
    author_created_at: str | None
    created_at: str
    values: tuple[Any, ...]  # POST_VALUE_COLUMNS
    links: tuple[tuple[int, str, str, str | None], ...]  # position, url, normalised, domain
    hashtags: tuple[tuple[int, str], ...]
    tags: tuple[tuple[int, str], ...]
    # The post itself when it was prepared in this process (collectors), else None.
    post: Post | None = None
    # Defender mentions found where it was prepared, or None when nobody looked.
    mentions: tuple[Any, ...] | None = None


def storage_time(value: datetime | None, sqlite: bool) -> str | None:
    """A time as the post tables store it: naive UTC text on SQLite (SQLAlchemy's format),
    UTC with its offset on PostgreSQL. Fixed width, so comparing the texts compares times."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = value.isoformat(" ", "microseconds")
    return text[:-6] if sqlite else text  # drop "+00:00" for SQLite's naive form


# A time as most exports write it (UTC, whole seconds): its storage form is a matter of slicing.
_WHOLE_SECONDS_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_from_iso = datetime.fromisoformat


def _stored_time_text(value: Any, sqlite: bool) -> str | None:
    """`storage_time` of a record's time field, or None when it is not plainly an ISO 8601
    time with a zone (the careful `parse_time` then decides what it is)."""
    if type(value) is not str:
        return None
    try:
        parsed = _from_iso(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    if len(value) == 20 and _WHOLE_SECONDS_UTC.fullmatch(value):
        text = f"{value[:10]} {value[11:19]}.000000"
        return text if sqlite else text + "+00:00"
    return storage_time(parsed, sqlite)


_stored_account_time = lru_cache(maxsize=4096)(_stored_time_text)


def _loaded_time(value: Any, sqlite: bool) -> str | None:
    """A time read back from the database, in `storage_time` form."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return storage_time(value, sqlite)


@dataclass(frozen=True)
class PostPreparer:
    """Builds `PreparedPost`s; picklable, so an import's worker process can use it too."""

    sqlite: bool
    now: datetime
    provenance: dict[str, Any] | None = None

    @cached_property
    def stored_now(self) -> str:
        """`now` in storage form: the collection time of posts that carry none."""
        return storage_time(self.now, self.sqlite)  # type: ignore[return-value]

    @cached_property
    def _provenance_json(self) -> str | None:
        return _json(self.provenance)

    def prepare(
        self, post: Post, *, keep_post: bool = True, mentions: tuple[Any, ...] | None = None
    ) -> PreparedPost:
        sqlite = self.sqlite
        extra = post.extra
        provenance = self.provenance
        source_sha256 = None
        if extra:
            source_sha256 = extra.get("source_sha256")
            own = extra.get("provenance")
            if isinstance(own, dict):
                provenance = {**(provenance or {}), **own}
        created_at: str = storage_time(post.created_at, sqlite)  # type: ignore[assignment]
        collected_at: str = (
            self.stored_now
            if post.collected_at is None
            else storage_time(post.collected_at, sqlite)  # type: ignore[assignment]
        )
        provenance_json = (
            self._provenance_json if provenance is self.provenance else _json(provenance)
        )
        author = post.author
        return _prepared_post(
            platform=post.platform,
            post_id=post.post_id,
            content=post.content_sha256(),
            author_id=author.id,
            handle=author.handle,
            display_name=author.display_name,
            account_created=_account_time(author.created_at, sqlite),
            created_at=created_at,
            collected_at=collected_at,
            text=post.text,
            lang=post.lang,
            url=post.url,
            reply_to=post.reply_to,
            repost_of=post.repost_of,
            quote_of=post.quote_of,
            raw=post.raw,
            source_sha256=source_sha256,
            provenance=provenance_json,
            links=post.links,
            hashtags=post.hashtags,
            tags=post.mentions,
            post=post if keep_post else None,
            mentions=mentions,
        )

    def prepare_record(
        self, record: dict[str, Any], source_sha256: str, find: Any = None
    ) -> PreparedPost | None:
        """`prepare(post_from_record(record, source_sha256=...))` without building the `Post`,
        for a record in the plain shape (every field of its JSON type, times ISO 8601 with a
        zone); None for anything else, which the careful path then builds or rejects with the
        field to blame. What an import's workers spend most of their time on: on 2,000 of the
        benchmark's posts in memory this took 29-32 us a post where the two steps took 43-48
        us (four passes each, on a busy machine). `find`: the defender matcher's `find`, or
        None. A property test holds the two paths to the same result.
        """
        get = record.get
        platform = get("platform")
        post_id = get("post_id")
        text = get("text")
        author = get("author")
        if type(post_id) is int:
            post_id = str(post_id)
        if (
            type(platform) is not str
            or not platform
            or type(post_id) is not str
            or not post_id
            or type(text) is not str
            or type(author) is not dict
        ):
            return None
        sqlite = self.sqlite
        created_at = _stored_time_text(get("created_at"), sqlite)
        author_id = author.get("id")
        if type(author_id) is int:
            author_id = str(author_id)
        if created_at is None or type(author_id) is not str or not author_id:
            return None
        optional = []
        for value in (
            author.get("handle"),
            author.get("display_name"),
            get("url"),
            get("lang"),
            get("reply_to"),
            get("repost_of"),
            get("quote_of"),
        ):
            if value is not None:
                if type(value) is not str:
                    return None
                value = value or None
            optional.append(value)
        handle, display_name, url, lang, reply_to, repost_of, quote_of = optional
        account_created = author.get("created_at")
        if account_created is None or account_created == "":
            account_created = None
        elif type(account_created) is str:
            account_created = _stored_account_time(account_created, sqlite)
            if account_created is None:
                return None
        else:
            return None
        collected = get("collected_at")
        if collected is None or collected == "":
            collected_at = self.stored_now
        else:
            collected_at = _stored_time_text(collected, sqlite)
            if collected_at is None:
                return None
        try:
            links, hashtags, tags = record_lists(record)
        except RecordError:
            return None
        raw, raw_sha256 = record_raw_hashed(record)
        found = None
        if find is not None:
            found = tuple(find(text, hashtags=hashtags, mentions=tags, links=links, url=url))
        return _prepared_post(
            platform=platform.lower(),
            post_id=post_id,
            content=content_fingerprint_of(
                text, links, hashtags, tags, reply_to, repost_of, quote_of, url
            ),
            author_id=author_id,
            handle=handle,
            display_name=display_name,
            account_created=account_created,
            created_at=created_at,
            collected_at=collected_at,
            text=text,
            lang=lang,
            url=url,
            reply_to=reply_to,
            repost_of=repost_of,
            quote_of=quote_of,
            raw=raw,
            raw_sha256=raw_sha256,
            source_sha256=source_sha256 or None,
            provenance=self._provenance_json,
            links=links,
            hashtags=hashtags,
            tags=tags,
            post=None,
            mentions=found,
        )


def _prepared_post(
    *,
    platform: str,
    post_id: str,
    content: str,
    author_id: str,
    handle: str | None,
    display_name: str | None,
    account_created: str | None,
    created_at: str,
    collected_at: str,
    text: str,
    lang: str | None,
    url: str | None,
    reply_to: str | None,
    repost_of: str | None,
    quote_of: str | None,
    raw: str,
    source_sha256: str | None,
    provenance: str | None,
    links: tuple[str, ...],
    hashtags: tuple[str, ...],
    tags: tuple[str, ...],
    post: Post | None,
    mentions: tuple[Any, ...] | None,
    raw_sha256: str | None = None,
) -> PreparedPost:
    """The one place that lays a post out as its stored rows (POST_VALUE_COLUMNS order),
    for `prepare` and `prepare_record` alike."""
    link_rows = []
    for position, link in enumerate(links):
        normalized, domain = normalize_link(link)
        link_rows.append((position, link, normalized, domain))
    return PreparedPost(
        platform,
        post_id,
        content,
        author_id,
        handle,
        display_name,
        account_created,
        created_at,
        (
            evidence_id(platform, post_id),
            handle,
            display_name,
            created_at,
            collected_at,
            # PostgreSQL text cannot hold NUL; the raw payload keeps it (escaped in JSON).
            text.replace("\x00", "\ufffd") if "\x00" in text else text,
            lang,
            url,
            reply_to,
            repost_of,
            quote_of,
            raw,
            sha256_text(raw) if raw_sha256 is None else raw_sha256,
            content,
            source_sha256,
            provenance,
        ),
        tuple(link_rows),
        tuple(enumerate(hashtags)),
        tuple(enumerate(tags)),
        post,
        mentions,
    )


def _json(value: dict[str, Any] | None) -> str | None:
    return orjson.dumps(value).decode("utf-8") if value else None


@lru_cache(maxsize=4096)
def _account_time(value: datetime | None, sqlite: bool) -> str | None:
    """Account creation times repeat on every post of the account."""
    return storage_time(value, sqlite)


@dataclass(slots=True)
class _CachedAccount:
    id: int
    handle: str | None
    display_name: str | None
    created_at: str | None
    first_seen: str
    last_seen: str
    dirty: bool = False
    used: int = 0  # the writer's chunk that last used it (`PostWriter._trim_accounts`)


@dataclass
class PostWriter:
    """Writes posts with their provenance; one instance per import file or collection run."""

    connection: Connection
    collector: str
    now: datetime
    source_name: str | None = None
    import_batch_id: int | None = None
    collection_run_id: int | None = None
    provenance: dict[str, Any] | None = None
    _accounts: dict[tuple[str, str], _CachedAccount] = field(default_factory=dict)
    # The posts the last write stored or replaced (new and edited), with their row ids, for
    # steps that derive rows from them in the same transaction (defender mentions).
    last_stored: list[tuple[PreparedPost, int]] = field(default_factory=list)
    # The row ids among them that replaced an earlier version (edits).
    last_edited_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._bulk = _Bulk(self.connection)
        self.preparer = PostPreparer(self._bulk.sqlite, self.now, self.provenance)
        # POST_WRITER_COLUMNS of every post this writer stores.
        self._writer_values = dict(
            zip(
                POST_WRITER_COLUMNS,
                (
                    self.preparer.stored_now,
                    1,
                    self.collector,
                    self.source_name,
                    self.import_batch_id,
                    self.collection_run_id,
                ),
                strict=True,
            )
        )
        self._next_id: int | None = None
        # SQLite's full-text index is kept here, one statement a chunk (see `db.fulltext` for
        # why not triggers); PostgreSQL's trigram index is kept by the server.
        self._fts = self._bulk.sqlite and fulltext.present(self.connection)
        self._chunk = 0  # chunks written, for `_trim_accounts`
        if self._bulk.sqlite:
            # The same turn-taking on SQLite: its driver opens a transaction only at the first
            # write, so the look-ups below (known posts, max(id) for new ids) would otherwise
            # read outside it, and two writers at once (the daemon runs sources in parallel)
            # could give out the same post id. BEGIN IMMEDIATE takes the write lock now,
            # waiting for the other writer's commit within the busy timeout.
            driver = self.connection.connection.driver_connection
            if driver is not None and not driver.in_transaction:
                self.connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            # Writers take turns, so the look-up-then-insert below cannot race another
            # writer (the daemon collecting while an analyst imports). SQLite gets the same
            # from its single writer lock.
            # The key is per schema, so two smearwatch databases in one server don't wait on
            # each other.
            self.connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(7349211, hashtext(current_schema()))"
            )

    def write(self, posts: Sequence[Post]) -> WriteCounts:
        """Store a chunk of posts; the caller commits or rolls back."""
        prepare = self.preparer.prepare
        return self.write_prepared([prepare(post) for post in posts])

    def write_prepared(self, posts: Sequence[PreparedPost]) -> WriteCounts:
        """Store a chunk of prepared posts (from this writer's `preparer` or one like it)."""
        counts = WriteCounts()
        self.last_stored = []
        self.last_edited_ids = []
        batch: dict[tuple[str, str], PreparedPost] = {}
        for post in posts:
            key = (post.platform, post.post_id)
            if key in batch:
                # The same post twice in one chunk (an edit inside one file): write what we
                # have so the second copy is compared with the first, as it would be later.
                counts.add(self._write_unique(list(batch.values())))
                batch = {}
            batch[key] = post
        if batch:
            counts.add(self._write_unique(list(batch.values())))
        return counts

    def known_lines(self, keys: list[tuple[int, str, str, str]]) -> set[int]:
        """Indices of (index, platform, post_id, source SHA-256) stored from identical bytes."""
        return known_source_lines(self.connection, keys)

    # -- accounts -----------------------------------------------------------------------

    def _account_ids(self, posts: Sequence[PreparedPost]) -> list[int]:
        """The account row id of each post's author, creating the accounts not stored yet.

        One pass over the posts: each moves its cached account's first and last seen as it
        comes (`_saw`), without a per-chunk summary of the authors first.
        """
        accounts = self._accounts
        self._chunk += 1
        chunk = self._chunk
        ids: list[int] = []
        missing: list[int] = []
        saw = self._saw
        for index, post in enumerate(posts):
            cached = accounts.get((post.platform, post.author_id))
            if cached is None:
                missing.append(index)
                ids.append(0)
                continue
            cached.used = chunk
            ids.append(cached.id)
            saw(cached, post)
        if missing:
            self._add_accounts([posts[index] for index in missing])
            for index in missing:
                post = posts[index]
                cached = accounts[(post.platform, post.author_id)]
                cached.used = chunk
                ids[index] = cached.id
                saw(cached, post)
        self._trim_accounts()
        return ids

    @staticmethod
    def _saw(cached: _CachedAccount, post: PreparedPost) -> None:
        """Move first/last seen and pick up a new handle; only a newer post may rename the
        account, so an old export cannot undo a rename."""
        created = post.created_at
        changed = False
        if created > cached.last_seen:
            cached.last_seen, changed = created, True
            handle = post.author_handle
            if handle and handle != cached.handle:
                cached.handle = handle
            name = post.author_display_name
            if name and name != cached.display_name:
                cached.display_name = name
        elif created < cached.first_seen:
            cached.first_seen, changed = created, True
        if post.author_created_at and cached.created_at is None:
            cached.created_at, changed = post.author_created_at, True
        if changed:
            # Held back and written once by finish(): an account active all through a
            # large import would otherwise be updated once per chunk.
            cached.dirty = True

    def _add_accounts(self, posts: list[PreparedPost]) -> None:
        """Cache the accounts of these posts' authors, loading or creating them.

        A new account is stored as these posts show it (the newest one's handle, the first
        and last time among them), so that `_saw` finds nothing to change.
        """
        span: dict[tuple[str, str], list[Any]] = {}
        for post in posts:
            key = (post.platform, post.author_id)
            created = post.created_at
            entry = span.get(key)
            if entry is None:
                span[key] = [post, created, created]
            elif created >= entry[2]:
                entry[0], entry[2] = post, created
            elif created < entry[1]:
                entry[1] = created
        keys = list(span)
        self._load_accounts(keys)
        absent = [key for key in keys if key not in self._accounts]
        if not absent:
            return
        self._bulk.insert(
            "account",
            (
                "platform",
                "platform_id",
                "handle",
                "display_name",
                "created_at",
                "first_seen",
                "last_seen",
            ),
            [
                (
                    key[0],
                    key[1],
                    span[key][0].author_handle,
                    span[key][0].author_display_name,
                    span[key][0].author_created_at,
                    span[key][1],
                    span[key][2],
                )
                for key in absent
            ],
            conflict=("platform", "platform_id"),
        )
        self._load_accounts(absent)

    def _load_accounts(self, keys: Sequence[tuple[str, str]]) -> None:
        columns = "id, platform_id, handle, display_name, created_at, first_seen, last_seen"
        sqlite = self._bulk.sqlite
        accounts = self._accounts
        for platform, rows in _lookup(self.connection, "account", columns, keys):
            for row in rows:
                accounts[(platform, row[1])] = _CachedAccount(
                    row[0],
                    row[2],
                    row[3],
                    _loaded_time(row[4], sqlite),
                    _loaded_time(row[5], sqlite),  # type: ignore[arg-type]
                    _loaded_time(row[6], sqlite),  # type: ignore[arg-type]
                )

    def _trim_accounts(self) -> None:
        """Beyond the limit, forget the accounts the last chunk did not use, writing their
        changes first. Only between chunks, so none is forgotten while a chunk needs it;
        emptying most of the cache at once keeps this a rare full pass."""
        accounts = self._accounts
        if len(accounts) <= ACCOUNT_CACHE_LIMIT:
            return
        chunk = self._chunk
        unused = [key for key, account in accounts.items() if account.used != chunk]
        self._flush_accounts([accounts[key] for key in unused if accounts[key].dirty])
        for key in unused:
            del accounts[key]

    def finish(self) -> None:
        """Write the account changes held back so far; call before committing."""
        self._flush_accounts([a for a in self._accounts.values() if a.dirty])

    def _flush_accounts(self, accounts: list[_CachedAccount]) -> None:
        if not accounts:
            return
        self._bulk.executemany(
            "UPDATE account SET handle = {p}, display_name = {p}, created_at = {p}, "
            "first_seen = {p}, last_seen = {p} WHERE id = {p}",
            [
                (a.handle, a.display_name, a.created_at, a.first_seen, a.last_seen, a.id)
                for a in accounts
            ],
        )
        for account in accounts:
            account.dirty = False

    # -- posts --------------------------------------------------------------------------

    def _existing_posts(self, posts: Iterable[PreparedPost]) -> dict[tuple[str, str], _Known]:
        """Known posts by key."""
        found: dict[tuple[str, str], _Known] = {}
        columns = "platform_id, id, content_sha256, version"
        keys = ((p.platform, p.post_id) for p in posts)
        for platform, rows in _lookup(self.connection, "post", columns, keys):
            for row in rows:
                found[(platform, row[0])] = _Known(row[1], row[2], row[3])
        return found

    def _new_ids(self, count: int) -> range | list[int]:
        """Ids for new post rows, given out here so that no read-back is needed.

        Safe because posts are written by one writer at a time (SQLite's write lock, the
        advisory lock on PostgreSQL); on PostgreSQL the ids come from the column's own
        sequence, so inserts elsewhere keep working.
        """
        if not self._bulk.sqlite:
            rows = self.connection.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('post', 'id')) FROM generate_series(1, %s)",
                (count,),
            ).fetchall()
            return [row[0] for row in rows]
        if self._next_id is None:
            top = self.connection.exec_driver_sql("SELECT max(id) FROM post").scalar()
            self._next_id = (top or 0) + 1
        start = self._next_id
        self._next_id += count
        return range(start, start + count)

    def _write_unique(self, posts: list[PreparedPost]) -> WriteCounts:
        counts = WriteCounts()
        existing = self._existing_posts(posts)
        fresh: list[PreparedPost] = []
        edited: list[tuple[PreparedPost, _Known]] = []
        for post in posts:
            row = existing.get((post.platform, post.post_id))
            if row is None:
                fresh.append(post)
            elif row.content_sha256 != post.content_sha256:
                edited.append((post, row))
            else:
                counts.known += 1
        if edited:
            kept = self._kept_versions([row.id for _, row in edited])
            new_edits = [
                (post, row)
                for post, row in edited
                if (row.id, post.values[_RAW_SHA256_AT], post.content_sha256) not in kept
            ]
            counts.known += len(edited) - len(new_edits)
            edited = new_edits
        if not fresh and not edited:
            return counts
        account_ids = self._account_ids(fresh + [p for p, _ in edited])
        if fresh:
            stored = list(zip(fresh, self._new_ids(len(fresh)), strict=True))
            self._bulk.insert(
                "post",
                POST_KEY_COLUMNS + POST_VALUE_COLUMNS,
                [
                    (post_id, p.platform, p.post_id, account_id) + p.values
                    for (p, post_id), account_id in zip(
                        stored, account_ids[: len(fresh)], strict=True
                    )
                ],
                fixed=self._writer_values,
            )
            counts.inserted += len(stored)
            # The ids are consecutive: `_new_ids` gives SQLite a range. In a bulk load they
            # are indexed at its end (`post_indexes_rebuilt`).
            if self._fts and fulltext.sqlite_deferred_above(self.connection) is None:
                fulltext.sqlite_index_range(self.connection, stored[0][1], stored[-1][1])
            self._write_children(stored)
            self.last_stored.extend(stored)
        if edited:
            self._write_edits(edited, account_ids[len(fresh) :])
            counts.updated += len(edited)
            self.last_stored.extend((post, row.id) for post, row in edited)
            self.last_edited_ids.extend(row.id for _, row in edited)
        return counts

    def _kept_versions(self, post_ids: list[int]) -> set[tuple[int, str, str]]:
        """(post row id, raw SHA-256, content SHA-256) of the kept earlier versions.

        A post whose payload and content are one of its earlier versions is an old copy read again
        (a file holding a post and its edit, imported twice), not a new edit: making it the
        current version would swap the two back and forth on every import.
        """
        version = models.PostVersion.__table__
        kept: set[tuple[int, str, str]] = set()
        for start in range(0, len(post_ids), LOOKUP_CHUNK):
            chunk = post_ids[start : start + LOOKUP_CHUNK]
            columns = (version.c.post_id, version.c.raw_sha256, version.c.content_sha256)
            rows = self.connection.execute(select(*columns).where(version.c.post_id.in_(chunk)))
            kept.update((row[0], row[1], row[2]) for row in rows)
        return kept

    def _write_edits(
        self, edited: list[tuple[PreparedPost, _Known]], account_ids: list[int]
    ) -> None:
        post_ids = [row.id for _, row in edited]
        columns = [
            _POST.c.id, _POST.c.version, _POST.c.text, _POST.c.raw, _POST.c.raw_sha256,
            _POST.c.content_sha256, _POST.c.collected_at, _POST.c.collector,
            _POST.c.import_batch_id, _POST.c.collection_run_id,
        ]  # fmt: skip
        current = {
            r.id: r
            for r in self.connection.execute(select(*columns).where(_POST.c.id.in_(post_ids)))
        }
        sqlite = self._bulk.sqlite
        now = self.preparer.stored_now
        self._bulk.insert(
            "post_version",
            VERSION_COLUMNS,
            [
                (
                    old.id,
                    old.version,
                    old.text,
                    old.raw,
                    old.raw_sha256,
                    old.content_sha256,
                    storage_time(old.collected_at, sqlite),
                    now,
                    old.collector,
                    old.import_batch_id,
                    old.collection_run_id,
                )
                for old in current.values()
            ],
        )
        columns_set = ("account_id",) + POST_VALUE_COLUMNS + POST_WRITER_COLUMNS
        assignments = ", ".join(f"{column} = {{p}}" for column in columns_set)
        version_at = columns_set.index("version")
        rows = []
        for (post, row), account_id in zip(edited, account_ids, strict=True):
            values = [account_id, *post.values, *self._writer_values.values()]
            values[version_at] = current[row.id].version + 1
            rows.append((*values, row.id))
        # Posts written by a deferred bulk load are not in the index yet: it takes their
        # final text at the end of the load.
        deferred_above = fulltext.sqlite_deferred_above(self.connection) if self._fts else None
        indexed = {
            row_id: old
            for row_id, old in current.items()
            if deferred_above is None or row_id <= deferred_above
        }
        if self._fts:
            fulltext.sqlite_unindex(self.connection, [(r.id, r.text) for r in indexed.values()])
        self._bulk.executemany(f"UPDATE post SET {assignments} WHERE id = {{p}}", rows)
        if self._fts:
            fulltext.sqlite_reindex(self.connection, list(indexed))
        for table in (_LINK, _HASHTAG, _TAG):
            self.connection.execute(delete(table).where(table.c.post_id.in_(post_ids)))
        self._write_children([(post, row.id) for post, row in edited])

    def _write_children(self, stored: Iterable[tuple[PreparedPost, int]]) -> None:
        links: list[tuple[Any, ...]] = []
        hashtags: list[tuple[Any, ...]] = []
        tags: list[tuple[Any, ...]] = []
        for post, post_id in stored:
            if post.links:
                links.extend((post_id, *link) for link in post.links)
            if post.hashtags:
                hashtags.extend((post_id, *tag) for tag in post.hashtags)
            if post.tags:
                tags.extend((post_id, *tag) for tag in post.tags)
        columns = ("post_id", "position", "url", "normalized_url", "domain")
        self._bulk.insert("post_link", columns, links, multirow=True)
        self._bulk.insert("post_hashtag", ("post_id", "position", "tag"), hashtags, multirow=True)
        self._bulk.insert("post_tag", ("post_id", "position", "handle"), tags, multirow=True)


def mark_deleted(
    connection: Connection,
    platform: str,
    post_ids: Sequence[str],
    *,
    when: datetime,
    deletion: dict[str, Any],
) -> int:
    """Mark stored posts as deleted on the platform (tombstones); returns how many were marked.

    Nothing is removed: the post row keeps its last version, its earlier versions stay in
    `post_version`, and `deleted_at` says when the deletion was noticed, `deletion` how
    (request, status, source, run). A post already marked keeps its first notice.
    """
    marked = 0
    for start in range(0, len(post_ids), LOOKUP_CHUNK):
        chunk = list(post_ids[start : start + LOOKUP_CHUNK])
        result = connection.execute(
            _POST.update()
            .where(
                _POST.c.platform == platform,
                _POST.c.platform_id.in_(chunk),
                _POST.c.deleted_at.is_(None),
            )
            .values(deleted_at=when, deletion=deletion)
        )
        marked += result.rowcount or 0
    return marked


def holds_posts(connection: Connection) -> bool:
    """Whether the database holds any post. Into an empty one an import has nothing to
    recognise (looking up every line would cost 1-2 us a line and find nothing), and nobody
    has anything to read, so a first import may lock readers out (`pages_written_once`, the
    PostgreSQL side of `post_indexes_rebuilt`)."""
    return connection.exec_driver_sql("SELECT 1 FROM post LIMIT 1").first() is not None


#: Smallest expected load for which `pages_written_once` leaves WAL mode.
WRITTEN_ONCE_MIN_POSTS = 50_000


@contextmanager
def pages_written_once(connection: Connection, *, expected_posts: int) -> Iterator[bool]:
    """Load a large first import into an empty SQLite database with a rollback journal.

    In WAL mode every page of a load is written twice: into the WAL as the transaction goes,
    then into the database file by the checkpoint at commit, which for 1,000,000 posts
    (1.3 GB) took 6.6 s of the import's 63.9 s (one run). A rollback journal keeps only the
    pages the database had before the transaction, so pages added to an empty database are
    written once: the commit took 0.4 s and the import 58.0 s. In two later pairs the import's
    tail after the index rebuild went from 3.8-4.1 s to 0.2-0.4 s. The cost is that other
    connections cannot read while the import writes, which matters only once there is
    something to read, so this is done only when the database holds no posts. Switching needs
    the database to itself: with another connection open (a running daemon) it stays in WAL
    mode. WAL mode comes back afterwards, also after a failure; after a crash SQLite rolls the
    journal back on the next open, whose connection sets WAL mode again.

    Enter it outside a transaction; yields whether the journal mode was switched.
    """
    wanted = (
        connection.dialect.name == "sqlite"
        and expected_posts >= WRITTEN_ONCE_MIN_POSTS
        and connection.engine.url.database not in (None, "", ":memory:")
        and not holds_posts(connection)
    )
    connection.rollback()  # the look-up above must not hold a read transaction open
    if not wanted:
        yield False
        return
    try:
        mode = connection.exec_driver_sql("PRAGMA journal_mode=DELETE").scalar()
    except OperationalError:
        mode = None  # another connection has the database open
    connection.commit()
    switched = mode == "delete"
    try:
        yield switched
    finally:
        if switched:
            connection.rollback()
            try:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            except OperationalError as exc:
                # Another connection opened meanwhile and is reading: the file stays in
                # rollback-journal mode, which is just as safe, until a connection sets WAL.
                _log.warning("the database stays in rollback-journal mode for now: %s", exc)
            connection.commit()


@contextmanager
def post_indexes_rebuilt(connection: Connection, *, expected_posts: int) -> Iterator[bool]:
    """Rebuild the post table's secondary indexes after a bulk load instead of updating them.

    Inserting a million posts one by one into the evidence-id and account/time indexes
    touches pages all over them; building them afresh from the sorted table is cheaper
    (measured on 1,000,000 posts into an empty SQLite database: 117.6 s import + 6.6 s
    rebuild against 143.9 s; into PostgreSQL, one run each: 87.3 s against 100.3 s). The drop
    and the rebuild are part of the caller's transaction: a failed import rolls back to the
    old indexes.

    SQLite: when the load is at least as large as what is stored already, so the rebuild
    never costs more than it saves; readers keep using the old indexes meanwhile (WAL). The
    full-text index takes the load's posts at the end too, in one statement (`db.fulltext`).
    PostgreSQL: only into an empty post table, because a dropped index locks other sessions
    out of the table until the import commits, which matters only once there is something to
    read; and only if the other sessions' locks on the table let go within `INDEX_LOCK_WAIT`,
    else the indexes are kept up to date as usual.

    Yields whether the indexes were dropped; they are built again only on success.
    """
    indexes = sorted(_POST.indexes, key=lambda index: index.name or "")
    if connection.dialect.name == "sqlite":
        if not _sqlite_transaction_open(connection):
            yield False
            return
        stored = connection.exec_driver_sql("SELECT count(*) FROM post").scalar() or 0
        if expected_posts < max(stored, BULK_REBUILD_MIN):
            yield False
            return
        for index in indexes:
            index.drop(connection, checkfirst=True)
        fulltext.sqlite_defer(connection)
        try:
            yield True
        except BaseException:
            fulltext.sqlite_undefer(connection)
            raise
        for index in indexes:
            index.create(connection)
        fulltext.sqlite_index_deferred(connection)
        return
    if expected_posts < BULK_REBUILD_MIN or holds_posts(connection):
        yield False
        return
    # The trigram index too: GIN built from the loaded table once, not grown row by row.
    trigram = fulltext.trigram_index_sql(connection) if fulltext.present(connection) else None
    if not _dropped_soon(connection, indexes):
        yield False
        return
    if trigram:  # the table's lock is held since the drops above
        connection.exec_driver_sql(f"DROP INDEX {fulltext.TRIGRAM_INDEX}")
    yield True
    for index in indexes:
        index.create(connection)
    if trigram:
        connection.exec_driver_sql(trigram)
    # Statistics of the loaded tables, now: a table never analysed is planned from default
    # guesses, and autovacuum may be off or minutes away. Without them the web search on
    # 1,001,000 imported posts took the trigram index for a word in 450,571 posts (3.7 s)
    # and nested loops for a defender's posts (5.2 s); after ANALYZE (2.2 s for these
    # tables) every post search page took 0.015-0.074 s.
    for table in (*IMPORT_TABLES, "account"):
        connection.exec_driver_sql(f"ANALYZE {table}")


# How long a PostgreSQL import waits for other sessions to let go of the post table before
# it keeps the indexes instead of dropping them.
INDEX_LOCK_WAIT = "5s"


def _dropped_soon(connection: Connection, indexes: Sequence[Any]) -> bool:
    """Drop the indexes if the table's lock comes within `INDEX_LOCK_WAIT` (PostgreSQL)."""
    before = connection.exec_driver_sql("SELECT current_setting('lock_timeout')").scalar()
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(
                "SELECT set_config('lock_timeout', %s, true)", (INDEX_LOCK_WAIT,)
            )
            for index in indexes:
                index.drop(connection, checkfirst=True)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        return False
    finally:
        connection.exec_driver_sql("SELECT set_config('lock_timeout', %s, true)", (before,))
    return True


# The tables an import writes, whose foreign keys `foreign_keys_checked_once` checks.
IMPORT_TABLES = ("post", "post_version", "post_link", "post_hashtag", "post_tag", "mention")


class ForeignKeyViolation(DatabaseError):
    """A row written by an import refers to a row that does not exist; nothing is kept."""


@contextmanager
def foreign_keys_checked_once(connection: Connection) -> Iterator[bool]:
    """On PostgreSQL, check the foreign keys of a bulk load once at its end, not row by row.

    Each row of a post, link or hashtag fires a trigger that looks its parent row up, which
    is close to half of the server's work in an import (200,000 posts: 21.4 s of server CPU
    against 12.4 s without). Where the role may set `session_replication_role` (a superuser,
    or since PostgreSQL 15 `GRANT SET ON PARAMETER session_replication_role TO <role>`) the
    triggers are off for this transaction only, and instead one query per foreign key looks
    for rows written by this import whose parent is missing; finding one raises
    `ForeignKeyViolation`, so the import is rolled back as the trigger would have made it.
    The writer takes the ids it writes from rows it has just looked up or written, so this
    is a safety net, not the rule. Elsewhere (SQLite, a role without the grant) nothing
    changes. Nothing the import does relies on a cascade: it deletes child rows itself.

    Yields whether the triggers are off; the check runs only on success.
    """
    if connection.dialect.name != "postgresql":
        yield False
        return
    tables = [models.Base.metadata.tables[name] for name in IMPORT_TABLES]
    before = {
        table.name: connection.execute(select(func.max(table.c.id))).scalar() or 0
        for table in tables
    }
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    except DBAPIError:
        yield False  # not allowed: the triggers check every row as usual
        return
    yield True
    connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
    # The rows written: new ones, and the posts edited (each left a new post_version row).
    # Every condition is a range or a look-up on a primary key, so the check costs the rows
    # written, not the rows stored.
    version = models.PostVersion.__table__
    written = [(table, table.c.id > before[table.name]) for table in tables]
    edited = select(version.c.post_id).where(version.c.id > before["post_version"])
    written.append((_POST, _POST.c.id.in_(edited)))
    for table, condition in written:
        for key in table.foreign_keys:
            child, parent = key.parent, key.column
            orphan = (
                select(table.c.id, child)
                .where(condition, child.is_not(None), ~exists().where(parent == child))
                .limit(1)
            )
            found = connection.execute(orphan).first()
            if found is not None:
                raise ForeignKeyViolation(
                    f"{table.name} row {found[0]} refers to {parent.table.name} "
                    f"{found[1]}, which does not exist; nothing of the import was kept"
                )


def _sqlite_transaction_open(connection: Connection) -> bool:
    """Whether SQLite has a transaction open, so a rollback would undo a DROP INDEX.

    Python's sqlite3 module opens one only before the first INSERT, UPDATE or DELETE; a
    DDL statement before that would commit on its own.
    """
    return bool(getattr(connection.connection.driver_connection, "in_transaction", False))


def known_source_lines(connection: Connection, keys: list[tuple[int, str, str, str]]) -> set[int]:
    """Indices of (index, platform, post_id, source SHA-256) stored from identical bytes.

    What lets a re-import skip parsing the lines it has stored before. Any connection will
    do: a line it does not recognise is simply parsed and written, and the writer then finds
    the post unchanged.
    """
    wanted = {(platform, post_id): (index, digest) for index, platform, post_id, digest in keys}
    found: set[int] = set()
    for platform, rows in _lookup(connection, "post", "platform_id, source_sha256", wanted):
        for post_id, digest in rows:
            index, expected = wanted[(platform, post_id)]
            if digest == expected:
                found.add(index)
    return found


def _lookup(
    connection: Connection, table: str, columns: str, keys: Iterable[tuple[str, str]]
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Rows of `table` for (platform, platform_id) keys, a few statements per chunk."""
    by_platform: dict[str, list[str]] = {}
    for platform, platform_id in keys:
        by_platform.setdefault(platform, []).append(platform_id)
    sqlite = connection.dialect.name == "sqlite"
    for platform, ids in by_platform.items():
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start : start + LOOKUP_CHUNK]
            if sqlite:
                statement = (
                    f"SELECT {columns} FROM {table} WHERE platform = ? "
                    f"AND platform_id IN ({', '.join(['?'] * len(chunk))})"
                )
                parameters: tuple[Any, ...] = (platform, *chunk)
            else:
                # PostgreSQL turns "platform_id = ANY(...)" or a long IN list into a scan
                # of every row of the platform (quadratic over a large import); this
                # form is planned as one index probe per key whatever the statistics.
                statement = (
                    f"SELECT {columns} FROM {table} WHERE (platform, platform_id) IN "
                    "(SELECT %s, unnest(%s::varchar[]))"
                )
                parameters = (platform, chunk)
            result = connection.exec_driver_sql(statement, parameters)
            yield platform, result.fetchall()


@dataclass(frozen=True, slots=True)
class _Known:
    id: int
    content_sha256: str
    version: int


def _sqlite_literals(values: dict[str, Any]) -> dict[str, str]:
    """The values that can be written into an SQLite statement as they are: integers, NULL
    and text without NUL (a quote doubled is all SQLite's string syntax needs). Meant for the
    writer's own constants; anything else stays a bound parameter."""
    literals = {}
    for column, value in values.items():
        if value is None:
            literals[column] = "NULL"
        elif type(value) is int:
            literals[column] = str(value)
        elif type(value) is str and "\x00" not in value:
            literals[column] = "'" + value.replace("'", "''") + "'"
    return literals


class _Bulk:
    """Driver-level executemany and COPY for the few hot bulk statements.

    Compiling a Core INSERT and running every value through the type processors costs more
    than the database's own work, so these speak the driver's paramstyle directly; the values
    are already in storage form (`storage_time`, JSON text).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.placeholder = "?" if self.sqlite else "%s"
        self.driver = connection.connection.driver_connection
        # Bound parameters one SQLite statement may take (multi-row INSERTs stay within it).
        self.parameter_limit = (
            self.driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
            if self.sqlite
            else 0
        )

    def executemany(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.connection.exec_driver_sql(statement.replace("{p}", self.placeholder), rows)

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        conflict: Sequence[str] | None = None,
        multirow: bool = False,
        fixed: dict[str, Any] | None = None,
    ) -> None:
        """`multirow`: on SQLite, many rows per INSERT statement instead of one statement a
        row. Cheaper for narrow rows (the posts' links and hashtags: 9 against 13 us a post
        measured on 200,000 posts), not for wide ones, whose binding costs the same either way.

        `fixed`: columns with one value for every row (the writer's own: ingest time,
        collector, import batch). SQLite gets them once, in the statement, instead of bound
        on every row: 30,000 posts inserted three times took 7,800 fewer instructions a
        row (callgrind), about a twelfth of the insert.
        """
        if not rows:
            return
        fixed = fixed or {}
        literals = _sqlite_literals(fixed) if self.sqlite else {}
        bound = [column for column in fixed if column not in literals]
        extra = tuple(fixed[column] for column in bound)
        columns = (*columns, *bound)
        if not self.sqlite:
            # COPY is an order of magnitude faster than row-by-row INSERTs over the wire. It
            # cannot skip conflicts, but it needs not: the writer holds the advisory lock and
            # has already looked up every key it inserts.
            with self.driver.cursor() as cursor:  # type: ignore[union-attr]
                statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row + extra)
            return
        if extra:
            rows = [row + extra for row in rows]
        marks = ", ".join([self.placeholder] * len(columns))
        if literals:
            columns = (*columns, *literals)
            marks = ", ".join([marks, *literals.values()])
        if multirow and not conflict:
            self._insert_multirow(table, columns, rows, f"({marks})")
            return
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if conflict:
            statement += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        self.connection.exec_driver_sql(statement, rows)  # type: ignore[arg-type]

    def _insert_multirow(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], group: str
    ) -> None:
        per_statement = max(1, min(MULTIROW_MAX_ROWS, self.parameter_limit // len(columns)))
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        full = head + ", ".join([group] * per_statement)
        cursor = self.driver.cursor()  # type: ignore[union-attr]
        try:
            for start in range(0, len(rows), per_statement):
                part = rows[start : start + per_statement]
                statement = (
                    full if len(part) == per_statement else head + ", ".join([group] * len(part))
                )
                cursor.execute(statement, [value for row in part for value in row])
        finally:
            cursor.close()
