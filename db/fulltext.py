"""The full-text index on post text: what the web search uses to avoid reading every post.

A text search over a million posts that reads every row took 2.8 s on SQLite (LIKE, tried in
several case forms because SQLite's LIKE folds only ASCII) for a word found only in old posts.
An index of the text's trigrams answers "which posts contain this string" without reading
them, for any script and case, and keeps the search's meaning: a substring of the current
`post.text`, case-insensitive. Earlier versions (`post_version`) are not searched, as before;
tombstoned posts (`deleted_at`) stay searchable, as before: they are evidence.

SQLite: an FTS5 table with the `trigram` tokenizer over `post` (external content: the text
is not stored twice). `detail=none` keeps no positions, so a query is the AND of the
needle's trigrams and every candidate is checked against the text itself
(`sw_contains`, Unicode lower case, registered on every connection by `db.engine`): measured
on 200,000 generated posts, 21-27 us a post to index against 37-40 us with positions, 69 MB
against 120 MB, and the check on the text makes a stale index entry harmless. The index is
kept by the post writer (`db.store`), not by triggers: a trigger fires the FTS insert once a
row, and each statement makes FTS5 flush its pending terms, which cost 127 us a post against
34 us for one INSERT ... SELECT per chunk (same 200,000 posts, positions kept). With it a
first import of 1,000,000 posts (`bench/ingest.py`) took 141.1 s of CPU against 122.8 s
without (wall 179.7 s against 182.9 s on a machine at load 4-6); the deferred bulk index
below brought the FTS5 statements of that import from 22.7 s to 14.8 s of the writer's CPU.
Every write of `post.text` must go through `PostWriter` for the index to know it. Needles of
fewer than three characters have no trigram: they keep the LIKE scan.

A bulk load (`db.store.post_indexes_rebuilt`) indexes its posts once, at the end, in one
statement (`sqlite_defer`, `sqlite_index_deferred`): FTS5 writes its pending terms as a new
segment at the end of every statement and merges segments as they pile up, so 500 statements
of 2,000 posts build and merge 500 small segments. Measured on the FTS5 work alone, 1,000,000
generated posts: 19.1 s of CPU for chunks of 2,000 against 14.6 s for one statement (and less
with a larger buffer, `BULK_HASH_SIZE`). Until the load commits, no reader sees its posts anyway.

PostgreSQL: a GIN index with pg_trgm's `gin_trgm_ops` on `post.text`, which ILIKE uses
itself; the planner chooses between it and the newest-first walk from its statistics. The
extension is created in `public` (where it outlives the per-test schemas and serves every
schema of the database); if the role may not create it, the search works without the index
and a warning names what an administrator has to run.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

_log = logging.getLogger(__name__)

__all__ = [
    "MIN_CHARS",
    "SQLITE_TABLE",
    "TRIGRAM_INDEX",
    "contains_folded",
    "create",
    "drop",
    "include_object",
    "present",
    "sqlite_defer",
    "sqlite_deferred_above",
    "sqlite_index_deferred",
    "sqlite_index_range",
    "sqlite_match",
    "sqlite_reindex",
    "sqlite_undefer",
    "sqlite_unindex",
    "trigram_index_sql",
]

#: Shortest needle the trigram index can answer.
MIN_CHARS = 3
SQLITE_TABLE = "post_fts"
TRIGRAM_INDEX = "ix_post_text_trgm"
# Rows per statement when rows are named by id (within SQLite's bound-parameter limit).
_CHUNK = 900


def contains_folded(text: str | None, needle: str) -> int:
    """`sw_contains(text, needle)`: whether `needle` (already lower case) is in `text`,
    ignoring case in every script. SQLite's own LIKE and lower() fold only ASCII."""
    return 1 if text is not None and needle in text.lower() else 0


def sqlite_match(value: str) -> str:
    """The FTS5 query for posts holding trigrams that cover `value`, taken literally.

    Each trigram is an FTS5 string ("..." with " doubled), so quotes, `*`, `OR`, `NEAR`,
    `^`, parentheses and markup are searched for as characters, never read as query syntax.
    Trigrams that cover the needle without overlapping (every third, and the last) are
    enough, since each candidate is checked against the text anyway: half the doclists to
    read for a common word (1,001,000 posts, "Қазақстан" in 450,571 of them: 0.078 s
    against 0.183 s for all seven trigrams).
    """
    lowered = value.lower()
    starts = list(range(0, len(lowered) - 2, 3))
    if starts and starts[-1] != len(lowered) - 3:
        starts.append(len(lowered) - 3)
    grams = dict.fromkeys(lowered[i : i + 3] for i in starts)
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def present(connection: Connection) -> bool:
    """Whether this database has the full-text index (a migration may have had to skip it)."""
    if connection.dialect.name == "sqlite":
        statement = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return connection.exec_driver_sql(statement, (SQLITE_TABLE,)).first() is not None
    statement = "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s"
    return connection.exec_driver_sql(statement, (TRIGRAM_INDEX,)).first() is not None


def create(connection: Connection) -> bool:
    """Create the index over the posts already stored (migration 0006); False if it cannot be."""
    if connection.dialect.name == "sqlite":
        return _create_sqlite(connection)
    return _create_postgresql(connection)


def drop(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")
    else:
        # The extension stays: other schemas of the database may use it.
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")


def _create_sqlite(connection: Connection) -> bool:
    try:
        connection.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {SQLITE_TABLE} USING fts5(text, content='post', "
            "content_rowid='id', tokenize='trigram', detail=none, columnsize=0)"
        )
    except OperationalError as exc:  # no FTS5, or SQLite older than 3.34 (no trigram)
        _log.warning(
            "no full-text index on post text (%s): this SQLite lacks FTS5's trigram tokenizer "
            "(3.34 or newer has it); text search reads every post instead",
            exc.orig,
        )
        return False
    connection.exec_driver_sql(f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}) VALUES ('rebuild')")
    return True


def _trigram_schema(connection: Connection) -> str | None:
    statement = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = %s"
    return connection.exec_driver_sql(statement, ("pg_trgm",)).scalar()


# In `public` first: an extension lives in one schema, and one dropped with a schema (a
# test's, a bench's) would take every other schema's trigram index with it.
_CREATE_EXTENSION = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
)


def _create_postgresql(connection: Connection) -> bool:
    if _trigram_schema(connection) is None:
        for statement in _CREATE_EXTENSION:
            try:
                with connection.begin_nested():
                    connection.exec_driver_sql(statement)
                break
            except DBAPIError as exc:
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        else:
            _log.warning(
                "no trigram index on post text: the extension pg_trgm cannot be created by "
                "this role (%s); text search reads every post instead. An administrator can "
                'run "CREATE EXTENSION pg_trgm SCHEMA public;" in this database and then '
                '"CREATE INDEX %s ON post USING gin (text public.gin_trgm_ops);" in its '
                "smearwatch schema.",
                reason,
                TRIGRAM_INDEX,
            )
            return False
    connection.exec_driver_sql(trigram_index_sql(connection))
    return True


def trigram_index_sql(connection: Connection) -> str:
    """CREATE INDEX for the trigram index, its operator class named with the extension's
    schema (the connection's search path may hold only smearwatch's own schema)."""
    schema = _trigram_schema(connection)
    ops = f'"{schema}".gin_trgm_ops' if schema else "gin_trgm_ops"
    return f"CREATE INDEX {TRIGRAM_INDEX} ON post USING gin (text {ops})"


def sqlite_index_range(connection: Connection, first_id: int, last_id: int) -> None:
    """Index the posts with ids first_id..last_id (just inserted: the writer hands out
    consecutive ids), in one statement."""
    connection.exec_driver_sql(
        f"INSERT INTO {SQLITE_TABLE}(rowid, text) SELECT id, text FROM post "
        "WHERE id BETWEEN ? AND ?",
        (first_id, last_id),
    )


# Memory FTS5 may fill with pending terms before it writes them out as a segment (its
# `hashsize` option; 1 MiB by default). Larger for the one statement of a bulk load: fewer,
# larger segments to merge. FTS5 work alone on 1,000,000 generated posts, one statement, on a
# loaded machine: 17.3-21.8 s CPU with 1 MiB, 13.5 s with 16 MiB (+21 MB resident), 11.1-12.9 s
# with 64 MiB (+75 MB, too close to the import's 500 MB budget). Set back afterwards, so that
# the daemon's small writes keep the small buffer.
BULK_HASH_SIZE = 16 * 1024 * 1024
DEFAULT_HASH_SIZE = 1024 * 1024
# connection.info key: the highest post id indexed before a bulk load began.
_DEFERRED = "smearwatch.fulltext_deferred_above"


def sqlite_defer(connection: Connection) -> bool:
    """Leave the posts written from now on out of the index until `sqlite_index_deferred`
    (in the same transaction). False, and nothing deferred, if there is no index."""
    if connection.dialect.name != "sqlite" or not present(connection):
        return False
    top = connection.exec_driver_sql("SELECT max(id) FROM post").scalar()
    # Kept with the transaction: `info` belongs to the pooled driver connection and outlives
    # it, and a deferral left behind by accident must not leave later writes unindexed.
    connection.info[_DEFERRED] = (connection.get_transaction(), top or 0)
    return True


def sqlite_deferred_above(connection: Connection) -> int | None:
    """Posts with an id above this are written during a deferred load and not yet indexed;
    None when nothing is deferred."""
    entry = connection.info.get(_DEFERRED)
    if entry is None or entry[0] is not connection.get_transaction():
        return None
    return entry[1]


def sqlite_index_deferred(connection: Connection) -> None:
    """Index every post written since `sqlite_defer`, with its final text, in one statement."""
    top = sqlite_deferred_above(connection)
    connection.info.pop(_DEFERRED, None)
    if top is None:
        return
    _set_hash_size(connection, BULK_HASH_SIZE)
    connection.exec_driver_sql(
        f"INSERT INTO {SQLITE_TABLE}(rowid, text) SELECT id, text FROM post WHERE id > ?",
        (top,),
    )
    _set_hash_size(connection, DEFAULT_HASH_SIZE)


def _set_hash_size(connection: Connection, size: int) -> None:
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(
                f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rank) VALUES ('hashsize', ?)",
                (size,),
            )
    except OperationalError:  # an SQLite without the option: its default buffer, slower
        pass


def sqlite_undefer(connection: Connection) -> None:
    """Forget a deferral without indexing (the load failed and its transaction rolls back)."""
    connection.info.pop(_DEFERRED, None)


def sqlite_unindex(connection: Connection, rows: list[tuple[int, str]]) -> None:
    """Take (id, text) out of the index before the text changes. With external content
    FTS5 must be given the text it indexed: it cannot read it back once replaced."""
    if rows:
        connection.exec_driver_sql(
            f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rowid, text) VALUES ('delete', ?, ?)",
            rows,
        )


def sqlite_reindex(connection: Connection, post_ids: list[int]) -> None:
    """Index the current text of these posts (after an edit replaced it)."""
    for start in range(0, len(post_ids), _CHUNK):
        chunk = post_ids[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        connection.exec_driver_sql(
            f"INSERT INTO {SQLITE_TABLE}(rowid, text) SELECT id, text FROM post "
            f"WHERE id IN ({marks})",
            tuple(chunk),
        )


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic autogenerate filter: the full-text index is made by migration 0006 in each
    backend's own SQL, not from the models, so its tables and index are not a difference."""
    if type_ == "table" and name is not None and name.startswith(SQLITE_TABLE):
        return False
    return not (type_ == "index" and name == TRIGRAM_INDEX)
