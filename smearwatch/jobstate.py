"""What the daemon remembers in the database: each job's last and next run, and its heartbeat.

Keeping this in the database (not in APScheduler's pickled job store) means a restart, an
upgrade or `smearwatch status` on another machine all read the same facts, and the schedule
itself is always rebuilt from the current config instead of from stale pickles.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from db import models
from smearwatch.config import Config

__all__ = [
    "HEARTBEAT_KEY",
    "JobRecord",
    "SourceHealth",
    "load_jobs",
    "read_heartbeat",
    "record_finish",
    "record_start",
    "source_health",
    "write_heartbeat",
]

_JOB = models.JobState.__table__
_STATE = models.State.__table__
_RUN = models.CollectionRun.__table__
_SOURCE = models.Source.__table__
HEARTBEAT_KEY = "daemon.heartbeat"
NOT_OK = ("failed", "partial", "interrupted")


@dataclass
class JobRecord:
    name: str
    kind: str
    created_at: datetime
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: str | None = None
    last_message: str | None = None
    failures: int = 0
    next_run_at: datetime | None = None
    detail: dict[str, Any] | None = None


def load_jobs(connection: Connection) -> dict[str, JobRecord]:
    rows = connection.execute(select(_JOB).order_by(_JOB.c.name)).mappings()
    return {
        row["name"]: JobRecord(**{k: v for k, v in row.items() if k != "updated_at"})
        for row in rows
    }


def ensure_job(engine: Engine, name: str, kind: str, now: datetime) -> JobRecord:
    """The job's stored record, created (and committed) on the first start that schedules it."""
    with engine.begin() as connection:
        found = load_jobs_named(connection, name)
        if found is None:
            connection.execute(
                insert(_JOB),
                {"name": name, "kind": kind, "created_at": now, "updated_at": now, "failures": 0},
            )
            found = JobRecord(name=name, kind=kind, created_at=now)
    return found


def load_jobs_named(connection: Connection, name: str) -> JobRecord | None:
    row = connection.execute(select(_JOB).where(_JOB.c.name == name)).mappings().first()
    if row is None:
        return None
    return JobRecord(**{k: v for k, v in row.items() if k != "updated_at"})


def record_start(engine: Engine, name: str, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(_JOB).where(_JOB.c.name == name).values(last_started_at=now, updated_at=now)
        )


def record_finish(
    engine: Engine,
    name: str,
    now: datetime,
    *,
    status: str,
    message: str,
    detail: dict[str, Any] | None,
) -> int:
    """Store a finished run; returns the number of consecutive failures (0 after a success)."""
    failed = status in NOT_OK
    with engine.begin() as connection:
        current = load_jobs_named(connection, name)
        failures = (current.failures if current else 0) + 1 if failed else 0
        values: dict[str, Any] = {
            "last_finished_at": now,
            "last_status": status,
            "last_message": message[:2000],
            "failures": failures,
            "updated_at": now,
        }
        if not failed and status != "interrupted":
            values["last_success_at"] = now
        if detail is not None:
            values["detail"] = {**((current.detail or {}) if current else {}), **detail}
        connection.execute(update(_JOB).where(_JOB.c.name == name).values(**values))
    return failures


def record_next_runs(engine: Engine, next_runs: dict[str, datetime | None], now: datetime) -> None:
    with engine.begin() as connection:
        for name, when in next_runs.items():
            connection.execute(
                update(_JOB).where(_JOB.c.name == name).values(next_run_at=when, updated_at=now)
            )


def write_heartbeat(
    engine: Engine, now: datetime, *, started_at: datetime, stopped: bool = False
) -> None:
    value = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": started_at.isoformat(),
            "at": now.isoformat(),
            "stopped": stopped,
        }
    )
    with engine.begin() as connection:
        changed = connection.execute(
            update(_STATE).where(_STATE.c.key == HEARTBEAT_KEY).values(value=value, updated_at=now)
        ).rowcount
        if not changed:
            connection.execute(
                insert(_STATE), {"key": HEARTBEAT_KEY, "value": value, "updated_at": now}
            )


def read_heartbeat(connection: Connection) -> dict[str, Any] | None:
    value = connection.execute(select(_STATE.c.value).where(_STATE.c.key == HEARTBEAT_KEY)).scalar()
    if value is None:
        return None
    beat = json.loads(value)
    beat["at"] = datetime.fromisoformat(beat["at"])
    beat["started_at"] = datetime.fromisoformat(beat["started_at"])
    return beat


@dataclass
class SourceHealth:
    name: str
    last_status: str | None
    last_finished_at: datetime | None
    last_ok_at: datetime | None
    failing_since: datetime | None  # the first of the current run of failures
    error: str | None

    def failing_for(self, now: datetime) -> timedelta | None:
        return now - self.failing_since if self.failing_since else None


def source_health(connection: Connection, config: Config) -> list[SourceHealth]:
    """Per enabled source: its last run, and since when it has been failing without a break."""
    health = []
    for source in config.sources:
        if not source.enabled:
            continue
        source_id = connection.execute(
            select(_SOURCE.c.id).where(_SOURCE.c.name == source.name)
        ).scalar()
        if source_id is None:
            health.append(SourceHealth(source.name, None, None, None, None, None))
            continue
        last = connection.execute(
            select(_RUN.c.status, _RUN.c.started_at, _RUN.c.finished_at, _RUN.c.error)
            .where(_RUN.c.source_id == source_id, _RUN.c.status != "running")
            .order_by(_RUN.c.id.desc())
            .limit(1)
        ).first()
        last_ok = connection.execute(
            select(func.max(_RUN.c.finished_at)).where(
                _RUN.c.source_id == source_id, _RUN.c.status == "ok"
            )
        ).scalar()
        failing_since = None
        if last is not None and last.status in NOT_OK:
            query = select(func.min(_RUN.c.started_at)).where(
                _RUN.c.source_id == source_id, _RUN.c.status.in_(NOT_OK)
            )
            if last_ok is not None:
                query = query.where(_RUN.c.started_at > last_ok)
            failing_since = connection.execute(query).scalar()
        health.append(
            SourceHealth(
                name=source.name,
                last_status=last.status if last else None,
                last_finished_at=last.finished_at if last else None,
                last_ok_at=last_ok,
                failing_since=failing_since,
                error=last.error if last else None,
            )
        )
    return health
