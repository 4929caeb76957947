"""Bulk, idempotent writing of `Post` records.

`PostWriter` works inside a transaction the caller owns: an import commits once per file, a
collector once per page together with its cursor, so a crash leaves either all or nothing of a
unit of work. Per chunk it does a constant number of statements (look up known accounts and
posts, insert the new ones, archive edited versions), never one round trip per post, which is
what keeps a million-post import linear and fast on both SQLite and PostgreSQL.

Identity is `(platform, post_id)`. A post seen again with the same content is counted as
known and left untouched; with different content (an edit) the stored version is copied to
`post_version` and the post row takes the new one. Content means what a reader sees (text,
links, tags, targets), so a changed like-count in the raw payload is not taken for an edit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from collector.post import Post, normalize_url, url_domain
from db import models

__all__ = ["PostWriter", "WriteCounts"]

_POST = models.Post.__table__
_ACCOUNT = models.Account.__table__
_VERSION = models.PostVersion.__table__
_LINK = models.PostLink.__table__
_HASHTAG = models.PostHashtag.__table__
_TAG = models.PostTag.__table__

# Enough to keep the statement count low, small enough to stay within SQLite's bound-parameter
# limit in one multi-row INSERT and to keep memory flat.
LOOKUP_CHUNK = 900
ACCOUNT_CACHE_LIMIT = 200_000


@dataclass
class WriteCounts:
    inserted: int = 0
    known: int = 0
    updated: int = 0

    def add(self, other: WriteCounts) -> None:
        self.inserted += other.inserted
        self.known += other.known
        self.updated += other.updated


@dataclass
class _CachedAccount:
    id: int
    handle: str | None
    display_name: str | None
    created_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    dirty: bool = False


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
    _accounts: OrderedDict[tuple[str, str], _CachedAccount] = field(default_factory=OrderedDict)
    # The posts the last write() stored or replaced (new and edited), with their row ids,
    # for steps that derive rows from them in the same transaction (defender mentions).
    last_stored: list[tuple[Post, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._bulk = _Bulk(self.connection)
        self._now = self._bulk.time(self.now)
        self._provenance = self._bulk.json(self.provenance) if self.provenance else None
        if not self._bulk.sqlite:
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
        counts = WriteCounts()
        self.last_stored = []
        batch: dict[tuple[str, str], Post] = {}
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

    # -- accounts -----------------------------------------------------------------------

    def _account_ids(self, posts: Sequence[Post]) -> dict[tuple[str, str], int]:
        wanted: dict[tuple[str, str], Post] = {}
        bounds: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        for post in posts:
            key = (post.author.platform, post.author.id)
            previous = wanted.get(key)
            # The latest post carries the freshest handle and display name.
            if previous is None or post.created_at >= previous.created_at:
                wanted[key] = post
            low, high = bounds.get(key, (post.created_at, post.created_at))
            bounds[key] = (min(low, post.created_at), max(high, post.created_at))
        missing = [key for key in wanted if key not in self._accounts]
        if missing:
            self._load_accounts(missing)
            absent = [key for key in missing if key not in self._accounts]
            if absent:
                time = self._bulk.time
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
                            wanted[key].author.handle,
                            wanted[key].author.display_name,
                            time(wanted[key].author.created_at),
                            time(bounds[key][0]),
                            time(bounds[key][1]),
                        )
                        for key in absent
                    ],
                    conflict=("platform", "platform_id"),
                )
                self._load_accounts(absent)
        self._refresh_accounts(wanted, bounds)
        return {key: self._accounts[key].id for key in wanted}

    def _load_accounts(self, keys: Sequence[tuple[str, str]]) -> None:
        columns = "id, platform_id, handle, display_name, created_at, first_seen, last_seen"
        for platform, rows in self._lookup("account", columns, keys):
            load = self._bulk.load_time
            for row in rows:
                self._remember(
                    (platform, row[1]),
                    _CachedAccount(
                        row[0], row[2], row[3], load(row[4]), load(row[5]), load(row[6])
                    ),
                )

    def _lookup(
        self, table: str, columns: str, keys: Iterable[tuple[str, str]]
    ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """Rows of `table` for (platform, platform_id) keys, a few statements per chunk."""
        by_platform: dict[str, list[str]] = {}
        for platform, platform_id in keys:
            by_platform.setdefault(platform, []).append(platform_id)
        mark = self._bulk.placeholder
        for platform, ids in by_platform.items():
            for start in range(0, len(ids), LOOKUP_CHUNK):
                chunk = ids[start : start + LOOKUP_CHUNK]
                if self._bulk.sqlite:
                    statement = (
                        f"SELECT {columns} FROM {table} WHERE platform = {mark} "
                        f"AND platform_id IN ({', '.join([mark] * len(chunk))})"
                    )
                    parameters: tuple[Any, ...] = (platform, *chunk)
                else:
                    # PostgreSQL turns "platform_id = ANY(...)" or a long IN list into a scan
                    # of every row of the platform (quadratic over a large import); this
                    # form is planned as one index probe per key whatever the statistics.
                    statement = (
                        f"SELECT {columns} FROM {table} WHERE (platform, platform_id) IN "
                        f"(SELECT {mark}, unnest({mark}::varchar[]))"
                    )
                    parameters = (platform, chunk)
                result = self.connection.exec_driver_sql(statement, parameters)
                yield platform, result.fetchall()

    def _remember(self, key: tuple[str, str], account: _CachedAccount) -> None:
        self._accounts[key] = account
        self._accounts.move_to_end(key)
        if len(self._accounts) > ACCOUNT_CACHE_LIMIT:
            _, evicted = self._accounts.popitem(last=False)
            if evicted.dirty:
                self._flush_accounts([evicted])

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
                (
                    a.handle,
                    a.display_name,
                    self._bulk.time(a.created_at),
                    self._bulk.time(a.first_seen),
                    self._bulk.time(a.last_seen),
                    a.id,
                )
                for a in accounts
            ],
        )
        for account in accounts:
            account.dirty = False

    def _refresh_accounts(
        self,
        wanted: dict[tuple[str, str], Post],
        bounds: dict[tuple[str, str], tuple[datetime, datetime]],
    ) -> None:
        """Move first/last seen and pick up new handles."""
        for key, latest in wanted.items():
            cached = self._accounts[key]
            low, high = bounds[key]
            changed = False
            if low < cached.first_seen:
                cached.first_seen, changed = low, True
            if high > cached.last_seen:
                cached.last_seen, changed = high, True
                # Only a newer post may rename the account: an old export must not undo it.
                if latest.author.handle and latest.author.handle != cached.handle:
                    cached.handle, changed = latest.author.handle, True
                if latest.author.display_name and latest.author.display_name != cached.display_name:
                    cached.display_name, changed = latest.author.display_name, True
            if latest.author.created_at and cached.created_at is None:
                cached.created_at, changed = latest.author.created_at, True
            if changed:
                # Held back and written once by finish(): an account active all through a
                # large import would otherwise be updated once per chunk.
                cached.dirty = True

    # -- posts --------------------------------------------------------------------------

    def _existing_posts(self, posts: Iterable[Post]) -> dict[tuple[str, str], Any]:
        """Known posts by key: (id, content_sha256, version)."""
        found: dict[tuple[str, str], Any] = {}
        columns = "platform_id, id, content_sha256, version"
        keys = ((p.platform, p.post_id) for p in posts)
        for platform, rows in self._lookup("post", columns, keys):
            for row in rows:
                found[(platform, row[0])] = _Known(row[1], row[2], row[3])
        return found

    def known_lines(self, keys: list[tuple[int, str, str, str]]) -> set[int]:
        """Indices of (index, platform, post_id, source SHA-256) stored from identical bytes."""
        wanted = {(platform, post_id): (index, digest) for index, platform, post_id, digest in keys}
        found: set[int] = set()
        for platform, rows in self._lookup("post", "platform_id, source_sha256", wanted):
            for post_id, digest in rows:
                index, expected = wanted[(platform, post_id)]
                if digest == expected:
                    found.add(index)
        return found

    def _post_values(self, post: Post, account_id: int, content_sha256: str) -> tuple[Any, ...]:
        """Values for POST_COLUMNS[2:] (everything but platform and platform_id)."""
        time = self._bulk.time
        provenance = self._provenance
        extra = post.extra.get("provenance") if post.extra else None
        if isinstance(extra, dict):
            provenance = self._bulk.json({**(self.provenance or {}), **extra})
        return (
            post.evidence_id,
            account_id,
            post.author.handle,
            post.author.display_name,
            time(post.created_at),
            time(post.collected_at or self.now),
            self._now,
            # PostgreSQL text cannot hold NUL; the raw payload keeps it (escaped in JSON).
            post.text.replace("\x00", "\ufffd"),
            post.lang,
            post.url,
            post.reply_to,
            post.repost_of,
            post.quote_of,
            post.raw,
            post.raw_sha256,
            content_sha256,
            post.extra.get("source_sha256") if post.extra else None,
            1,
            self.collector,
            self.source_name,
            self.import_batch_id,
            self.collection_run_id,
            provenance,
        )

    def _write_unique(self, posts: list[Post]) -> WriteCounts:
        counts = WriteCounts()
        existing = self._existing_posts(posts)
        fresh: list[tuple[Post, str]] = []
        edited: list[tuple[Post, str, Any]] = []
        for post in posts:
            content = post.content_sha256()
            row = existing.get((post.platform, post.post_id))
            if row is None:
                fresh.append((post, content))
            elif row.content_sha256 != content:
                edited.append((post, content, row))
            else:
                counts.known += 1
        if not fresh and not edited:
            return counts
        account_ids = self._account_ids([p for p, _ in fresh] + [p for p, _, _ in edited])
        if fresh:
            self._bulk.insert(
                "post",
                POST_COLUMNS,
                [
                    (p.platform, p.post_id)
                    + self._post_values(p, account_ids[(p.author.platform, p.author.id)], c)
                    for p, c in fresh
                ],
                conflict=("platform", "platform_id"),
            )
            # Read the ids back by key rather than with RETURNING: driver-level executemany
            # cannot return rows, and it is several times faster than a compiled INSERT.
            stored = self._existing_posts([p for p, _ in fresh])
            new_ids: list[tuple[Post, int]] = []
            for post, content in fresh:
                row = stored.get((post.platform, post.post_id))
                if row is not None and row.content_sha256 == content and row.version == 1:
                    new_ids.append((post, row.id))
            counts.inserted += len(new_ids)
            counts.known += len(fresh) - len(new_ids)
            self._write_children(new_ids)
            self.last_stored.extend(new_ids)
        if edited:
            self._write_edits(edited, account_ids)
            counts.updated += len(edited)
            self.last_stored.extend((post, row.id) for post, _, row in edited)
        return counts

    def _write_edits(
        self, edited: list[tuple[Post, str, Any]], account_ids: dict[tuple[str, str], int]
    ) -> None:
        post_ids = [row.id for _, _, row in edited]
        columns = [
            _POST.c.id, _POST.c.version, _POST.c.text, _POST.c.raw, _POST.c.raw_sha256,
            _POST.c.content_sha256, _POST.c.collected_at, _POST.c.collector,
            _POST.c.import_batch_id, _POST.c.collection_run_id,
        ]  # fmt: skip
        current = {
            r.id: r
            for r in self.connection.execute(select(*columns).where(_POST.c.id.in_(post_ids)))
        }
        time = self._bulk.time
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
                    time(old.collected_at),
                    self._now,
                    old.collector,
                    old.import_batch_id,
                    old.collection_run_id,
                )
                for old in current.values()
            ],
        )
        assignments = ", ".join(f"{column} = {{p}}" for column in POST_COLUMNS[2:])
        rows = []
        for post, content, row in edited:
            values = list(
                self._post_values(
                    post, account_ids[(post.author.platform, post.author.id)], content
                )
            )
            values[POST_COLUMNS.index("version") - 2] = current[row.id].version + 1
            rows.append((*values, row.id))
        self._bulk.executemany(f"UPDATE post SET {assignments} WHERE id = {{p}}", rows)
        for table in (_LINK, _HASHTAG, _TAG):
            self.connection.execute(delete(table).where(table.c.post_id.in_(post_ids)))
        self._write_children([(post, row.id) for post, _, row in edited])

    def _write_children(self, stored: Iterable[tuple[Post, int]]) -> None:
        links: list[tuple[Any, ...]] = []
        hashtags: list[tuple[Any, ...]] = []
        tags: list[tuple[Any, ...]] = []
        for post, post_id in stored:
            for position, url in enumerate(post.links):
                normalized = normalize_url(url)
                links.append((post_id, position, url, normalized, url_domain(normalized)))
            for position, tag in enumerate(post.hashtags):
                hashtags.append((post_id, position, tag))
            for position, handle in enumerate(post.mentions):
                tags.append((post_id, position, handle))
        self._bulk.insert(
            "post_link", ("post_id", "position", "url", "normalized_url", "domain"), links
        )
        self._bulk.insert("post_hashtag", ("post_id", "position", "tag"), hashtags)
        self._bulk.insert("post_tag", ("post_id", "position", "handle"), tags)


POST_COLUMNS = (
    "platform", "platform_id", "evidence_id", "account_id", "author_handle",
    "author_display_name", "created_at", "collected_at", "ingested_at", "text", "lang", "url",
    "reply_to", "repost_of", "quote_of", "raw", "raw_sha256", "content_sha256", "source_sha256",
    "version",
    "collector", "source_name", "import_batch_id", "collection_run_id", "provenance",
)  # fmt: skip
VERSION_COLUMNS = (
    "post_id", "version", "text", "raw", "raw_sha256", "content_sha256", "collected_at",
    "superseded_at", "collector", "import_batch_id", "collection_run_id",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Known:
    id: int
    content_sha256: str
    version: int


class _Bulk:
    """Driver-level executemany with the value conversions SQLAlchemy's types would do.

    Compiling a Core INSERT and running every value through the type processors costs more
    than the database's own work; for the few hot bulk statements we speak the driver's
    paramstyle directly and convert times and JSON the way the column types store them.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.placeholder = "?" if self.sqlite else "%s"

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if self.sqlite:
            # The storage format of SQLAlchemy's SQLite DateTime, naive UTC.
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def load_time(self, value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value.astimezone(UTC) if value is not None else None
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def json(self, value: Any) -> Any:
        if value is None:
            return None
        text = orjson.dumps(value).decode("utf-8")
        if self.sqlite:
            return text
        from psycopg.types.json import Json

        return Json(value, dumps=lambda _v: text)

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
    ) -> None:
        if not rows:
            return
        if not self.sqlite:
            # COPY is an order of magnitude faster than row-by-row INSERTs over the wire. It
            # cannot skip conflicts, but it needs not: the writer holds the advisory lock and
            # has already looked up every key it inserts.
            driver = self.connection.connection.driver_connection
            with driver.cursor() as cursor:  # type: ignore[union-attr]
                statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
            return
        marks = ", ".join([self.placeholder] * len(columns))
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if conflict:
            statement += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        self.connection.exec_driver_sql(statement, rows)  # type: ignore[arg-type]
