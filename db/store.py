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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

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
    inserted_ids: list[int] = field(default_factory=list)
    keep_inserted_ids: bool = False

    def write(self, posts: Sequence[Post]) -> WriteCounts:
        """Store a chunk of posts; the caller commits or rolls back."""
        counts = WriteCounts()
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
                rows = [
                    {
                        "platform": key[0],
                        "platform_id": key[1],
                        "handle": wanted[key].author.handle,
                        "display_name": wanted[key].author.display_name,
                        "created_at": wanted[key].author.created_at,
                        "first_seen": bounds[key][0],
                        "last_seen": bounds[key][1],
                    }
                    for key in absent
                ]
                statement = self._insert_ignore(_ACCOUNT, ["platform", "platform_id"])
                self.connection.execute(statement, rows)
                self._load_accounts(absent)
        self._refresh_accounts(wanted, bounds)
        return {key: self._accounts[key].id for key in wanted}

    def _load_accounts(self, keys: Sequence[tuple[str, str]]) -> None:
        by_platform: dict[str, list[str]] = {}
        for platform, platform_id in keys:
            by_platform.setdefault(platform, []).append(platform_id)
        for platform, ids in by_platform.items():
            for start in range(0, len(ids), LOOKUP_CHUNK):
                chunk = ids[start : start + LOOKUP_CHUNK]
                rows = self.connection.execute(
                    select(
                        _ACCOUNT.c.id,
                        _ACCOUNT.c.platform_id,
                        _ACCOUNT.c.handle,
                        _ACCOUNT.c.display_name,
                        _ACCOUNT.c.created_at,
                        _ACCOUNT.c.first_seen,
                        _ACCOUNT.c.last_seen,
                    ).where(_ACCOUNT.c.platform == platform, _ACCOUNT.c.platform_id.in_(chunk))
                )
                for row in rows:
                    self._remember(
                        (platform, row.platform_id),
                        _CachedAccount(
                            row.id,
                            row.handle,
                            row.display_name,
                            row.created_at,
                            row.first_seen,
                            row.last_seen,
                        ),
                    )

    def _remember(self, key: tuple[str, str], account: _CachedAccount) -> None:
        self._accounts[key] = account
        self._accounts.move_to_end(key)
        if len(self._accounts) > ACCOUNT_CACHE_LIMIT:
            self._accounts.popitem(last=False)

    def _refresh_accounts(
        self,
        wanted: dict[tuple[str, str], Post],
        bounds: dict[tuple[str, str], tuple[datetime, datetime]],
    ) -> None:
        """Move first/last seen and pick up new handles; one UPDATE per changed account."""
        updates = []
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
                updates.append(
                    {
                        "b_id": cached.id,
                        "handle": cached.handle,
                        "display_name": cached.display_name,
                        "created_at": cached.created_at,
                        "first_seen": cached.first_seen,
                        "last_seen": cached.last_seen,
                    }
                )
        if updates:
            self.connection.execute(
                update(_ACCOUNT).where(_ACCOUNT.c.id == bindparam("b_id")),
                updates,
            )

    # -- posts --------------------------------------------------------------------------

    def _insert_ignore(self, table: Table, conflict_columns: list[str]) -> Any:
        dialect = self.connection.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
        if dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
        return insert(table)

    def _existing_posts(self, posts: Sequence[Post]) -> dict[tuple[str, str], Any]:
        by_platform: dict[str, list[str]] = {}
        for post in posts:
            by_platform.setdefault(post.platform, []).append(post.post_id)
        found: dict[tuple[str, str], Any] = {}
        for platform, ids in by_platform.items():
            for start in range(0, len(ids), LOOKUP_CHUNK):
                chunk = ids[start : start + LOOKUP_CHUNK]
                rows = self.connection.execute(
                    select(
                        _POST.c.id, _POST.c.platform_id, _POST.c.content_sha256, _POST.c.version
                    ).where(_POST.c.platform == platform, _POST.c.platform_id.in_(chunk))
                )
                for row in rows:
                    found[(platform, row.platform_id)] = row
        return found

    def _post_row(self, post: Post, account_id: int) -> dict[str, Any]:
        provenance = dict(self.provenance or {})
        extra_provenance = post.extra.get("provenance") if post.extra else None
        if isinstance(extra_provenance, dict):
            provenance.update(extra_provenance)
        return {
            "platform": post.platform,
            "platform_id": post.post_id,
            "evidence_id": post.evidence_id,
            "account_id": account_id,
            "author_handle": post.author.handle,
            "author_display_name": post.author.display_name,
            "created_at": post.created_at,
            "collected_at": post.collected_at or self.now,
            "ingested_at": self.now,
            # PostgreSQL text cannot hold NUL; the raw payload keeps it (escaped in JSON).
            "text": post.text.replace("\x00", "\ufffd"),
            "lang": post.lang,
            "url": post.url,
            "reply_to": post.reply_to,
            "repost_of": post.repost_of,
            "quote_of": post.quote_of,
            "raw": post.raw,
            "raw_sha256": post.raw_sha256,
            "content_sha256": post.content_sha256(),
            "version": 1,
            "collector": self.collector,
            "source_name": self.source_name,
            "import_batch_id": self.import_batch_id,
            "collection_run_id": self.collection_run_id,
            "provenance": provenance or None,
        }

    def _write_unique(self, posts: list[Post]) -> WriteCounts:
        counts = WriteCounts()
        existing = self._existing_posts(posts)
        fresh: list[Post] = []
        edited: list[tuple[Post, Any]] = []
        for post in posts:
            row = existing.get((post.platform, post.post_id))
            if row is None:
                fresh.append(post)
            elif row.content_sha256 != post.content_sha256():
                edited.append((post, row))
            else:
                counts.known += 1
        if not fresh and not edited:
            return counts
        account_ids = self._account_ids([*fresh, *(p for p, _ in edited)])
        if fresh:
            rows = [self._post_row(p, account_ids[(p.author.platform, p.author.id)]) for p in fresh]
            result = self.connection.execute(
                self._insert_ignore(_POST, ["platform", "platform_id"]).returning(
                    _POST.c.id, _POST.c.platform, _POST.c.platform_id
                ),
                rows,
            )
            new_ids = {(r.platform, r.platform_id): r.id for r in result}
            # A post another writer stored a moment ago is not ours to count as new.
            counts.known += len(fresh) - len(new_ids)
            counts.inserted += len(new_ids)
            stored = [
                (p, new_ids[(p.platform, p.post_id)])
                for p in fresh
                if (p.platform, p.post_id) in new_ids
            ]
            self._write_children(stored)
            if self.keep_inserted_ids:
                self.inserted_ids.extend(new_ids.values())
        if edited:
            self._write_edits(edited, account_ids)
            counts.updated += len(edited)
        return counts

    def _write_edits(
        self, edited: list[tuple[Post, Any]], account_ids: dict[tuple[str, str], int]
    ) -> None:
        post_ids = [row.id for _, row in edited]
        columns = [
            _POST.c.id,
            _POST.c.version,
            _POST.c.text,
            _POST.c.raw,
            _POST.c.raw_sha256,
            _POST.c.content_sha256,
            _POST.c.collected_at,
            _POST.c.collector,
            _POST.c.import_batch_id,
            _POST.c.collection_run_id,
        ]
        current = {
            r.id: r
            for r in self.connection.execute(select(*columns).where(_POST.c.id.in_(post_ids)))
        }
        archive = [
            {
                "post_id": old.id,
                "version": old.version,
                "text": old.text,
                "raw": old.raw,
                "raw_sha256": old.raw_sha256,
                "content_sha256": old.content_sha256,
                "collected_at": old.collected_at,
                "superseded_at": self.now,
                "collector": old.collector,
                "import_batch_id": old.import_batch_id,
                "collection_run_id": old.collection_run_id,
            }
            for old in current.values()
        ]
        self.connection.execute(insert(_VERSION), archive)
        updates = []
        for post, row in edited:
            values = self._post_row(post, account_ids[(post.author.platform, post.author.id)])
            values["version"] = current[row.id].version + 1
            for key in ("platform", "platform_id", "evidence_id"):
                values.pop(key)
            values["b_id"] = row.id
            updates.append(values)
        self.connection.execute(update(_POST).where(_POST.c.id == bindparam("b_id")), updates)
        for table in (_LINK, _HASHTAG, _TAG):
            self.connection.execute(delete(table).where(table.c.post_id.in_(post_ids)))
        self._write_children([(post, row.id) for post, row in edited])

    def _write_children(self, stored: Iterable[tuple[Post, int]]) -> None:
        links: list[dict[str, Any]] = []
        hashtags: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        for post, post_id in stored:
            for position, url in enumerate(post.links):
                normalized = normalize_url(url)
                links.append(
                    {
                        "post_id": post_id,
                        "position": position,
                        "url": url,
                        "normalized_url": normalized,
                        "domain": url_domain(normalized),
                    }
                )
            for position, tag in enumerate(post.hashtags):
                hashtags.append({"post_id": post_id, "position": position, "tag": tag})
            for position, handle in enumerate(post.mentions):
                tags.append({"post_id": post_id, "position": position, "handle": handle})
        if links:
            self.connection.execute(insert(_LINK), links)
        if hashtags:
            self.connection.execute(insert(_HASHTAG), hashtags)
        if tags:
            self.connection.execute(insert(_TAG), tags)
