"""Opening a SQLite database beside `db.store.pages_written_once`, which lets a first large
import into an empty database leave WAL mode for its transaction only, and never where that
could hurt someone else's connection."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from db.engine import DatabaseError, open_database
from db.store import WRITTEN_ONCE_MIN_POSTS, pages_written_once

LARGE = WRITTEN_ONCE_MIN_POSTS


def _journal_mode(connection: Connection) -> str:
    mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    connection.rollback()
    return str(mode)


def _add_posts(connection: Connection, count: int) -> None:
    """Rows in the tables an import writes, enough to spill the page cache to the file."""
    connection.execute(
        text(
            "INSERT INTO account (id, platform, platform_id, first_seen, last_seen) "
            "VALUES (1, 'bluesky', 'did:plc:a', '2026-10-01', '2026-10-01')"
        )
    )
    connection.execute(
        text(
            "INSERT INTO post (platform, platform_id, evidence_id, account_id, created_at, "
            "collected_at, ingested_at, text, raw, raw_sha256, content_sha256, version, "
            "collector) VALUES ('bluesky', :id, 'E-1', 1, '2026-10-01', '2026-10-01', "
            "'2026-10-01', :text, '{}', 'x', 'y', 1, 'test')"
        ),
        [{"id": f"p{i}", "text": "грантоед " * 40} for i in range(count)],
    )


def test_an_empty_database_is_loaded_with_a_rollback_journal_and_gets_wal_back(
    tmp_path: Path,
) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        with pages_written_once(connection, expected_posts=LARGE) as switched:
            assert switched
            assert _journal_mode(connection) == "delete"
            with connection.begin():
                _add_posts(connection, 3000)
        assert _journal_mode(connection) == "wal"
        assert connection.execute(text("SELECT count(*) FROM post")).scalar() == 3000
    engine.dispose()
    assert not (tmp_path / "x.db-journal").exists()


def test_a_failed_load_leaves_nothing_and_wal_mode(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        with (
            pytest.raises(RuntimeError),
            pages_written_once(connection, expected_posts=LARGE),
            connection.begin(),
        ):
            _add_posts(connection, 3000)
            raise RuntimeError("a bad line")
        assert _journal_mode(connection) == "wal"
        assert connection.execute(text("SELECT count(*) FROM post")).scalar() == 0
    engine.dispose()


@pytest.mark.parametrize("reason", ["holds posts", "small load", "other connection"])
def test_wal_mode_stays_where_switching_could_hurt(tmp_path: Path, reason: str) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    expected = LARGE
    other = None
    if reason == "holds posts":
        with engine.begin() as connection:
            _add_posts(connection, 1)
    elif reason == "small load":
        expected = LARGE - 1
    else:  # a daemon or an analyst's command has the database open
        other = open_database(f"sqlite:///{tmp_path / 'x.db'}")
        reader = other.connect()
        reader.execute(text("SELECT count(*) FROM post")).scalar()
    with (
        engine.connect() as connection,
        pages_written_once(connection, expected_posts=expected) as switched,
    ):
        assert not switched
        assert _journal_mode(connection) == "wal"
    if other is not None:
        reader.close()
        other.dispose()
    engine.dispose()


def test_postgresql_is_left_alone(pg_url: str) -> None:
    engine = open_database(pg_url)
    with (
        engine.connect() as connection,
        pages_written_once(connection, expected_posts=LARGE) as switched,
    ):
        assert not switched
    engine.dispose()


def test_a_connection_opened_during_the_load_works_and_wal_mode_comes_back(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = open_database(url)
    with engine.connect() as connection:
        with pages_written_once(connection, expected_posts=LARGE) as switched:
            assert switched
            with connection.begin():
                _add_posts(connection, 10)
                # Opening the database cannot set WAL mode now; it must not fail for that.
                late = open_database(url)
                with late.connect() as reader:
                    assert reader.execute(text("SELECT count(*) FROM post")).scalar() == 0
            late.dispose()
        assert _journal_mode(connection) == "wal"
    engine.dispose()


def test_a_crash_during_the_load_is_rolled_back_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = {sys.path!r}
        from sqlalchemy import text
        from db.engine import open_database
        from db.store import pages_written_once
        from tests.db.test_engine import LARGE, _add_posts

        engine = open_database("sqlite:///{path}", sqlite_cache_mib=1)
        with engine.connect() as connection:
            with pages_written_once(connection, expected_posts=LARGE) as switched:
                assert switched
                connection.begin()
                _add_posts(connection, 5000)  # far more than the 1 MiB cache: pages spilled
                assert os.path.exists("{path}-journal")
                os._exit(9)  # killed half way: no rollback, no WAL mode set again
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    assert (tmp_path / "x.db-journal").exists()
    engine = open_database(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM post")).scalar() == 0
        assert _journal_mode(connection) == "wal"
    engine.dispose()


def test_opening_a_database_a_first_import_holds_says_why_it_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.engine

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = open_database(url, sqlite_cache_mib=1)
    with (
        engine.connect() as connection,
        pages_written_once(connection, expected_posts=LARGE) as switched,
        connection.begin(),
    ):
        assert switched
        _add_posts(connection, 5000)  # pages spilled: the file is locked now
        monkeypatch.setattr(db.engine, "SQLITE_BUSY_MS", 200)
        with pytest.raises(DatabaseError, match="first large import"):
            open_database(url, connect_args={"timeout": 0.2})
    engine.dispose()
