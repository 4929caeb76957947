"""Reading an import in worker processes stores exactly what reading it here stores."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Engine, inspect, select

from collector.files import FORMATS, ImportFormatError, open_export
from collector.formats.base import ExportFile
from collector.post import evidence_id
from db import fulltext, models
from db.engine import open_database
from db.store import PostPreparer
from smearwatch import pipeline
from smearwatch.config import Defender
from smearwatch.import_worker import WorkerFailed
from smearwatch.matching import MentionStep
from smearwatch.pipeline import (
    ImportRejected,
    _database_holds_posts,
    _start_worker,
    import_file,
)
from smearwatch.web.queries import PostFilter, search_posts
from tests.factories import record

DEFENDERS = (Defender("ormanova", "Bakhyt Ormanova", ("Бахыт Орманова", "Ormanova")),)


def _records(count: int) -> list[dict[str, Any]]:
    """Varied posts: many accounts, edits and exact repeats inside the file."""
    rows = []
    for n in range(count):
        extra: dict[str, Any] = {"author": {**record(n)["author"], "id": f"did:plc:w{n % 31}"}}
        if n % 5 == 0:
            extra["text"] = f"Ormanova — foreign agent, post {n}"
        if n % 7 == 0:
            extra["links"] = []
        rows.append(record(n, **extra))
    rows.append(record(3, text="Исправленный текст про Орманову"))  # an edit of post 3
    rows.append(rows[10])  # the same line again
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _stored(engine: Engine) -> dict[str, Any]:
    """What an analyst sees of the import, without row ids and run times."""
    post = models.Post.__table__
    with engine.connect() as connection:
        posts = connection.execute(
            select(
                post.c.platform, post.c.platform_id, post.c.text, post.c.raw,
                post.c.raw_sha256, post.c.content_sha256, post.c.source_sha256,
                post.c.version, post.c.created_at, post.c.evidence_id, post.c.provenance,
            ).order_by(post.c.platform_id)
        ).all()  # fmt: skip
        accounts = connection.execute(
            select(
                models.Account.platform_id, models.Account.handle,
                models.Account.first_seen, models.Account.last_seen,
            ).order_by(models.Account.platform_id)
        ).all()  # fmt: skip
        links = connection.execute(
            select(post.c.platform_id, models.PostLink.position, models.PostLink.normalized_url)
            .join(post, post.c.id == models.PostLink.post_id)
            .order_by(post.c.platform_id, models.PostLink.position)
        ).all()
        mentions = connection.execute(
            select(post.c.platform_id, models.Mention.defender_id, models.Mention.start)
            .join(post, post.c.id == models.Mention.post_id)
            .order_by(post.c.platform_id, models.Mention.start)
        ).all()
        versions = connection.execute(select(models.PostVersion.text)).scalars().all()
    return {
        "posts": posts,
        "accounts": accounts,
        "links": links,
        "mentions": mentions,
        "versions": versions,
    }


def test_workers_store_exactly_what_reading_here_stores(
    db_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # 4,602 lines: batches of 1,000 lines, an odd count of them, shared by two workers.
    data = _write(tmp_path / "posts.jsonl", _records(4600))
    results = []
    for parallel in (False, True):
        if db_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'smearwatch.db'}"
        else:
            url = db_url
        engine = open_database(url)
        if not db_url.startswith("sqlite"):
            with engine.begin() as connection:  # the same PostgreSQL schema for both runs
                for table in reversed(models.Base.metadata.sorted_tables):
                    connection.execute(table.delete())
        summary = import_file(engine, data, parallel=parallel, mentions=MentionStep(DEFENDERS))
        results.append((summary.read, summary.inserted, summary.known, summary.updated,
                        summary.mentions, summary.file_sha256, _stored(engine)))  # fmt: skip
        engine.dispose()
    here, workers = results
    assert here[:4] == (4602, 4600, 1, 1)
    assert here[4] > 4600  # every post names her, some twice
    assert workers == here


def test_a_reimport_through_workers_recognises_every_line(db_url: str, tmp_path: Path) -> None:
    data = _write(tmp_path / "posts.jsonl", [record(n) for n in range(2500)])
    engine = open_database(db_url)
    # As the command line does it: a matcher, here with no defenders configured.
    first = import_file(engine, data, parallel=True, mentions=MentionStep(()))
    assert (first.inserted, first.mentions) == (2500, 0)
    again = import_file(engine, data, parallel=True)
    assert (again.read, again.inserted, again.known, again.updated) == (2500, 0, 2500, 0)
    engine.dispose()


def test_a_bad_line_read_by_a_worker_is_named_and_nothing_is_kept(
    db_url: str, tmp_path: Path
) -> None:
    lines = [orjson.dumps(record(n)) for n in range(3000)]
    lines[2100] = b'{"platform": "bluesky", "post_id": "x", "created_at": "yesterday"}'
    data = tmp_path / "posts.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    engine = open_database(db_url)
    with pytest.raises(ImportRejected) as rejected:
        import_file(engine, data, parallel=True)
    assert "line 2101, field 'created_at'" in str(rejected.value)
    assert _count(engine, models.Post) == 0
    summary = import_file(engine, data, parallel=True, skip_invalid=True)
    assert (summary.inserted, summary.rejected) == (2999, 1)
    rejects = Path(summary.rejects_path or "").read_bytes().splitlines()
    assert orjson.loads(rejects[0])["line"] == 2101
    engine.dispose()


def test_gzip_and_csv_files_go_through_a_worker_too(db_url: str, tmp_path: Path) -> None:
    packed = tmp_path / "posts.jsonl.gz"
    lines = b"".join(orjson.dumps(record(n)) + b"\n" for n in range(1500))
    packed.write_bytes(gzip.compress(lines))
    table = tmp_path / "posts.csv"
    table.write_text(
        "platform,post_id,created_at,author_id,text\n"
        + "".join(f"telegram,chan/{n},2026-11-20T10:00:00Z,chan,Пост {n}\n" for n in range(30)),
        encoding="utf-8",
    )
    engine = open_database(db_url)
    assert import_file(engine, packed, parallel=True).inserted == 1500
    assert import_file(engine, table, parallel=True).inserted == 30
    engine.dispose()


@pytest.mark.parametrize("parallel", [False, True])
def test_a_file_that_breaks_half_way_is_reported_and_nothing_is_kept(
    db_url: str, tmp_path: Path, parallel: bool
) -> None:
    packed = tmp_path / "posts.jsonl.gz"
    whole = gzip.compress(b"".join(orjson.dumps(record(n)) + b"\n" for n in range(3000)))
    packed.write_bytes(whole[: len(whole) * 2 // 3])  # a download cut off
    engine = open_database(db_url)
    with pytest.raises(ImportFormatError, match="damaged or cut off"):
        import_file(engine, packed, parallel=parallel)
    assert _count(engine, models.Post) == 0
    engine.dispose()


class _DyingReader:
    """A reader whose process dies half way through the file, as if killed."""

    name = "dying"
    description = "test reader"

    def sniff(self, head: str, filename: str) -> bool:
        return False

    def read(self, export: ExportFile) -> Any:
        for line, parsed in enumerate(FORMATS["jsonl"].read(export), start=1):
            if line == 1500:
                os._exit(9)
            yield parsed


class _FailingReader(_DyingReader):
    def read(self, export: ExportFile) -> Any:
        yield from list(FORMATS["jsonl"].read(export))[:10]
        raise RuntimeError("the reader broke")


@pytest.mark.parametrize(
    ("reader", "message"),
    [(_DyingReader(), "exit code 9"), (_FailingReader(), "the reader broke")],
)
def test_a_worker_that_dies_or_fails_leaves_nothing_behind(
    db_url: str, tmp_path: Path, reader: Any, message: str
) -> None:
    data = _write(tmp_path / "posts.jsonl", [record(n) for n in range(3000)])
    engine = open_database(db_url)
    with pytest.raises(WorkerFailed, match=message):
        import_file(engine, data, fmt=reader, parallel=True)
    assert _count(engine, models.Post) == 0
    assert _count(engine, models.ImportBatch) == 0
    # and the next import of the file works
    assert import_file(engine, data, parallel=True).inserted == 3000
    engine.dispose()


class _EndlessReader(_DyingReader):
    """The file's records again and again: reading it takes minutes unless stopped."""

    def read(self, export: ExportFile) -> Any:
        records = list(FORMATS["jsonl"].read(export))
        for _ in range(1000):
            yield from records


def test_a_worker_stops_when_the_import_process_is_gone(tmp_path: Path) -> None:
    from db.store import PostPreparer
    from smearwatch.import_worker import _Worker

    data = _write(tmp_path / "posts.jsonl", [record(n) for n in range(2000)])
    preparer = PostPreparer(True, datetime.now(UTC), None)
    worker = _Worker((str(data), _EndlessReader(), preparer, None, None, 0, 1))
    assert worker.receive()[0] == "batch"
    worker.stop_reading()  # as if the import process had been killed: the pipe closes
    try:
        assert worker.process.wait(timeout=20) == 0
    finally:
        if worker.process.poll() is None:
            worker.process.kill()


def test_without_an_interpreter_to_start_the_file_is_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write(tmp_path / "posts.jsonl", [record(n) for n in range(500)])
    engine = open_database(f"sqlite:///{tmp_path / 'smearwatch.db'}")
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    assert import_file(engine, data, parallel=True).inserted == 500
    engine.dispose()


def test_a_database_in_memory_is_written_here_while_workers_read(tmp_path: Path) -> None:
    data = _write(tmp_path / "posts.jsonl", [record(n) for n in range(1200)])
    engine = open_database("sqlite://")
    assert import_file(engine, data, parallel=True).inserted == 1200
    assert import_file(engine, data, parallel=True).known == 1200
    engine.dispose()


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(model.__table__.c.id)).all())


def test_a_bulk_import_rebuilds_the_post_indexes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.store
    import smearwatch.pipeline

    # Take this small file for a large one, so the indexes are dropped and built again.
    monkeypatch.setattr(db.store, "BULK_REBUILD_MIN", 1)
    monkeypatch.setattr(smearwatch.pipeline, "BYTES_PER_POST_AT_MOST", 1)
    rows = [record(n) for n in range(3000)]
    rows[2500] = record(2500, text="Бахыт — шетелдік агент? Жаңа ТОЛҚЫН", raw={"n": 2500})
    data = _write(tmp_path / "posts.jsonl", rows)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(data.read_bytes() + b"{not json\n")
    engine = open_database(db_url)
    names = {index.name for index in models.Post.__table__.indexes}
    with pytest.raises(ImportRejected):
        import_file(engine, bad, parallel=True)
    assert import_file(engine, data, parallel=True).inserted == 3000
    with engine.connect() as connection:
        present = {index["name"] for index in inspect(connection).get_indexes("post")}
        found = connection.execute(
            select(models.Post.id).where(
                models.Post.evidence_id == evidence_id("bluesky", record(1)["post_id"])
            )
        ).all()
    assert names <= present
    assert len(found) == 1
    # The full-text index holds the load's posts (on SQLite built once, at the load's end).
    with engine.connect() as connection:
        hits = search_posts(connection, PostFilter(text="толқын"), limit=10)
        if engine.dialect.name == "sqlite":
            table = fulltext.SQLITE_TABLE
            connection.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
    assert [hit.platform_id for hit in hits] == [record(2500)["post_id"]]
    engine.dispose()


def test_workers_connect_only_to_a_database_that_holds_posts(db_url: str, tmp_path: Path) -> None:
    engine = open_database(db_url)
    data = _write(tmp_path / "posts.jsonl", [record(n) for n in range(50)])
    preparer = PostPreparer(engine.dialect.name == "sqlite", datetime.now(UTC), None)

    def worker_url() -> str | None:
        with open_export(data) as export:
            worker = _start_worker(engine, export, FORMATS["jsonl"], preparer, None, True)
            assert worker is not None
            worker.close()
            return worker.database_url

    assert not _database_holds_posts(engine)
    assert worker_url() is None  # a first import: nothing to recognise, no connection
    import_file(engine, data)
    assert _database_holds_posts(engine)
    assert worker_url() is not None  # a re-import: the workers skip the lines stored
    engine.dispose()


def test_a_first_import_with_workers_writes_pages_once_and_stores_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write(tmp_path / "posts.jsonl", _records(3000))
    here = open_database(f"sqlite:///{tmp_path / 'here.db'}")
    import_file(here, data, parallel=False)
    monkeypatch.setattr("db.store.WRITTEN_ONCE_MIN_POSTS", 1)
    switched: list[bool] = []
    original = pipeline.pages_written_once

    @contextmanager
    def watched(connection: Connection, *, expected_posts: int) -> Iterator[bool]:
        with original(connection, expected_posts=expected_posts) as result:
            switched.append(result)
            yield result

    monkeypatch.setattr(pipeline, "pages_written_once", watched)
    engine = open_database(f"sqlite:///{tmp_path / 'workers.db'}")
    summary = import_file(engine, data, parallel=True)
    assert switched == [True]
    assert summary.inserted == len({(r["platform"], r["post_id"]) for r in _records(3000)})
    assert _stored(engine) == _stored(here)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert import_file(engine, data, parallel=True).inserted == 0
    assert switched == [True, False]  # it holds posts now: WAL mode stays
    engine.dispose()
    here.dispose()
