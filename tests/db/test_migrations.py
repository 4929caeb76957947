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


def test_migration_0007_upgrades_and_downgrades(db_url: str) -> None:
    """The stored smear terms table and the two covering indexes come and go with 0007 (a
    stored row goes with the table); the posts and mentions it re-indexes stay."""
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import inspect

    from collector.post import post_from_record
    from db.store import PostWriter
    from tests.factories import record

    def state(engine) -> tuple[bool, dict[str, list[str]], tuple[int, int]]:
        with engine.connect() as connection:
            inspector = inspect(connection)
            columns = {
                index["name"]: index["column_names"]
                for table in ("post", "mention")
                for index in inspector.get_indexes(table)
                if index["name"] in ("ix_post_created_at", "ix_mention_post_id")
            }
            counts = connection.execute(
                text("SELECT (SELECT count(*) FROM post), (SELECT count(*) FROM mention)")
            ).one()
            present = inspector.has_table("post_smear_terms")
        return present, columns, tuple(counts)

    engine = open_database(db_url)
    with engine.begin() as connection:
        writer = PostWriter(connection, collector="test/1", now=datetime(2026, 11, 25, tzinfo=UTC))
        writer.write([post_from_record(record(n)) for n in range(3)])
        writer.finish()
        post_id = connection.execute(text("SELECT min(id) FROM post")).scalar()
        connection.execute(
            text(
                "INSERT INTO mention (post_id, defender_id, alias, matched_text, field, start, "
                "\"end\") VALUES (:p, 'd', 'a', 'a', 'text', 0, 1)"
            ),
            {"p": post_id},
        )
        connection.execute(
            text(
                "INSERT INTO post_smear_terms (post_id, vocabulary, content_sha256, terms) "
                "VALUES (:p, 'k', 's', '[]')"
            ),
            {"p": post_id},
        )
    new = {
        "ix_post_created_at": ["created_at", "platform"],
        "ix_mention_post_id": ["post_id", "defender_id"],
    }
    old = {"ix_post_created_at": ["created_at"], "ix_mention_post_id": ["post_id"]}
    assert state(engine) == (True, new, (3, 1))
    config = alembic_config(engine)
    command.downgrade(config, "0006")
    assert state(engine) == (False, old, (3, 1))
    command.upgrade(config, "head")
    assert state(engine) == (True, new, (3, 1))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM post_smear_terms")).scalar() == 0
    engine.dispose()
