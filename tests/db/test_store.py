from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from collector.post import post_from_record
from db import models, store
from db.engine import open_database
from db.store import PostWriter
from tests.factories import record

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _write(engine, records, **kwargs):
    with engine.begin() as connection:
        writer = PostWriter(connection, collector="test/1", now=NOW, **kwargs)
        counts = writer.write([post_from_record(r) for r in records])
        writer.finish()
        return counts


def _count(engine, model) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def test_writing_is_idempotent(db_url: str) -> None:
    engine = open_database(db_url)
    first = _write(engine, [record(n) for n in range(50)])
    second = _write(engine, [record(n) for n in range(50)])
    assert (first.inserted, first.known) == (50, 0)
    assert (second.inserted, second.known, second.updated) == (0, 50, 0)
    assert _count(engine, models.Post) == 50
    assert _count(engine, models.Account) == 7
    assert _count(engine, models.PostLink) == 50
    engine.dispose()


@pytest.mark.parametrize(
    "source_name", ["import:o'brien's export.jsonl", "import:nul\x00name", None]
)
def test_the_writers_constants_are_stored_as_given(db_url: str, source_name) -> None:
    """They go into the SQLite statement as literals where they can (a quote in a file
    name), else bound as usual."""
    engine = open_database(db_url)
    if source_name and "\x00" in source_name and not db_url.startswith("sqlite"):
        source_name = source_name.replace("\x00", "")  # PostgreSQL text holds no NUL
    _write(engine, [record(1), record(2)], source_name=source_name)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                models.Post.source_name,
                models.Post.collector,
                models.Post.version,
                models.Post.ingested_at,
                models.Post.import_batch_id,
            )
        ).all()
    assert len(rows) == 2
    assert all(row == (source_name, "test/1", 1, NOW, None) for row in rows)
    engine.dispose()


def test_many_children_in_one_chunk_are_all_stored_with_their_post(db_url: str) -> None:
    """Several multi-row statements and a remainder on SQLite, COPY on PostgreSQL."""
    engine = open_database(db_url)
    records = [record(n, hashtags=[f"#tag{n}", "#Грантоед"]) for n in range(701)]
    _write(engine, records)
    assert _count(engine, models.PostHashtag) == 1402
    assert _count(engine, models.PostLink) == 701
    with engine.connect() as connection:
        tags = connection.execute(
            select(models.PostHashtag.position, models.PostHashtag.tag)
            .join(models.Post, models.Post.id == models.PostHashtag.post_id)
            .where(models.Post.platform_id == records[650]["post_id"])
            .order_by(models.PostHashtag.position)
        ).all()
    assert [tuple(t) for t in tags] == [(0, "tag650"), (1, "грантоед")]
    engine.dispose()


def test_children_are_normalised_but_originals_kept(db_url: str) -> None:
    engine = open_database(db_url)
    _write(engine, [record(4)])
    with engine.connect() as connection:
        link = connection.execute(select(models.PostLink)).one()
        tag = connection.execute(select(models.PostHashtag.tag)).scalar_one()
        post = connection.execute(select(models.Post)).one()
    assert link.url == "https://Example.org/a/1?utm_source=tg&id=1#frag"
    assert link.normalized_url == "https://example.org/a/1?id=1"
    assert link.domain == "example.org"
    assert tag == "грантоед"
    assert post.created_at == datetime(2026, 11, 14, 4, 15, 3, tzinfo=UTC)
    assert post.collected_at == NOW
    engine.dispose()


def test_an_edited_post_keeps_its_old_version(db_url: str) -> None:
    engine = open_database(db_url)
    _write(engine, [record(1)])
    edited = record(1, text="Исправленный текст про Орманову", raw={"edited": True})
    counts = _write(engine, [edited])
    assert (counts.inserted, counts.updated) == (0, 1)
    with engine.connect() as connection:
        post = connection.execute(select(models.Post)).one()
        old = connection.execute(select(models.PostVersion)).one()
    assert post.text == "Исправленный текст про Орманову"
    assert post.version == 2
    assert old.version == 1
    assert old.text.startswith("Бахыт Орманова")
    assert old.raw == post_from_record(record(1)).raw
    # the same edit again changes nothing
    assert _write(engine, [edited]).known == 1
    engine.dispose()


def test_same_content_with_new_counts_is_not_an_edit(db_url: str) -> None:
    engine = open_database(db_url)
    _write(engine, [record(2)])
    counts = _write(engine, [record(2, raw={"likeCount": 99})])
    assert (counts.known, counts.updated) == (1, 0)
    engine.dispose()


def test_a_file_with_a_post_and_its_edit_imported_again_adds_nothing(db_url: str) -> None:
    engine = open_database(db_url)
    both = [record(4), record(4, text="правка")]
    first = _write(engine, both)
    again = _write(engine, both)
    assert (first.inserted, first.updated) == (1, 1)
    assert (again.inserted, again.known, again.updated) == (0, 2, 0)
    assert (_count(engine, models.Post), _count(engine, models.PostVersion)) == (1, 1)
    with engine.connect() as connection:
        text = connection.execute(select(models.Post.text)).scalar_one()
    assert text == "правка"
    # A new edit after that is still one.
    later = _write(engine, [record(4, text="ещё правка")])
    assert later.updated == 1 and _count(engine, models.PostVersion) == 2
    engine.dispose()


def test_duplicate_inside_one_chunk_is_stored_once(db_url: str) -> None:
    engine = open_database(db_url)
    counts = _write(engine, [record(5), record(5), record(5, text="правка")])
    assert (counts.inserted, counts.known, counts.updated) == (1, 1, 1)
    assert _count(engine, models.Post) == 1
    engine.dispose()


def test_account_handle_follows_the_newest_post(db_url: str) -> None:
    engine = open_database(db_url)
    newer = record(7, created_at="2026-11-20T00:00:00Z")
    newer["author"] = {**newer["author"], "handle": "renamed.bsky.social"}
    older = record(14, created_at="2026-11-01T00:00:00Z")
    _write(engine, [newer])
    _write(engine, [older])
    with engine.connect() as connection:
        account = connection.execute(select(models.Account)).one()
    assert account.handle == "renamed.bsky.social"
    assert account.first_seen == datetime(2026, 11, 1, tzinfo=UTC)
    assert account.last_seen == datetime(2026, 11, 20, tzinfo=UTC)
    engine.dispose()


def test_an_account_cache_smaller_than_one_chunk_keeps_the_chunks_accounts(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the chunk's new accounts must not push out the ones it found cached."""
    monkeypatch.setattr(store, "ACCOUNT_CACHE_LIMIT", 3)
    engine = open_database(db_url)
    with engine.begin() as connection:
        writer = PostWriter(connection, collector="test/1", now=NOW)
        writer.write([post_from_record(record(n)) for n in (0, 1, 2)])
        late = [record(n, created_at="2026-11-30T00:00:00Z") for n in (7, 3, 4, 5, 6)]
        counts = writer.write([post_from_record(r) for r in late])
        writer.finish()
    assert counts.inserted == 5
    with engine.connect() as connection:
        seen = dict(
            connection.execute(select(models.Account.handle, models.Account.last_seen)).all()
        )
    assert len(seen) == 7
    late_seen = {seen[f"user{n}.bsky.social"] for n in (0, 3, 4, 5, 6)}
    assert late_seen == {datetime(2026, 11, 30, tzinfo=UTC)}
    engine.dispose()


def _open_transaction(connection) -> None:
    """As an import does: its first statement writes the import_batch row."""
    connection.execute(
        models.State.__table__.insert().values(key="test", value="x", updated_at=NOW)
    )


def _post_index_sql(engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'post' "
            "AND sql IS NOT NULL"
        ).all()
    return dict(rows)


def test_a_bulk_load_rebuilds_the_post_indexes_as_they_were(tmp_path) -> None:
    from db.store import post_indexes_rebuilt

    engine = open_database(f"sqlite:///{tmp_path / 'smearwatch.db'}")
    before = _post_index_sql(engine)
    assert set(before) == {"ix_post_created_at", "ix_post_account_created", "ix_post_evidence_id"}
    with engine.begin() as connection:  # noqa: SIM117 - the connection is needed for the second
        _open_transaction(connection)
        with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
            assert dropped
            left = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'post'"
            ).scalars()
            assert set(left).isdisjoint(before)
            writer = PostWriter(connection, collector="test/1", now=NOW)
            writer.write([post_from_record(record(n)) for n in range(40)])
            writer.finish()
    assert _post_index_sql(engine) == before
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM post WHERE evidence_id = 'E-0'"
        ).all()
    assert "ix_post_evidence_id" in str(plan)
    engine.dispose()


def test_a_failed_bulk_load_keeps_the_old_indexes(tmp_path) -> None:
    from db.store import post_indexes_rebuilt

    engine = open_database(f"sqlite:///{tmp_path / 'smearwatch.db'}")
    before = _post_index_sql(engine)
    with pytest.raises(RuntimeError), engine.begin() as connection:  # noqa: SIM117
        _open_transaction(connection)
        with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
            assert dropped
            raise RuntimeError("the import failed half way")
    assert _post_index_sql(engine) == before
    engine.dispose()


def test_small_loads_and_loads_into_a_database_in_use_keep_their_indexes(db_url: str) -> None:
    from db.store import post_indexes_rebuilt

    engine = open_database(db_url)
    sqlite = db_url.startswith("sqlite")
    with engine.begin() as connection:
        if sqlite:
            with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
                assert not dropped  # no transaction open yet: the drop would commit
        _open_transaction(connection)
        with post_indexes_rebuilt(connection, expected_posts=1_000) as dropped:
            assert not dropped
        writer = PostWriter(connection, collector="test/1", now=NOW)
        writer.write([post_from_record(record(n)) for n in range(40)])
        writer.finish()
        # SQLite: a larger load than what is stored; PostgreSQL: readers would be locked out
        with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
            assert dropped == sqlite
    engine.dispose()


def _pg_post_indexes(connection) -> dict[str, str]:
    rows = connection.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE tablename = 'post' AND schemaname = current_schema()"
    ).all()
    return dict(rows)


def test_postgresql_rebuilds_the_indexes_of_an_empty_post_table(pg_url: str) -> None:
    from db.store import post_indexes_rebuilt

    engine = open_database(pg_url)
    with engine.connect() as connection:
        before = _pg_post_indexes(connection)
        connection.rollback()
    secondary = {
        "ix_post_created_at", "ix_post_account_created", "ix_post_evidence_id",
        "ix_post_text_trgm",  # the GIN trigram index of the text search too
    }  # fmt: skip
    assert secondary <= set(before)
    with pytest.raises(RuntimeError), engine.begin() as connection:  # noqa: SIM117
        with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
            assert dropped
            raise RuntimeError("the import failed half way")
    with engine.begin() as connection:
        assert _pg_post_indexes(connection) == before
        with post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped:
            assert dropped
            assert set(_pg_post_indexes(connection)).isdisjoint(secondary)
            writer = PostWriter(connection, collector="test/1", now=NOW)
            writer.write([post_from_record(record(n)) for n in range(40)])
            writer.finish()
    with engine.connect() as connection:
        assert _pg_post_indexes(connection) == before
        assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
        # analysed at the end of the load (a table never analysed has reltuples -1)
        reltuples = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'post'::regclass"
        ).scalar()
        assert reltuples == 40
    engine.dispose()


def test_postgresql_keeps_the_indexes_when_another_session_holds_the_table(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.store
    from db.store import post_indexes_rebuilt

    monkeypatch.setattr(db.store, "INDEX_LOCK_WAIT", "200ms")
    engine = open_database(pg_url)
    other = engine.connect()
    other.exec_driver_sql("SELECT count(*) FROM post").scalar()  # a reader, in a transaction
    try:
        with (
            engine.begin() as connection,
            post_indexes_rebuilt(connection, expected_posts=1_000_000) as dropped,
        ):
            assert not dropped
            # The transaction goes on, with the lock timeout as it was.
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
            writer = PostWriter(connection, collector="test/1", now=NOW)
            writer.write([post_from_record(record(n)) for n in range(5)])
            writer.finish()
    finally:
        other.close()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM post").scalar() == 5
    engine.dispose()


def _batch(connection) -> int:
    table = models.ImportBatch.__table__
    values = {
        "file_name": "x.jsonl", "file_sha256": "", "file_size": 0, "format": "jsonl",
        "importer_version": "t", "started_at": NOW, "status": "running", "read": 0,
        "inserted": 0, "known": 0, "updated": 0, "rejected": 0,
    }  # fmt: skip
    return connection.execute(insert(table).returning(table.c.id), values).scalar_one()


def _orphan_hashtag(connection) -> None:
    connection.exec_driver_sql(
        "INSERT INTO post_hashtag (post_id, position, tag) VALUES (987654, 0, 'orphan')"
    )


def test_a_bulk_load_checks_its_foreign_keys_once_at_the_end(db_url: str) -> None:
    """PostgreSQL: per-row triggers off, the same rows written, and an orphan still refused."""
    engine = open_database(db_url)
    posts = [post_from_record(r) for r in [record(n) for n in range(30)]]
    with engine.begin() as connection:
        batch = _batch(connection)
        with store.foreign_keys_checked_once(connection) as off:
            assert off == db_url.startswith("postgresql")
            writer = PostWriter(connection, collector="t/1", now=NOW, import_batch_id=batch)
            writer.write(posts)
            writer.write([post_from_record(record(3, text="edited"))])
            writer.finish()
        if off:  # back on for the rest of the transaction
            show = connection.exec_driver_sql("SHOW session_replication_role").scalar()
            assert show == "origin"
    assert (_count(engine, models.Post), _count(engine, models.PostVersion)) == (30, 1)
    with pytest.raises(Exception) as raised, engine.begin() as connection:
        _batch(connection)
        with store.foreign_keys_checked_once(connection):
            _orphan_hashtag(connection)
    # PostgreSQL: found by the check; SQLite: refused by its own per-row check.
    assert "987654" in str(raised.value) or "FOREIGN KEY" in str(raised.value)
    if db_url.startswith("postgresql"):
        assert isinstance(raised.value, store.ForeignKeyViolation)
    assert _count(engine, models.PostHashtag) == 30  # one each, the orphan is gone
    engine.dispose()


@pytest.mark.postgres
def test_an_edit_that_points_to_a_missing_account_is_found(pg_url: str) -> None:
    engine = open_database(pg_url)
    _write(engine, [record(1)])
    refused = pytest.raises(store.ForeignKeyViolation, match="account 987654")
    with refused, engine.begin() as connection, store.foreign_keys_checked_once(connection) as off:
        assert off
        writer = PostWriter(connection, collector="t/1", now=NOW)
        writer.write([post_from_record(record(1, text="edited"))])
        writer.finish()
        connection.exec_driver_sql("UPDATE post SET account_id = 987654")
    assert _count(engine, models.PostVersion) == 0
    engine.dispose()


@pytest.mark.postgres
def test_a_role_that_may_not_turn_triggers_off_keeps_them(pg_url: str) -> None:
    engine = open_database(pg_url)
    role = "sw_test_plain_role"
    with engine.begin() as connection:
        exists = connection.exec_driver_sql(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
        ).first()
        if not exists:
            connection.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
        connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        connection.exec_driver_sql(f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
        connection.exec_driver_sql(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}')
    try:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _batch(connection)
            connection.exec_driver_sql(f"SET LOCAL ROLE {role}")
            with store.foreign_keys_checked_once(connection) as off:
                assert not off
                _orphan_hashtag(connection)  # the trigger refuses it at once
    finally:
        with engine.begin() as connection:
            schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
            connection.exec_driver_sql(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}')
            connection.exec_driver_sql(
                f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "{schema}" FROM {role}'
            )
            connection.exec_driver_sql(f'REVOKE USAGE ON SCHEMA "{schema}" FROM {role}')
            connection.exec_driver_sql(f"DROP ROLE {role}")
        engine.dispose()
