from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from db.engine import SQLITE_PAGE_BYTES, DatabaseError, alembic_config, open_database
from db.fulltext import include_object
from db.models import Base


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = open_database(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_opening_twice_is_a_no_op(db_url: str) -> None:
    from alembic.script import ScriptDirectory

    open_database(db_url).dispose()
    engine = open_database(db_url)
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    script_heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    engine.dispose()
    assert len(script_heads) == 1, f"migrations have several heads: {script_heads}"
    assert heads == tuple(script_heads)


def test_database_from_a_newer_version_is_refused(db_url: str) -> None:
    engine = open_database(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(DatabaseError, match="newer version"):
        open_database(db_url)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    assert (tmp_path / "x.db").stat().st_mode & 0o077 == 0


def test_a_new_sqlite_database_has_large_pages_and_an_old_one_keeps_its_own(tmp_path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA page_size")).scalar() == SQLITE_PAGE_BYTES
    engine.dispose()
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as connection:  # as smearwatch before 16 KB pages made them
        connection.execute("PRAGMA page_size=4096")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    engine = open_database(f"sqlite:///{old}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA page_size")).scalar() == 4096
        assert connection.execute(text("SELECT count(*) FROM post")).scalar() == 0
    engine.dispose()


def test_unreachable_server_gives_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot open database"):
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
