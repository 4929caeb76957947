"""Alerts end to end through `smearwatch daemon` as a subprocess: a local server plays Bluesky
with a week of ordinary posts, a planted threat against a defender and a sharp burst of posts
about her in the last half hour; a local SMTP server and a local webhook receiver count what
arrives. Each event is delivered exactly once per channel, also across a daemon restart."""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.fake_platforms import IDENTIFIER, PASSWORD, FakePlatforms

from .alert_helpers import Hook, Inbox
from .collect_helpers import child_env, query, run_cli, write_config
from .test_daemon import start_daemon, wait_for

ORDINARY = 150  # posts spread over the last six days: the baseline
BURST = 30  # posts about the defender in the last half hour
THREAT = "Орманова, мы знаем где ты живёшь. Тебе конец."


def planted_server(now: datetime) -> FakePlatforms:
    week_ago = now - timedelta(days=6)
    total = ORDINARY + BURST + 1

    def created(i: int) -> datetime:
        if i < ORDINARY:  # one every hour, up to about two days ago
            return week_ago + timedelta(hours=i * 0.7)
        return now - timedelta(minutes=30) + timedelta(seconds=(i - ORDINARY) * 50)

    def text(i: int) -> str | None:
        if i == ORDINARY + BURST // 2:
            return THREAT
        if i >= ORDINARY:
            return f"Бахыт Орманова опять в новостях, выпуск {i}"
        return None

    return FakePlatforms(total, start=week_ago, created_at=created, text=text)


def alert_runs(log: Path) -> int:
    """How many runs of the alerts job the daemon's JSON log reports."""
    return log.read_text(encoding="utf-8").count('"job":"alerts","status"')


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0


def test_daemon_delivers_a_threat_and_a_burst_once_each_even_after_a_restart(
    tmp_path: Path, db_url: str, smtp: tuple[Inbox, int], hook: Hook
) -> None:
    inbox, port = smtp
    now = datetime.now(UTC)
    with planted_server(now) as server:
        config = write_config(
            tmp_path / "smearwatch.toml",
            f"""
[daemon]
heartbeat = "1s"
shutdown_timeout = "6s"
jitter = "0s"
analysis_every = "1h"

[alerts]
every = "1s"
burst_window = "1h"
burst_baseline = "7d"
burst_min_posts = 10
burst_factor = 5
smtp_host = "127.0.0.1"
smtp_port = {port}
smtp_from = "smearwatch@ngo.example"
smtp_to = ["duty@ngo.example"]
smtp_starttls = false
webhook_url = "{hook.url}"

[[sources]]
name = "bsky"
platform = "bluesky"
base_url = "{server.url}"
appview_url = "{server.url}"
identifier = "{IDENTIFIER}"
queries = ["Орманова"]
page_size = 50
backfill = "8d"
every = "1s"
""",
        )
        env = child_env(SMEARWATCH_BLUESKY_APP_PASSWORD=PASSWORD)
        assert run_cli(config, db_url, "status", env=env).returncode == 0
        log = tmp_path / "daemon.log"
        process = start_daemon(config, db_url, env)
        try:
            wait_for(lambda: len(inbox.messages) >= 2 and len(hook.received) >= 2, timeout=45)
            # A few more alert runs: nothing is raised or sent again.
            runs = alert_runs(log)
            wait_for(lambda: alert_runs(log) >= runs + 3, timeout=30)
        finally:
            stop(process)
        assert len(server.served_bluesky) == server.total
        before = alert_runs(log)
        process = start_daemon(config, db_url, env)
        try:
            wait_for(lambda: alert_runs(log) >= before + 3, timeout=30)
        finally:
            stop(process)
    kinds = sorted(row[0] for row in query(db_url, "SELECT kind FROM alert"))
    assert kinds == ["burst", "threat"]
    assert query(db_url, "SELECT count(*) FROM post") == [(server.total,)]
    assert len(inbox.messages) == 2
    subjects = sorted(
        m.content.decode().split("Subject: ")[1].split("\n")[0] for m in inbox.messages
    )
    assert subjects[0].startswith("[smearwatch] Burst of posts about Bakhyt Ormanova")
    assert subjects[1].startswith("[smearwatch] Threat of violence against Bakhyt Ormanova")
    assert sorted(h["kind"] for h in hook.received) == ["burst", "threat"]
    text = log.read_text(encoding="utf-8")
    assert "SECRET-TOKEN" not in text and PASSWORD not in text
    assert text.count("ALERT threat") == 1 and text.count("ALERT burst") == 1
