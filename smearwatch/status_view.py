"""The daemon's part of `smearwatch status`: jobs, heartbeat, alerts, and the `--check` verdict.

`--check` is for monitoring (a systemd timer, Nagios, a cron mail): exit code 0 when the
daemon is alive and no source has been failing for longer than `[daemon] failure_threshold`,
1 otherwise, with one line per problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from db import models
from smearwatch.config import Config
from smearwatch.jobstate import load_jobs, read_heartbeat, source_health
from smearwatch.lock import is_locked
from smearwatch.settings import DaemonSettings

__all__ = ["DaemonStatus", "check_problems", "daemon_status", "print_daemon_status"]


@dataclass
class DaemonStatus:
    running: bool
    summary: str
    heartbeat: dict[str, Any] | None


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return ""
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def daemon_status(engine: Engine, settings: DaemonSettings, now: datetime) -> DaemonStatus:
    """Alive = the lock is held (when this database has one to probe) and the heartbeat is
    fresh. Either alone can mislead: a hung daemon holds the lock without beating, and a
    heartbeat row outlives a killed daemon."""
    with engine.connect() as connection:
        beat = read_heartbeat(connection)
    locked = is_locked(engine)
    stale_after = timedelta(seconds=3 * settings.heartbeat + 10)
    if beat is None:
        return DaemonStatus(
            False,
            "daemon not running: it has never run on this database "
            "(start it with 'smearwatch daemon' or the systemd unit)",
            None,
        )
    where = f"pid {beat['pid']} on {beat['host']}"
    if beat.get("stopped"):
        return DaemonStatus(False, f"daemon stopped {_ago(now, beat['at'])} ({where})", beat)
    if locked is False:
        return DaemonStatus(
            False, f"daemon not running: no lock held (last heartbeat {_ago(now, beat['at'])})",
            beat,
        )  # fmt: skip
    if now - beat["at"] > stale_after:
        return DaemonStatus(
            False, f"daemon not responding: last heartbeat {_ago(now, beat['at'])} ({where})",
            beat,
        )  # fmt: skip
    return DaemonStatus(
        True, f"daemon running ({where}, since {beat['started_at']:%Y-%m-%d %H:%M} UTC)", beat
    )


def check_problems(engine: Engine, config: Config, now: datetime) -> list[str]:
    settings = DaemonSettings.from_config(config)
    problems = []
    status = daemon_status(engine, settings, now)
    if not status.running:
        problems.append(status.summary)
    threshold = timedelta(seconds=settings.failure_threshold)
    with engine.connect() as connection:
        for health in source_health(connection, config):
            failing = health.failing_for(now)
            if failing is not None and failing > threshold:
                problems.append(
                    f"source {health.name!r} failing for {_span(int(failing.total_seconds()))} "
                    f"(threshold {_span(settings.failure_threshold)}): {health.error or ''}"
                )
    return problems


def print_daemon_status(console: Console, engine: Engine, config: Config, now: datetime) -> None:
    settings = DaemonSettings.from_config(config)
    console.print(daemon_status(engine, settings, now).summary, highlight=False)
    with engine.connect() as connection:
        records = load_jobs(connection)
        health = {h.name: h for h in source_health(connection, config)}
        alert = models.Alert.__table__
        alerts = connection.execute(select(func.count()).select_from(alert)).scalar_one()
        rows = connection.execute(select(alert.c.channels, alert.c.delivered)).all()
    if records:
        table = Table(title="Daemon jobs")
        for column in ("job", "last run", "result", "failures", "next run", "message"):
            table.add_column(column)
        for name, record in records.items():
            table.add_row(
                name,
                _ago(now, record.last_finished_at or record.last_started_at),
                record.last_status or "never run",
                str(record.failures or ""),
                _ago(now, record.next_run_at),
                (record.last_message or "")[:120],
            )
        console.print(table)
    else:
        console.print("Daemon jobs: none recorded yet (they appear once the daemon has started)")
    failing = [h for h in health.values() if h.failing_since is not None]
    for h in failing:
        console.print(
            f"source {h.name}: failing since {h.failing_since:%Y-%m-%d %H:%M} UTC: {h.error}",
            highlight=False,
        )
    if alerts:
        pending = sum(
            1 for channels, delivered in rows if set(channels or ()) - set(delivered or {})
        )
        console.print(f"Alerts recorded: {alerts:,}; awaiting delivery: {pending:,}")
