"""Re-reading recent posts: edits become versions, deletions tombstones.

A post is evidence at the moment it was seen, but a smear is often edited or deleted once it has
done its work. After each collection pass, every source whose collector can look its posts up
again (`Collector.supports_recheck`) is handed its stored posts younger than its `recheck`
horizon (default 48 h), newest first and at most `recheck_max_posts`, not yet known deleted.
Each `RecheckResult` the collector yields is one transaction:

* the re-read posts go through the ordinary `PostWriter`, so an unchanged post stays as it is
  and an edited one gets a new version with the stored one archived in `post_version`;
* the mention hooks see every re-read post, but the collect filter's choice is not applied: an
  edit that removed a defender's name is evidence too;
* the posts shown to be gone are marked deleted (`db.store.mark_deleted`), never removed.

Cursors are not touched. A failing recheck is reported on the source's run (status "partial")
and never stops the other sources.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from collector.base import Collector, RecheckResult, StoredPost
from collector.post import Post
from db import models
from db.store import PostWriter, mark_deleted

if TYPE_CHECKING:
    from smearwatch.collect import AfterWrite, BeforeWrite, SourceSummary

__all__ = ["recent_posts", "recheck_source"]

log = logging.getLogger(__name__)

_POST = models.Post.__table__


def recent_posts(
    engine: Engine, *, source_name: str, platform: str, since: datetime, limit: int
) -> list[StoredPost]:
    """The source's stored posts created since `since`, not deleted, newest first."""
    query = (
        select(_POST.c.platform_id, _POST.c.created_at, _POST.c.url, _POST.c.raw, _POST.c.reply_to)
        .where(
            _POST.c.platform == platform,
            _POST.c.source_name == source_name,
            _POST.c.created_at >= since,
            _POST.c.deleted_at.is_(None),
        )
        .order_by(_POST.c.created_at.desc(), _POST.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [
            StoredPost(row.platform_id, row.created_at, row.url, row.raw, row.reply_to)
            for row in connection.execute(query)
        ]


def recheck_source(
    engine: Engine,
    collector: Collector,
    summary: SourceSummary,
    clock: Callable[[], datetime],
    before_write: BeforeWrite | None = None,
    after_write: AfterWrite | None = None,
    prepare: Callable[[Post], Post] = lambda post: post,
) -> None:
    """Re-read the source's recent posts and store what changed; raises what `recheck` raises
    (after the healthy results were committed). `prepare` is applied to each re-read post
    before it is written (the collect pass moves the collector's extras into provenance)."""
    horizon: timedelta | None = collector.config.get("recheck")
    if not collector.supports_recheck or not horizon:
        return
    stored = recent_posts(
        engine,
        source_name=summary.name,
        platform=collector.platform,
        since=clock() - horizon,
        limit=collector.config["recheck_max_posts"],
    )
    if not stored:
        return
    summary.rechecked += len(stored)
    for result in collector.recheck(stored):
        _store_result(engine, collector, result, summary, clock, before_write, after_write, prepare)


def _store_result(
    engine: Engine,
    collector: Collector,
    result: RecheckResult,
    summary: SourceSummary,
    clock: Callable[[], datetime],
    before_write: BeforeWrite | None,
    after_write: AfterWrite | None,
    prepare: Callable[[Post], Post],
) -> None:
    now = clock()
    provenance = {
        "method": "recheck",
        "source": summary.name,
        "collector": collector.collector_id,
        "request_url": result.request_url,
        "status": result.status,
        "fetched_at": result.fetched_at.astimezone(UTC).isoformat(),
    }
    with engine.begin() as connection:
        posts = list(result.posts)
        if posts:
            if before_write is not None:
                before_write(connection, posts)  # the hooks see the posts; all are kept
            writer = PostWriter(
                connection,
                collector=collector.collector_id,
                now=now,
                source_name=summary.name,
                collection_run_id=summary.run_id,
                provenance=provenance,
            )
            counts = writer.write([prepare(p) for p in posts])
            if after_write is not None:
                after_write(connection, writer, posts)
            writer.finish()
            summary.updated += counts.updated
        if result.deleted:
            deletion = {**provenance, "run_id": summary.run_id}
            marked = mark_deleted(
                connection, collector.platform, result.deleted, when=now, deletion=deletion
            )
            summary.deleted += marked
