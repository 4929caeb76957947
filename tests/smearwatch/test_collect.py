"""`smearwatch collect` end to end, as a subprocess, against one local server playing all four
platforms with the recorded-style fixtures of the collector tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.collector.conftest import fixture_text
from tests.collector.test_bluesky import PASSWORD, FakeBluesky
from tests.collector.test_mastodon import TAG, FakeMastodon
from tests.collector.test_rss import FakeFeeds
from tests.collector.test_telegram import CH, FakeTelegram

from .collect_helpers import child_env, query, run_cli, started_server, write_config


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    yield from started_server()


def all_platforms(server: HTTPServer) -> str:
    """Register the four fakes and return the `[[sources]]` tables that point at them."""
    FakeBluesky(server)
    FakeMastodon(server)
    FakeTelegram(server)
    FakeFeeds(server)
    base = server.url_for("/").rstrip("/")
    return f"""
[[sources]]
name = "bluesky"
platform = "bluesky"
base_url = "{base}"
appview_url = "{base}"
identifier = "research-account.example"
queries = ["Орманова"]
authors = ["user8812734.bsky.social"]
backfill = "3650d"

[[sources]]
name = "mastodon-example"
platform = "mastodon"
base_url = "{base}"
hashtags = ["{TAG}"]
accounts = ["kz_watch@mastodon.example"]
page_size = 2
backfill = "3650d"

[[sources]]
name = "telegram"
platform = "telegram"
base_url = "{base}"
channels = ["{CH}"]
backfill = "3650d"

[[sources]]
name = "news"
platform = "rss"
feeds = ["{base}/feed.xml", "{base}/atom.xml"]
backfill = "3650d"
"""


def counts(db_url: str) -> dict[str, int]:
    rows = query(db_url, "SELECT platform, count(*) FROM post GROUP BY platform")
    return {platform: n for platform, n in rows}


def runs(db_url: str) -> dict[str, list[tuple[str, int, int, str | None]]]:
    rows = query(
        db_url,
        "SELECT s.name, r.status, r.fetched, r.inserted, r.error FROM collection_run r "
        "JOIN source s ON s.id = r.source_id ORDER BY r.id",
    )
    found: dict[str, list[tuple[str, int, int, str | None]]] = {}
    for name, status, fetched, inserted, error in rows:
        found.setdefault(name, []).append((status, fetched, inserted, error))
    return found


def test_collect_all_platforms_then_again_without_duplicates(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    config = write_config(tmp_path / "smearwatch.toml", all_platforms(server))
    env = child_env(SMEARWATCH_BLUESKY_APP_PASSWORD=PASSWORD)

    first = run_cli(config, db_url, "collect", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    stored = counts(db_url)
    assert set(stored) == {"bluesky", "mastodon", "telegram", "rss"}
    assert all(n > 0 for n in stored.values())
    for name in ("bluesky", "mastodon-example", "telegram", "news"):
        assert re.search(rf"^{name} \(\w+\): ok; fetched \d+, inserted \d+", first.stdout, re.M)
    assert PASSWORD not in first.stdout + first.stderr

    first_runs = runs(db_url)
    assert {name: [r[0] for r in rs] for name, rs in first_runs.items()} == {
        "bluesky": ["ok"],
        "mastodon-example": ["ok"],
        "telegram": ["ok"],
        "news": ["ok"],
    }
    assert sum(r[0][2] for r in first_runs.values()) == sum(stored.values())
    cursors = dict(query(db_url, "SELECT name, cursor IS NOT NULL FROM source"))
    assert cursors == {"bluesky": 1, "mastodon-example": 1, "telegram": 1, "news": 1} or all(
        cursors.values()
    )
    # Provenance: which run, which request, which collector.
    row = query(
        db_url,
        "SELECT collector, source_name, collection_run_id, provenance FROM post "
        "WHERE platform = 'telegram' ORDER BY id LIMIT 1",
    )[0]
    assert row[0] == "telegram/1" and row[1] == "telegram" and row[2] is not None
    provenance = row[3] if isinstance(row[3], dict) else __import__("json").loads(row[3])
    assert provenance["method"] == "collect"
    assert provenance["request_url"].startswith(server.url_for("/s/"))
    assert provenance["status"] == 200 and provenance["fetched_at"]
    assert provenance["channel"] == CH

    second = run_cli(config, db_url, "collect", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert counts(db_url) == stored
    duplicates = query(
        db_url,
        "SELECT platform, platform_id FROM post GROUP BY platform, platform_id HAVING count(*) > 1",
    )
    assert duplicates == []
    second_runs = runs(db_url)
    assert all(rs[-1][0] == "ok" and rs[-1][2] == 0 for rs in second_runs.values()), second_runs
    assert "inserted 0" in second.stdout


def test_a_failing_source_is_recorded_and_the_others_succeed(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    sources = all_platforms(server)
    base = server.url_for("/").rstrip("/")
    server.expect_request(re.compile(r"^/broken/.*")).respond_with_response(
        Response("upstream exploded", status=500)
    )
    server.expect_request(re.compile(r"^/refused/.*")).respond_with_response(
        Response(
            fixture_text("bluesky", "403_forbidden.html"), status=403, content_type="text/html"
        )
    )
    sources += f"""
[[sources]]
name = "broken-instance"
platform = "mastodon"
base_url = "{base}/broken"
hashtags = ["{TAG}"]

[[sources]]
name = "refused-telegram"
platform = "telegram"
base_url = "{base}/refused"
channels = ["{CH}"]
"""
    config = write_config(tmp_path / "smearwatch.toml", sources)
    env = child_env(SMEARWATCH_BLUESKY_APP_PASSWORD=PASSWORD)
    result = run_cli(config, db_url, "collect", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    recorded = runs(db_url)
    for name in ("bluesky", "mastodon-example", "telegram", "news"):
        assert recorded[name][0][0] == "ok"
    status, fetched, inserted, error = recorded["broken-instance"][0]
    assert status == "failed" and fetched == 0 and inserted == 0
    assert error and "500" in error
    status, _, _, error = recorded["refused-telegram"][0]
    assert status in ("failed", "partial")
    assert error and "refused" in error.lower()
    assert re.search(r"^broken-instance \(mastodon\): failed;.*error:", result.stdout, re.M)
    assert set(counts(db_url)) == {"bluesky", "mastodon", "telegram", "rss"}
    finished = query(db_url, "SELECT count(*) FROM collection_run WHERE finished_at IS NULL")
    assert finished[0][0] == 0


def test_collect_only_the_named_source(server: HTTPServer, tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path / "smearwatch.toml", all_platforms(server))
    result = run_cli(config, db_url, "collect", "--source", "news", env=child_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(counts(db_url)) == {"rss"}
    unknown = run_cli(config, db_url, "collect", "--source", "nope", env=child_env())
    assert unknown.returncode == 1
    assert "no source named 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
