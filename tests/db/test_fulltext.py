"""The full-text index on post text (`db.fulltext`), on SQLite and PostgreSQL: built by the
migration over stored posts, kept by the writer, taken by the search, gone on downgrade."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from collector.post import post_from_record
from db import fulltext
from db.engine import alembic_config, open_database
from db.store import PostWriter, mark_deleted
from smearwatch.web.queries import PostFilter, search_posts
from tests.factories import record

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _write(engine, records) -> None:
    with engine.begin() as connection:
        writer = PostWriter(connection, collector="test/1", now=NOW)
        writer.write([post_from_record(r) for r in records])
        writer.finish()


def _found(engine, needle: str) -> set[str]:
    with engine.connect() as connection:
        rows = search_posts(connection, PostFilter(text=needle), limit=10_000)
    return {row.platform_id for row in rows}


def _post(n: int, body: str) -> dict:
    return record(n, text=body, raw={"n": n, "text": body})


def _pid(n: int) -> str:
    return record(n)["post_id"]


def _sqlite_index_is_sound(engine) -> None:
    with engine.begin() as connection:
        table = fulltext.SQLITE_TABLE
        connection.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")


def test_the_migration_indexes_stored_posts_and_its_downgrade_removes_the_index(
    db_url: str,
) -> None:
    engine = open_database(db_url)
    config = alembic_config(engine)
    command.downgrade(config, "0005")
    with engine.connect() as connection:
        assert not fulltext.present(connection)
    _write(engine, [_post(1, "Бахыт ОРМАНОВА — грантоед"), _post(2, "Zhovtis in court")])
    assert _found(engine, "орманова") == {_pid(1)}  # the scan, without the index
    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert fulltext.present(connection)
    assert _found(engine, "орманова") == {_pid(1)}  # the back-filled index
    assert _found(engine, "ZHOVTIS") == {_pid(2)}
    if engine.dialect.name == "sqlite":
        _sqlite_index_is_sound(engine)
    command.downgrade(config, "0005")
    with engine.connect() as connection:
        assert not fulltext.present(connection)
        if engine.dialect.name == "sqlite":
            names = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars()
            assert not [name for name in names if name.startswith(fulltext.SQLITE_TABLE)]
    assert _found(engine, "грантоед") == {_pid(1)}
    command.upgrade(config, "head")
    engine.dispose()


def test_new_edited_tombstoned_and_reimported_posts_are_found_by_their_current_text(
    db_url: str,
) -> None:
    engine = open_database(db_url)
    posts = [_post(n, f"пост {n}: Қазақстан құқық қорғаушы") for n in range(1, 40)]
    posts.append(_post(40, "Первый вариант: ЖОВТИС предатель"))
    _write(engine, posts)
    assert len(_found(engine, "ҚАЗАҚСТАН")) == 39
    assert _found(engine, "жовтис") == {_pid(40)}
    # An edit: the search shows the post's current text, so it finds the new words only.
    _write(engine, [_post(40, "Исправлено: Zhovtis is a lawyer")])
    assert _found(engine, "жовтис") == set()
    assert _found(engine, "ZHOVTIS IS") == {_pid(40)}
    # A tombstone keeps the post and its text: still evidence, still found.
    with engine.begin() as connection:
        marked = mark_deleted(connection, "bluesky", [_pid(40)], when=NOW, deletion={"status": 404})
    assert marked == 1
    assert _found(engine, "lawyer") == {_pid(40)}
    # The same file again adds nothing, to the posts or to the index.
    # (post 40's first version in it is one of its kept versions: not an edit either)
    _write(engine, posts)
    assert len(_found(engine, "құқық")) == 39
    assert _found(engine, "вариант") == set()
    assert _found(engine, "lawyer") == {_pid(40)}
    if engine.dialect.name == "sqlite":
        _sqlite_index_is_sound(engine)
        with engine.connect() as connection:
            table = fulltext.SQLITE_TABLE
            # every post once: a second entry for one post would make it a candidate twice
            rows = connection.exec_driver_sql(
                f"SELECT count(*) FROM {table} WHERE {table} MATCH ?",
                (fulltext.sqlite_match("құқық"),),
            ).scalar()
            assert rows == 39
    engine.dispose()


def _matches(engine, needle: str) -> int:
    """Rows of the FTS5 table that hold every trigram of `needle` (no check on the text)."""
    with engine.connect() as connection:
        table = fulltext.SQLITE_TABLE
        return connection.exec_driver_sql(
            f"SELECT count(*) FROM {table} WHERE {table} MATCH ?",
            (fulltext.sqlite_match(needle),),
        ).scalar()


def test_a_bulk_load_indexes_its_posts_once_at_the_end_with_their_final_text(tmp_path) -> None:
    """SQLite: a bulk load leaves its posts out of the index until it ends (one statement
    instead of one a chunk); edits within the load, of its own posts and of older ones,
    leave the index as if every post had been indexed as it came."""
    from db.store import post_indexes_rebuilt

    engine = open_database(f"sqlite:///{tmp_path / 'smearwatch.db'}")
    _write(engine, [_post(1, "Старый пост: Орманова в суде")])
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM state WHERE 0")  # opens it, as an import does
        with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
            assert dropped
            writer = PostWriter(connection, collector="test/1", now=NOW)
            writer.write(
                [post_from_record(_post(n, f"пост {n}: шетелдік агент")) for n in range(2, 30)]
            )
            writer.write([post_from_record(_post(30, "Первый вариант: ЖОВТИС предатель"))])
            table = fulltext.SQLITE_TABLE
            indexed = connection.exec_driver_sql(f"SELECT count(*) FROM {table}_idx").scalar()
            unindexed = connection.exec_driver_sql(
                f"SELECT count(*) FROM {table} WHERE {table} MATCH ?",
                (fulltext.sqlite_match("агент"),),
            ).scalar()
            assert unindexed == 0  # not yet: they are indexed at the end
            # an edit of a post of this load and one of a post stored before it
            writer.write([post_from_record(_post(30, "Исправлено: Zhovtis is a lawyer"))])
            writer.write([post_from_record(_post(1, "Новый текст: Ormanova acquitted"))])
            writer.finish()
            assert indexed >= 1
    _sqlite_index_is_sound(engine)
    assert _matches(engine, "агент") == 28
    assert _found(engine, "шетелдік") == {_pid(n) for n in range(2, 30)}
    assert _matches(engine, "жовтис") == 0 and _found(engine, "жовтис") == set()
    assert _found(engine, "lawyer") == {_pid(30)}
    assert _matches(engine, "в суде") == 0 and _found(engine, "суде") == set()
    assert _found(engine, "acquitted") == {_pid(1)}
    # the next, small write is indexed as it comes again
    _write(engine, [_post(31, "Ещё один пост: солидарность")])
    assert _matches(engine, "солидарность") == 1
    _sqlite_index_is_sound(engine)
    engine.dispose()


def test_a_failed_bulk_load_leaves_the_index_as_it_was(tmp_path) -> None:
    from db.store import post_indexes_rebuilt

    engine = open_database(f"sqlite:///{tmp_path / 'smearwatch.db'}")
    _write(engine, [_post(1, "Старый пост: Орманова в суде")])
    with pytest.raises(RuntimeError), engine.begin() as connection:  # noqa: SIM117
        connection.exec_driver_sql("DELETE FROM state WHERE 0")
        with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
            assert dropped
            writer = PostWriter(connection, collector="test/1", now=NOW)
            writer.write(
                [post_from_record(_post(n, f"пост {n}: шетелдік агент")) for n in range(2, 30)]
            )
            raise RuntimeError("the import failed half way")
    with engine.connect() as connection:
        assert fulltext.sqlite_deferred_above(connection) is None
    _write(engine, [_post(2, "пост 2: шетелдік агент")])  # indexed as it comes
    assert _found(engine, "агент") == {_pid(2)}
    assert _found(engine, "суде") == {_pid(1)}
    _sqlite_index_is_sound(engine)
    engine.dispose()


def test_short_needles_still_search_by_scanning(db_url: str) -> None:
    engine = open_database(db_url)
    _write(engine, [_post(1, "Ақ жол"), _post(2, "ab cd"), _post(3, "Ёж")])
    assert _found(engine, "ақ") == {_pid(1)}
    assert _found(engine, "AB") == {_pid(2)}
    assert _found(engine, "ёж") == {_pid(3)}
    engine.dispose()


HOSTILE = [
    'he said "грантоед" twice',
    "Soros* OR NEAR(agent, 3) ^start",
    "100% true_story with \\backslash\\ and (parens)",
    "<script>alert('x')</script> ЖОВТИС",
    'a \'"\' quote and a "" pair',
    "AND NOT OR: NEAR/2 {col} : - + ^",
]


@pytest.mark.parametrize(
    "needle",
    ['"грантоед"', "Soros*", "OR NEAR(", "^start", "100%", "true_", "\\backslash\\",
     "(parens)", "<script>", "'\"'", '""', "NOT OR:", "{col} :", "- + ^", "AND"],
)  # fmt: skip
def test_query_syntax_in_a_needle_is_searched_for_literally(db_url: str, needle: str) -> None:
    engine = open_database(db_url)
    _write(engine, [_post(n, body) for n, body in enumerate(HOSTILE, start=1)])
    expected = {
        _pid(n) for n, body in enumerate(HOSTILE, start=1) if needle.lower() in body.lower()
    }
    assert expected
    assert _found(engine, needle) == expected
    engine.dispose()


ALPHABET = st.sampled_from(list("abzABZ ёжЁЖқҚәӘіІүҮөӨ\"'*^%_\\()<>:-+{}.,NEAROT"))


_PLATFORMS = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bodies=st.lists(st.text(ALPHABET, min_size=0, max_size=30), min_size=1, max_size=8),
    needle=st.text(ALPHABET, min_size=3, max_size=8),
    pick=st.integers(min_value=0, max_value=10_000),
)
def test_any_needle_finds_exactly_the_posts_that_contain_it(
    db_url: str, bodies: list[str], needle: str, pick: int
) -> None:
    """Against the plain meaning: case-insensitive substring of the text (on SQLite the
    full-text path: every needle has three characters or more). Each example writes its
    posts under a platform of its own and searches only that platform."""
    engine = _engines.get(db_url) or _engines.setdefault(db_url, open_database(db_url))
    platform = f"prop{next(_PLATFORMS)}"
    body = bodies[pick % len(bodies)]
    if len(body) >= 3:  # mostly a piece of one of the posts, its case swapped
        start = pick % (len(body) - 2)
        needle = body[start : start + 3 + pick % 4].swapcase()
    _write(engine, [dict(_post(n, b), platform=platform) for n, b in enumerate(bodies, 1)])
    expected = {_pid(n) for n, b in enumerate(bodies, 1) if needle.lower() in b.lower()}
    with engine.connect() as connection:
        rows = search_posts(connection, PostFilter(text=needle, platform=platform), limit=100)
    assert {row.platform_id for row in rows} == expected


_engines: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _dispose_engines() -> Any:
    yield
    while _engines:
        _engines.popitem()[1].dispose()


def test_a_common_word_walks_newest_first_and_a_rare_one_fetches_by_id(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both SQLite plans give the same page, newest first."""
    from smearwatch.web import queries

    engine = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    _write(engine, [_post(n, f"{n} common {'rare' if n % 10 == 0 else ''}") for n in range(60)])
    with engine.connect() as connection:
        pages = {}
        for few in (0, 10_000):  # 0: every needle is "common"
            monkeypatch.setattr(queries, "FEW_CANDIDATES", few)
            pages[few] = [
                [r.id for r in search_posts(connection, PostFilter(text=word), limit=7)]
                for word in ("common", "rare")
            ]
    assert pages[0] == pages[10_000]
    assert [len(p) for p in pages[0]] == [7, 6]
    engine.dispose()


def test_postgresql_ilike_uses_the_trigram_index(pg_url: str) -> None:
    engine = open_database(pg_url)
    _write(engine, [_post(n, f"пост {n} Қазақстан") for n in range(1, 30)])
    with engine.connect() as connection:
        assert fulltext.present(connection)
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(
            connection.execute(
                text("EXPLAIN SELECT id FROM post WHERE text ILIKE :p"), {"p": "%қазақ%"}
            ).scalars()
        )
    assert fulltext.TRIGRAM_INDEX in plan, plan
    engine.dispose()


def test_postgresql_without_pg_trgm_keeps_working_without_the_index(
    pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server where the extension cannot be created (not installed, or a role that may
    not): the migration warns with what to run, and the search scans as before."""
    monkeypatch.setattr(fulltext, "_trigram_schema", lambda connection: None)
    monkeypatch.setattr(
        fulltext, "_CREATE_EXTENSION", ("CREATE EXTENSION IF NOT EXISTS sw_no_such_extension",)
    )
    with caplog.at_level("WARNING", logger="db.fulltext"):
        engine = open_database(pg_url)
    assert "CREATE EXTENSION pg_trgm" in caplog.text
    assert "sw_no_such_extension" in caplog.text
    with engine.connect() as connection:
        assert not fulltext.present(connection)
    _write(engine, [_post(1, "Бахыт ОРМАНОВА"), _post(2, "Zhovtis")])
    assert _found(engine, "орманова") == {_pid(1)}
    engine.dispose()
