"""The collect pass re-reads recent posts: edits are stored as versions, deletions as
tombstones, on SQLite and PostgreSQL, and exports and verification keep working on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from db.engine import open_database
from smearwatch.collect import collect
from smearwatch.config import load_config
from smearwatch.matching import CollectMatching, MentionStep
from tests.collector.conftest import fixture_text

from .collect_helpers import child_env, query, run_cli, started_server, write_config

CH = "qazaq_vesti_example"
FIRST = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
SECOND = FIRST + timedelta(hours=3)


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    yield from started_server()


class Channel:
    def __init__(self, server: HTTPServer) -> None:
        self.newest = "channel_media.html"
        self.down = False
        server.expect_request(f"/s/{CH}").respond_with_handler(self.handle)
        server.expect_request("/s/other_example").respond_with_handler(
            lambda request: Response(
                fixture_text("telegram", "channel_page1.html").replace(
                    "pravda_kz_example", "other_example"
                ),
                content_type="text/html; charset=utf-8",
            )
        )

    def handle(self, request: Request) -> Response:
        if self.down:
            return Response("Service Unavailable", status=503)
        before = request.args.get("before")
        name = {None: self.newest, "203": "recheck_before_203.html"}.get(
            before, "empty_channel.html"
        )
        return Response(fixture_text("telegram", name), content_type="text/html; charset=utf-8")


def config_for(tmp_path: Path, server: HTTPServer, db_url: str, extra: str = ""):
    base = server.url_for("/").rstrip("/")
    path = write_config(
        tmp_path / "smearwatch.toml",
        f"""
[[sources]]
name = "tg"
platform = "telegram"
base_url = "{base}"
channels = ["{CH}"]
backfill = "30d"
{extra}
""",
    )
    return path, load_config(path, database_url=db_url)


def run(engine, config, when: datetime, matching: CollectMatching | None = None):
    hooks = {}
    if matching is not None:
        hooks = {"before_write": matching.before_write, "after_write": matching.after_write}
    return collect(engine, config, clock=lambda: when, **hooks)


def test_edits_become_versions_and_deletions_tombstones(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    fake = Channel(server)
    path, config = config_for(tmp_path, server, db_url)
    engine = open_database(db_url)
    matching = CollectMatching(MentionStep(config.defenders))
    try:
        (first,) = run(engine, config, FIRST, matching)
        assert first.status == "ok" and first.inserted == 7
        assert first.rechecked == 7 and first.deleted == 0 and first.updated == 0
        fake.newest = "recheck_newest.html"
        (second,) = run(engine, config, SECOND, matching)
    finally:
        engine.dispose()
    assert second.status == "ok", second.error
    assert second.inserted == 1  # message 210
    assert second.deleted == 2 and second.updated == 1
    assert "re-read 8 recent, 2 found deleted" in second.line()
    rows = query(
        db_url,
        "SELECT platform_id, version, text, deleted_at, deletion FROM post ORDER BY platform_id",
    )
    by_id = {r[0].rpartition("/")[2]: r for r in rows}
    assert sorted(by_id) == ["201", "202", "203", "206", "207", "208", "209", "210"]
    deleted = {k for k, r in by_id.items() if r[3] is not None}
    assert deleted == {"201", "206"}
    # the tombstone keeps the post as it was last seen, and says when and how it was noticed
    assert by_id["201"][2].startswith("Бахыт Орманова на «закрытой встрече»")
    deletion = by_id["206"][4]
    deletion = orjson.loads(deletion) if isinstance(deletion, str) else deletion
    assert deletion["method"] == "recheck" and deletion["request_url"].endswith(f"/s/{CH}")
    assert deletion["run_id"] == second.run_id
    noticed = by_id["206"][3]
    noticed = datetime.fromisoformat(str(noticed)) if not isinstance(noticed, datetime) else noticed
    assert noticed.replace(tzinfo=UTC) == SECOND
    # the edit is version 2 and version 1 is archived whole
    assert by_id["208"][1] == 2 and by_id["208"][2] == "Ещё один кадр с той встречи."
    (old,) = query(
        db_url,
        "SELECT v.version, v.text FROM post_version v JOIN post p ON p.id = v.post_id "
        "WHERE p.platform_id = :pid",
        pid=f"{CH}/208",
    )
    assert old == (1, "Ещё один кадр с той встречи. Орманова делает вид, что не видит камеру")
    assert all(r[1] == 1 for k, r in by_id.items() if k != "208")  # views changed, text not
    # the edit removed the defender's name: its mention goes with the version that had it
    mentioned = query(
        db_url,
        "SELECT p.platform_id FROM mention m JOIN post p ON p.id = m.post_id "
        "WHERE m.defender_id = 'ormanova'",
    )
    assert f"{CH}/208" not in {r[0] for r in mentioned}
    assert f"{CH}/201" in {r[0] for r in mentioned}  # a tombstone keeps its evidence
    # the cursor still says where the walk is, recheck or not
    ((cursor,),) = query(db_url, "SELECT cursor FROM source WHERE name = 'tg'")
    cursor = orjson.loads(cursor) if isinstance(cursor, str) else cursor
    assert cursor["channels"][CH]["hwm"] == 210


def test_a_third_pass_keeps_tombstones_and_versions(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    fake = Channel(server)
    _, config = config_for(tmp_path, server, db_url)
    engine = open_database(db_url)
    try:
        run(engine, config, FIRST)
        fake.newest = "recheck_newest.html"
        run(engine, config, SECOND)
        (third,) = run(engine, config, SECOND + timedelta(minutes=15))
    finally:
        engine.dispose()
    assert third.status == "ok" and third.deleted == 0 and third.updated == 0
    assert third.rechecked == 6  # the two tombstones are not asked for again
    ((versions,),) = query(db_url, "SELECT count(*) FROM post_version")
    ((tombstones,),) = query(db_url, "SELECT count(*) FROM post WHERE deleted_at IS NOT NULL")
    assert (versions, tombstones) == (1, 2)


def test_recheck_off_and_outside_the_horizon(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    fake = Channel(server)
    _, config = config_for(tmp_path, server, db_url, 'recheck = "0s"')
    engine = open_database(db_url)
    try:
        run(engine, config, FIRST)
        fake.newest = "recheck_newest.html"
        (off,) = run(engine, config, SECOND)
        assert off.rechecked == 0 and off.deleted == 0
        _, config = config_for(tmp_path, server, db_url, 'recheck = "4h"')
        (short,) = run(engine, config, SECOND)
    finally:
        engine.dispose()
    # since 06:30 only 209 (07:00) and 210 (09:30); the edited 208 (06:10) is older
    assert short.rechecked == 2 and short.deleted == 0


def test_a_failing_recheck_marks_the_run_partial_and_spares_the_others(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    fake = Channel(server)
    base = server.url_for("/").rstrip("/")
    path, config = config_for(
        tmp_path,
        server,
        db_url,
        f"""
[[sources]]
name = "tg-other"
platform = "telegram"
base_url = "{base}"
channels = ["other_example"]
backfill = "3650d"
""",
    )
    engine = open_database(db_url)
    try:
        run(engine, config, FIRST)

        calls = {"n": 0}

        def flaky(request: Request) -> Response:
            calls["n"] += 1
            if calls["n"] == 1:  # the collect pass's newest page answers, the recheck not
                return fake.handle(request)
            return Response("Service Unavailable", status=503)

        server.clear()
        server.expect_request(f"/s/{CH}").respond_with_handler(flaky)
        server.expect_request("/s/other_example").respond_with_handler(
            lambda request: Response(
                fixture_text("telegram", "channel_page1.html").replace(
                    "pravda_kz_example", "other_example"
                ),
                content_type="text/html; charset=utf-8",
            )
        )
        tg, other = run(engine, config, SECOND)
    finally:
        engine.dispose()
    assert tg.status == "partial"
    assert "re-reading recent posts" in tg.error and "503" in tg.error
    assert other.status == "ok"
    ((tombstones,),) = query(db_url, "SELECT count(*) FROM post WHERE deleted_at IS NOT NULL")
    assert tombstones == 0
    ((status, error),) = query(
        db_url,
        "SELECT r.status, r.error FROM collection_run r JOIN source s ON s.id = r.source_id "
        "WHERE s.name = 'tg' ORDER BY r.id DESC LIMIT 1",
    )
    assert status == "partial" and "re-reading recent posts" in error


def test_exports_and_verify_carry_tombstones(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    fake = Channel(server)
    path, config = config_for(tmp_path, server, db_url)
    engine = open_database(db_url)
    try:
        run(engine, config, FIRST)
        fake.newest = "recheck_newest.html"
        run(engine, config, SECOND)
    finally:
        engine.dispose()
    env = child_env()
    out = tmp_path / "posts.jsonl"
    result = run_cli(path, db_url, "export", "posts", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    records = {r["post_id"]: r for r in map(orjson.loads, out.read_text().splitlines())}
    assert len(records) == 8
    assert records[f"{CH}/201"]["deleted_at"] == SECOND.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert records[f"{CH}/202"]["deleted_at"] is None
    assert records[f"{CH}/201"]["text"].startswith("Бахыт Орманова")
    csv_out = tmp_path / "posts.csv"
    result = run_cli(path, db_url, "export", "posts", "--out", str(csv_out), env=env)
    assert result.returncode == 0, result.stderr
    header = csv_out.read_text(encoding="utf-8").splitlines()[0]
    assert "deleted_at" in header.split(",")
    verified = run_cli(path, db_url, "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verified 8 post payload(s) and 1 earlier version(s)" in verified.stdout
    shown = run_cli(path, db_url, "status", env=dict(env, COLUMNS="200"))
    assert "Posts found deleted on their platform (kept as tombstones): 2" in shown.stdout
    # the export imports back into a fresh database
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    imported = run_cli(path, fresh, "import", str(out), env=env)
    assert imported.returncode == 0, imported.stdout + imported.stderr
