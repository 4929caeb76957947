"""The kill test: `smearwatch collect` killed with SIGKILL at random moments, restarted, ends
with every served post stored exactly once.

The server is slow (many small pages) and new posts keep arriving at the top of the listings
while the runs are killed, which is where a cursor that moved before its posts were committed,
or a high-water mark that moved before a walk reached it, would lose posts.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.fake_platforms import IDENTIFIER, PASSWORD, TAG, FakePlatforms

from .collect_helpers import child_env, cli_command, query, run_cli, write_config

KILLS = 5
DEADLINE = 55.0  # seconds for the whole test, on either backend


def sources(base: str) -> str:
    return f"""
[[sources]]
name = "bsky"
platform = "bluesky"
base_url = "{base}"
appview_url = "{base}"
identifier = "{IDENTIFIER}"
queries = ["Орманова"]
page_size = 25
max_pages = 1000
overlap = "1s"
backfill = "30d"
recheck = "0s"  # this test is about the cursor walk under kill -9 (and its time budget)

[[sources]]
name = "masto"
platform = "mastodon"
base_url = "{base}"
hashtags = ["{TAG}"]
page_size = 20
max_pages = 1000
overlap = "1s"
backfill = "30d"
recheck = "0s"  # this test is about the cursor walk under kill -9 (and its time budget)
"""


def stored(db_url: str, platform: str) -> list[str]:
    rows = query(db_url, "SELECT platform_id FROM post WHERE platform = :p", p=platform)
    return [row[0] for row in rows]


@pytest.mark.slow
def test_killed_collections_store_every_post_exactly_once(tmp_path: Path, db_url: str) -> None:
    seed = int(os.environ.get("SMEARWATCH_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    began = time.monotonic()
    with FakePlatforms(1500, visible=900, arrive_per_request=3, delay=0.03) as server:
        config = write_config(tmp_path / "smearwatch.toml", sources(server.url))
        env = child_env(SMEARWATCH_BLUESKY_APP_PASSWORD=PASSWORD)
        # Create the schema first, so the kills land in the collection and not in migration.
        assert run_cli(config, db_url, "status", env=env).returncode == 0
        kills_mid_run = 0
        for _ in range(KILLS):
            process = subprocess.Popen(
                cli_command(config, db_url, "collect"),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Kill after the collection has begun (not while Python starts), at a random
            # moment of its walk: mid-request, mid-transaction or between pages.
            before = server.requests
            wait_until = time.monotonic() + 15
            while server.requests == before and process.poll() is None:
                assert time.monotonic() < wait_until, "collect never reached the server"
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 1.0))
            if process.poll() is None:
                kills_mid_run += 1
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        assert kills_mid_run >= 2, f"the runs finished too early to be killed (seed {seed})"
        assert time.monotonic() - began < DEADLINE, f"killing took too long (seed {seed})"

        server.freeze()
        outcomes = []
        for _ in range(3):  # finish the interrupted walks, then one pass to pick up arrivals
            result = run_cli(config, db_url, "collect", env=env, timeout=DEADLINE)
            outcomes.append(result.returncode)
            assert result.returncode == 0, (seed, result.stdout, result.stderr)
        served = server.served_uris()
        visible = server.visible

    for platform in ("bluesky", "mastodon"):
        ids = stored(db_url, platform)
        assert len(ids) == len(set(ids)), f"duplicates on {platform} (seed {seed})"
        missing = served[platform] - set(ids)
        assert not missing, f"{len(missing)} served {platform} posts missing (seed {seed})"
        # and nothing that was visible was skipped without ever being served
        assert len(ids) == visible, (platform, len(ids), visible, seed)
    interrupted = query(db_url, "SELECT count(*) FROM collection_run WHERE status = 'interrupted'")[
        0
    ][0]
    assert interrupted >= 1
    assert query(db_url, "SELECT count(*) FROM collection_run WHERE status = 'running'")[0][0] == 0
    assert time.monotonic() - began < DEADLINE + 5, f"took too long (seed {seed})"
