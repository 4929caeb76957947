"""`smearwatch status` and `status --check` on a database the daemon never ran on: no crash,
and words that tell the operator what is going on."""

from __future__ import annotations

from pathlib import Path

from .collect_helpers import child_env, run_cli, write_config

SOURCE = """
[[sources]]
name = "news"
platform = "rss"
feeds = ["http://127.0.0.1:9/feed.xml"]
every = "15m"
"""


def test_status_and_check_on_a_database_the_daemon_never_ran_on(
    tmp_path: Path, db_url: str
) -> None:
    config = write_config(tmp_path / "smearwatch.toml", SOURCE)
    env = child_env()
    check = run_cli(config, db_url, "status", "--check", env=env)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "Traceback" not in check.stderr
    assert check.stdout.strip().splitlines() == [
        "PROBLEM: daemon not running: it has never run on this database (start it with "
        "'smearwatch daemon' or the systemd unit)"
    ]
    status = run_cli(config, db_url, "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Traceback" not in status.stderr
    out = " ".join(status.stdout.split())
    assert "it has never run on this database" in out
    assert "Daemon jobs: none recorded yet" in out
    assert "No posts yet" in out
