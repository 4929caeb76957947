"""One collection pass: every enabled source, page by page, exactly once.

The guarantees, and how they are kept:

* **No post lost, none duplicated, even under `kill -9`.** A collector yields `Page`s, each with
  the complete cursor to store once its posts are stored. Each page is one transaction: its
  posts, their links/hashtags/tags, the hooks' rows (mentions) and the source's cursor commit
  together or not at all. A process killed mid-page loses that page's transaction; the next
  run resumes from the last committed cursor and reads the page again, and the store's
  identity on `(platform, post_id)` absorbs any overlap.
* **One failing source never stops the others.** Every source runs inside its own error
  boundary; its `collection_run` row records status, counts and a message an operator can act
  on (never a token: `CollectorError` messages are built to be safe, and for unexpected errors
  only the exception type and code location are stored, the details go to the log).
* **A run is visible while it runs.** The `collection_run` row is committed as "running"
  before the first request, and its counts move in each page's transaction, so a killed run
  shows how far it got. The next run of the same source marks such leftovers "interrupted".

Hooks let the caller decide what is kept and what is derived without this module knowing
about defenders: `before_write(connection, posts)` returns the posts to store (the
keep-only-relevant filter goes there) and `after_write(connection, writer, posts)` runs after
they are written, before the commit (mention matching goes there; `writer.last_stored` holds
the new rows' ids).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from collector import build_collector
from collector.base import Collector, CollectorContext, Page, utc_now
from collector.errors import CollectorError, PartialFailure
from collector.http import HttpClient, HttpPolicy
from collector.post import Post
from db import models
from db.store import PostWriter
from smearwatch.config import Config, ConfigError, SourceConfig
from smearwatch.recheck import recheck_source
from smearwatch.search_terms import search_terms_provider

__all__ = [
    "AfterWrite",
    "BeforeWrite",
    "SourceSummary",
    "collect",
    "select_sources",
]

log = logging.getLogger(__name__)

_SOURCE = models.Source.__table__
_RUN = models.CollectionRun.__table__

BeforeWrite = Callable[[Connection, list[Post]], list[Post]]
AfterWrite = Callable[[Connection, PostWriter, list[Post]], None]

#: Keys every post's provenance gets from its page; a collector's own per-post extras (the
#: channel, the feed, the query that found it, view counts) are stored beside them.
_PAGE_KEYS = frozenset({"method", "source", "collector", "request_url", "status", "fetched_at"})
MAX_ERROR_CHARS = 2000


@dataclass
class SourceSummary:
    """What one source's pass did; also what the progress callback is shown."""

    name: str
    platform: str
    status: str = "pending"  # pending, running, ok, partial, failed
    run_id: int | None = None
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    known: int = 0
    updated: int = 0
    rechecked: int = 0  # recent stored posts handed to the recheck
    deleted: int = 0  # of them, found deleted (now tombstones)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "partial", "interrupted")

    def line(self) -> str:
        text = (
            f"{self.name} ({self.platform}): {self.status}; fetched {self.fetched:,}, "
            f"inserted {self.inserted:,}, already known {self.known:,}"
        )
        if self.updated:
            text += f", edited {self.updated:,}"
        if self.rechecked:
            text += f"; re-read {self.rechecked:,} recent, {self.deleted:,} found deleted"
        if self.error:
            text += f"; error: {self.error}"
        return text


Progress = Callable[[SourceSummary], None]


def select_sources(config: Config, names: Sequence[str] | None = None) -> list[SourceConfig]:
    """The sources a pass covers: every enabled one, or exactly the named ones.

    Raises:
        ConfigError: an unknown or disabled source was named.
    """
    if not names:
        return [s for s in config.sources if s.enabled]
    chosen: list[SourceConfig] = []
    for name in dict.fromkeys(names):
        source = config.source(name)
        if not source.enabled:
            raise ConfigError(
                f"source {name!r} is disabled (enabled = false in the config); enable it first"
            )
        chosen.append(source)
    return chosen


def collect(
    engine: Engine,
    config: Config,
    *,
    source_names: Sequence[str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    http_policy: HttpPolicy | None = None,
    progress: Progress | None = None,
    before_write: BeforeWrite | None = None,
    after_write: AfterWrite | None = None,
    env: Mapping[str, str] | None = None,
) -> list[SourceSummary]:
    """Run one pass over the configured sources and return a summary per source.

    Never raises for a failing source (see the summaries); raises `ConfigError` for unknown
    source names before anything is fetched, and lets `KeyboardInterrupt` through after
    marking the current run "interrupted".
    """
    sources = select_sources(config, source_names)
    summaries = [SourceSummary(s.name, s.platform) for s in sources]
    http = HttpClient(http_policy or config.http_policy())
    context = CollectorContext(
        http=http,
        defenders=config.defenders,
        env=os.environ if env is None else env,
        now=clock,
        # Default search queries/hashtags: every inflected form of the names, worked out here
        # because collectors may not import the matcher (computed on first use only).
        search_terms=search_terms_provider(config.defenders),
    )
    try:
        for source, summary in zip(sources, summaries, strict=True):
            _collect_source(
                engine, source, summary, context, clock, progress, before_write, after_write
            )
    finally:
        http.close()
    return summaries


def _collect_source(
    engine: Engine,
    source: SourceConfig,
    summary: SourceSummary,
    context: CollectorContext,
    clock: Callable[[], datetime],
    progress: Progress | None,
    before_write: BeforeWrite | None,
    after_write: AfterWrite | None,
) -> None:
    def report() -> None:
        if progress is not None:
            progress(summary)

    source_id, cursor = _open_run(engine, source, summary, clock())
    report()
    collector = None
    try:
        collector = build_collector(source.table, context)
        since = clock() - timedelta(seconds=source.backfill_seconds)
        for page in collector.fetch(cursor, since=since):
            _store_page(
                engine, source_id, collector.collector_id, page, summary, clock,
                before_write, after_write,
            )  # fmt: skip
            report()
    except PartialFailure as exc:
        summary.status, summary.error = "partial", exc.message
    except CollectorError as exc:
        summary.status, summary.error = "failed", exc.message
    except (KeyboardInterrupt, SystemExit):
        summary.status, summary.error = "interrupted", "interrupted by the operator"
        _close_run(engine, summary, clock())
        report()
        raise
    except Exception as exc:  # noqa: BLE001 - the error boundary of one source
        log.exception("source %r: unexpected error", source.name)
        summary.status, summary.error = "failed", _describe_unexpected(exc)
    else:
        summary.status = "ok"
    if collector is not None and summary.status in ("ok", "partial"):
        _recheck(engine, collector, summary, clock, before_write, after_write)
    if summary.error:
        log.warning("source %r: %s: %s", source.name, summary.status, summary.error)
    _close_run(engine, summary, clock())
    report()


def _recheck(
    engine: Engine,
    collector: Collector,
    summary: SourceSummary,
    clock: Callable[[], datetime],
    before_write: BeforeWrite | None,
    after_write: AfterWrite | None,
) -> None:
    """Re-read the source's recent posts (smearwatch.recheck) inside the source's error
    boundary: a failure makes the run "partial" and says so, the new posts stay committed."""
    try:
        recheck_source(
            engine, collector, summary, clock, before_write, after_write, _with_provenance
        )
    except (KeyboardInterrupt, SystemExit):
        summary.status, summary.error = "interrupted", "interrupted by the operator"
        _close_run(engine, summary, clock())
        raise
    except CollectorError as exc:
        _recheck_failed(summary, exc.message)
    except Exception as exc:  # noqa: BLE001 - the error boundary of one source
        log.exception("source %r: unexpected error while re-reading recent posts", summary.name)
        _recheck_failed(summary, _describe_unexpected(exc))


def _recheck_failed(summary: SourceSummary, message: str) -> None:
    summary.status = "partial"
    text = f"re-reading recent posts: {message}"
    summary.error = f"{summary.error}; {text}" if summary.error else text


def _open_run(
    engine: Engine, source: SourceConfig, summary: SourceSummary, now: datetime
) -> tuple[int, dict[str, Any] | None]:
    """Get or create the `source` row and commit a "running" `collection_run` for it."""
    with engine.begin() as connection:
        row = connection.execute(
            select(_SOURCE.c.id, _SOURCE.c.platform, _SOURCE.c.cursor).where(
                _SOURCE.c.name == source.name
            )
        ).first()
        if row is None:
            source_id = connection.execute(
                insert(_SOURCE).returning(_SOURCE.c.id),
                {
                    "name": source.name,
                    "platform": source.platform,
                    "cursor": None,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
            cursor = None
        else:
            source_id, cursor = row.id, row.cursor
            if row.platform != source.platform:
                # The stored cursor belongs to another collector: start afresh rather than
                # hand it a cursor it cannot read. Already stored posts stay.
                log.warning(
                    "source %r changed platform from %s to %s; its cursor starts afresh",
                    source.name,
                    row.platform,
                    source.platform,
                )
                connection.execute(
                    update(_SOURCE)
                    .where(_SOURCE.c.id == source_id)
                    .values(platform=source.platform, cursor=None, updated_at=now)
                )
                cursor = None
            # A run still "running" was killed (one pass per source at a time is the rule
            # the daemon keeps); say so instead of leaving it running forever.
            connection.execute(
                update(_RUN)
                .where(_RUN.c.source_id == source_id, _RUN.c.status == "running")
                .values(
                    status="interrupted",
                    error="the process stopped before the run finished",
                )
            )
        summary.run_id = connection.execute(
            insert(_RUN).returning(_RUN.c.id),
            {
                "source_id": source_id,
                "started_at": now,
                "status": "running",
                "fetched": 0,
                "inserted": 0,
            },
        ).scalar_one()
    summary.status = "running"
    return source_id, cursor


def _store_page(
    engine: Engine,
    source_id: int,
    collector_id: str,
    page: Page,
    summary: SourceSummary,
    clock: Callable[[], datetime],
    before_write: BeforeWrite | None,
    after_write: AfterWrite | None,
) -> None:
    """One page in one transaction: its posts, the hooks' work, the cursor and the counts."""
    now = clock()
    with engine.begin() as connection:
        posts = list(page.posts)
        fetched = len(posts)
        if before_write is not None and posts:
            posts = before_write(connection, posts)
        writer = PostWriter(
            connection,
            collector=collector_id,
            now=now,
            source_name=summary.name,
            collection_run_id=summary.run_id,
            provenance={
                "method": "collect",
                "source": summary.name,
                "collector": collector_id,
                "request_url": page.request_url,
                "status": page.status,
                "fetched_at": page.fetched_at.astimezone(UTC).isoformat(),
            },
        )
        counts = writer.write([_with_provenance(p) for p in posts])
        if after_write is not None:
            after_write(connection, writer, posts)
        writer.finish()
        connection.execute(
            update(_SOURCE)
            .where(_SOURCE.c.id == source_id)
            .values(cursor=page.cursor, updated_at=now)
        )
        connection.execute(
            update(_RUN)
            .where(_RUN.c.id == summary.run_id)
            .values(
                fetched=summary.fetched + fetched,
                inserted=summary.inserted + counts.inserted,
            )
        )
    summary.pages += 1
    summary.fetched += fetched
    summary.inserted += counts.inserted
    summary.known += counts.known
    summary.updated += counts.updated


def _with_provenance(post: Post) -> Post:
    """Move a collector's per-post extras into the provenance the store keeps per post."""
    extra = post.extra
    if not extra or "provenance" in extra:
        return post
    own = {k: v for k, v in extra.items() if k not in _PAGE_KEYS}
    if not own:
        return post
    return dataclasses.replace(post, extra={**extra, "provenance": own})


def _close_run(engine: Engine, summary: SourceSummary, now: datetime) -> None:
    error = summary.error
    if error and len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1] + "…"
    try:
        with engine.begin() as connection:
            connection.execute(
                update(_RUN)
                .where(_RUN.c.id == summary.run_id)
                .values(
                    finished_at=now,
                    status=summary.status,
                    fetched=summary.fetched,
                    inserted=summary.inserted,
                    error=error,
                )
            )
    except SQLAlchemyError:
        # The database itself failed (the likely reason the source failed too); the next
        # run marks this one "interrupted". Nothing else to do from here.
        log.exception("source %r: cannot record the end of the run", summary.name)


def _describe_unexpected(exc: BaseException) -> str:
    """Type and code location of an unexpected error, not its message: a message may quote a
    post or a URL with a token, and this text is shown to analysts."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if _is_ours(f.filename)]
    where = ""
    if ours or frames:
        frame = (ours or frames)[-1]
        where = f" at {_short_path(frame.filename)}:{frame.lineno}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error {type(exc).__name__}{where} (details in the log)"
    return f"internal error {type(exc).__name__}{where} (a bug: details in the log)"


_ROOT = Path(__file__).resolve().parents[1]


def _is_ours(filename: str) -> bool:
    try:
        Path(filename).resolve().relative_to(_ROOT)
    except ValueError:
        return False
    return "site-packages" not in filename


def _short_path(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(_ROOT))
    except ValueError:
        return Path(filename).name


def summaries_failed(summaries: Iterable[SourceSummary]) -> bool:
    return any(s.failed for s in summaries)
