"""`smearwatch collect` and `status` on a Mastodon instance that shows one hashtag to
logged-in users only: that stream fails, the rest of the source is stored, and both
commands name the failed stream."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.collector.test_mastodon import TAG, FakeMastodon

from .collect_helpers import child_env, query, run_cli, started_server, write_config

CLOSED = "закрыто"


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    yield from started_server()


def test_login_only_hashtag_is_named_in_collect_and_status(
    server: HTTPServer, tmp_path: Path, db_url: str
) -> None:
    fake = FakeMastodon(server)
    fake.tags[CLOSED] = fake.tags[TAG]
    fake.login_only_tags.add(CLOSED)
    base = server.url_for("/").rstrip("/")
    config = write_config(
        tmp_path / "smearwatch.toml",
        f"""
[[sources]]
name = "masto"
platform = "mastodon"
base_url = "{base}"
hashtags = ["{CLOSED}", "{TAG}"]
accounts = ["kz_watch@mastodon.example"]
page_size = 2
backfill = "3650d"
""",
    )
    env = child_env()
    result = run_cli(config, db_url, "collect", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"^masto \(mastodon\): partial;.*#{CLOSED}", result.stdout, re.M | re.S)
    ((status, error, inserted),) = query(
        db_url, "SELECT status, error, inserted FROM collection_run"
    )
    assert status == "partial" and inserted > 0
    assert f"#{CLOSED}: authentication failed: HTTP 401" in error
    assert "SMEARWATCH_MASTODON_TOKEN" in error and f"#{TAG}" not in error
    # the healthy hashtag and the account kept their cursors
    (cursor,) = query(db_url, "SELECT cursor FROM source WHERE name = 'masto'")[0]
    cursor = cursor if isinstance(cursor, dict) else __import__("json").loads(cursor)
    assert set(cursor["tags"]) == {TAG} and set(cursor["accounts"]) == {"kz_watch@mastodon.example"}
    shown = run_cli(config, db_url, "status", env=dict(env, COLUMNS="200")).stdout
    assert re.search(rf"masto\s.*mastodon\s.*partial.*#{CLOSED}", shown), shown
