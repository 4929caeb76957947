"""Opening a database: engine set-up per backend and bringing the schema to the head revision.

Every command goes through `open_database`, so a database is always migrated before use and a
database written by a newer smearwatch is refused before anything touches it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from db.fulltext import contains_folded

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DatabaseError",
    "alembic_config",
    "create_db_engine",
    "open_database",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


#: How long a connection waits for another one's write lock before it gives up.
SQLITE_BUSY_MS = 30_000

#: Page cache per SQLite connection, in MiB: index pages of a large import stay in memory.
IMPORT_CACHE_MIB = 64
#: Page size of a new SQLite database. A post row is about 1 KB, so 4 KB pages (SQLite's
#: default) hold three or four: 16 KB pages mean fewer page splits, WAL frames and checkpoint
#: copies. Measured on 1,000,000 posts: first import 79.6 s (125.9 s CPU) against 87.1 s
#: (136.2 s CPU) with 4 KB pages.
SQLITE_PAGE_BYTES = 16384


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, cache_mib: int = IMPORT_CACHE_MIB) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the daemon write while an analyst reads; foreign keys are off by default in
    # SQLite and must be asked for on every connection.
    # Takes effect only in a database that has no tables yet; an existing one keeps its own.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        # A first import holds the database in rollback-journal mode
        # (`db.store.pages_written_once`) and gives it back in WAL mode; meanwhile this
        # connection works in the mode the file is in, waiting for the import as the busy
        # timeout allows.
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
    cursor.close()
    # The post search's check of full-text candidates against the text (`db.fulltext`).
    dbapi_connection.create_function("sw_contains", 2, contains_folded, deterministic=True)


def _prepare_sqlite_file(database: str | None) -> None:
    """Create the file (and its folder) readable by its owner only: the database is sensitive."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, stat.S_IRUSR | stat.S_IWUSR)
        os.close(fd)


def create_db_engine(url: str, *, sqlite_cache_mib: int | None = None, **kwargs: Any) -> Engine:
    """An engine with the per-backend settings smearwatch relies on (no migration).

    `sqlite_cache_mib`: the page cache of each SQLite connection. A one-off command uses one
    connection and gains from a large cache; a long-running process keeps a pool of them,
    each cache filling up over hours, so it asks for less.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            _prepare_sqlite_file(parsed.database)
            engine = create_engine(parsed, **kwargs)
            cache = IMPORT_CACHE_MIB if sqlite_cache_mib is None else sqlite_cache_mib
            event.listen(
                engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, cache)
            )
        else:
            engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise DatabaseError(f"unsupported database URL {parsed!r}: {exc}") from exc
    return engine


def alembic_config(engine: Engine) -> Config:
    # Alembic is imported here, not above: an import's worker processes use this module
    # without migrating anything, and Alembic took 0.45 s of each one's start.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def open_database(url: str, *, migrate: bool = True, **kwargs: Any) -> Engine:
    """Open the database at `url` and bring it to the head schema revision.

    Raises:
        DatabaseError: the server cannot be reached, or the database carries a schema
            revision this version of smearwatch does not know (written by a newer one).
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    engine = create_db_engine(url, **kwargs)
    config = alembic_config(engine)
    script = ScriptDirectory.from_config(config)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip() or str(exc)
        if engine.dialect.name == "sqlite" and "locked" in reason:
            reason += (
                " (another process is writing to it and holds it, as a first large import "
                "into an empty database does until it ends; try again when it has finished)"
            )
        raise DatabaseError(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        engine.dispose()
        raise DatabaseError(
            f"the database is at schema revision {', '.join(unknown)}, which this smearwatch "
            "does not know: it was written by a newer version. Upgrade smearwatch "
            "(pip install -U smearwatch) before using this database."
        )
    if migrate and set(current) != set(script.get_heads()):
        command.upgrade(config, "head")
    return engine
