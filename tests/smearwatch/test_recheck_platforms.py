"""The collect pass's recheck wired for Mastodon and Bluesky, on SQLite and PostgreSQL: the
platforms' own answers (404, `edited_at`, missing from `getPosts`) become versions and
tombstones in the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from collector.bluesky import reset_caches
from db.engine import open_database
from smearwatch.collect import collect
from smearwatch.config import load_config
from tests.collector.test_bluesky import FakeBluesky
from tests.collector.test_bluesky_recheck import FakeAppView
from tests.collector.test_mastodon import TAG, FakeMastodon
from tests.collector.test_mastodon_recheck import EDITED, GONE_ID, STATUSES, FakeStatuses

from .collect_helpers import query, started_server, write_config

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    yield from started_server()


def _collect(tmp_path: Path, db_url: str, sources: str):
    config = load_config(write_config(tmp_path / "smearwatch.toml", sources), database_url=db_url)
    engine = open_database(db_url)
    try:
        return collect(engine, config, clock=lambda: NOW, env={})
    finally:
        engine.dispose()


def test_mastodon_edit_and_deletion(server: HTTPServer, tmp_path: Path, db_url: str) -> None:
    FakeMastodon(server)
    FakeStatuses(server)
    base = server.url_for("/").rstrip("/")
    (summary,) = _collect(
        tmp_path,
        db_url,
        f"""
[[sources]]
name = "masto"
platform = "mastodon"
base_url = "{base}"
hashtags = ["{TAG}"]
page_size = 2
backfill = "3650d"
recheck = "60d"
""",
    )
    assert summary.status == "ok", summary.error
    assert summary.deleted == 1 and summary.updated == 1
    rows = {
        r[0]: r[1:]
        for r in query(db_url, "SELECT platform_id, version, text, deleted_at FROM post")
    }
    assert rows[STATUSES[GONE_ID]["uri"]][2] is not None  # a tombstone, its text kept
    assert rows[STATUSES[GONE_ID]["uri"]][1].startswith("Снова атакуют")
    version, text, deleted = rows[EDITED["uri"]]
    assert version == 2 and deleted is None
    assert text.startswith("Орманова — иностранный агент? Мы лишь задаём вопросы.")
    ((old,),) = query(db_url, "SELECT text FROM post_version")
    assert old.startswith("Орманова — иностранный агент.\n")
    assert sum(1 for r in rows.values() if r[2] is not None) == 1


def test_bluesky_posts_missing_from_getposts(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    reset_caches()
    FakeBluesky(server)
    FakeAppView(server)
    base = server.url_for("/").rstrip("/")
    (summary,) = _collect(
        tmp_path,
        db_url,
        f"""
[[sources]]
name = "bsky"
platform = "bluesky"
base_url = "{base}"
appview_url = "{base}"
queries = []
authors = ["user8812734.bsky.social"]
backfill = "3650d"
recheck = "60d"
""",
    )
    assert summary.status == "ok", summary.error
    rows = dict(query(db_url, "SELECT platform_id, deleted_at FROM post"))
    alive = {k for k, v in rows.items() if v is None}
    gone = {k.rsplit("/", 1)[1] for k, v in rows.items() if v is not None}
    # getPosts still serves 3m2aaaaaaaa3x; the author's other posts are gone from the AppView
    assert gone == {"3m2bbbbbbbb2a", "3m26ccccccc2a", "3m1ddddddddd2"}
    assert summary.deleted == 3
    assert any(k.endswith("/3m2aaaaaaaa3x") for k in alive)
    assert any("/app.bsky.feed.repost/" in k for k in alive)  # reposts are not re-read
