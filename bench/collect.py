"""Collect benchmark: a local server serves N synthetic posts; time one `collect` pass into SQLite.

Measures the whole path a real collection takes (HTTP request and response through the shared
client, JSON parsing, mapping to `Post`, one transaction per page with the cursor) except the
network latency of a real platform. Target: >= 2,000 posts/s on the reference machine.

Usage: python bench/collect.py [--posts 20000] [--platform bluesky|mastodon] [--database URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fake_platforms import IDENTIFIER, PASSWORD, TAG, FakePlatforms  # noqa: E402
from db.engine import open_database  # noqa: E402
from smearwatch.collect import collect  # noqa: E402
from smearwatch.config import load_config  # noqa: E402

TARGET = 2000.0


def config_text(platform: str, base: str, database_url: str) -> str:
    common = f"""
[database]
url = "{database_url}"

[http]
min_interval = 0.0
per_host_limit = 4
"""
    if platform == "bluesky":
        return (
            common
            + f"""
[[sources]]
name = "bench-bluesky"
platform = "bluesky"
base_url = "{base}"
appview_url = "{base}"
identifier = "{IDENTIFIER}"
queries = ["Орманова"]
page_size = 100
max_pages = 100000
backfill = "3650d"
"""
        )
    return (
        common
        + f"""
[[sources]]
name = "bench-mastodon"
platform = "mastodon"
base_url = "{base}"
hashtags = ["{TAG}"]
page_size = 40
max_pages = 100000
backfill = "3650d"
"""
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--platform", choices=["bluesky", "mastodon"], default="bluesky")
    parser.add_argument("--database", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FakePlatforms(args.posts) as server:
        database_url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        config_path = Path(tmp) / "smearwatch.toml"
        config_path.write_text(config_text(args.platform, server.url, database_url), "utf-8")
        config = load_config(config_path)
        engine = open_database(config.database_url)
        started = time.perf_counter()
        summaries = collect(engine, config, env={"SMEARWATCH_BLUESKY_APP_PASSWORD": PASSWORD})
        seconds = time.perf_counter() - started
        engine.dispose()
    summary = summaries[0]
    rate = summary.inserted / seconds if seconds else 0.0
    print(summary.line())
    print(
        f"{args.platform}: {summary.inserted:,} posts in {summary.pages:,} pages, "
        f"{seconds:.2f} s, {rate:,.0f} posts/s (target >= {TARGET:,.0f})"
    )
    if summary.status != "ok" or summary.inserted != args.posts:
        print(f"FAILED: expected {args.posts:,} new posts and status ok", file=sys.stderr)
        return 1
    return 0 if rate >= TARGET else 2


if __name__ == "__main__":
    raise SystemExit(main())
