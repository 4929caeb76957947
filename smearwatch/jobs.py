"""The daemon's jobs: small wrappers around the functions the CLI commands also use.

Each job takes a `JobContext` and returns a `JobResult`; `smearwatch.daemon` schedules them
and records every result. The wiring below names the function each job calls. A job whose
module has not landed yet is `None` here: the daemon then does not schedule it and says so at
start, rather than pretending to do the work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, delete, exists, func, not_, select, text

from db import models
from smearwatch.clock import Clock
from smearwatch.config import Config
from smearwatch.matching import CollectMatching, MentionStep
from smearwatch.settings import WEEKDAYS, AlertSettings, DaemonSettings

__all__ = [
    "ANALYZE",
    "REPORT",
    "JobContext",
    "JobResult",
    "ShutdownRequested",
    "analyse",
    "collect_source",
    "housekeeping",
    "last_report_slot",
    "weekly_report",
]

log = logging.getLogger(__name__)


# --- Wiring: one line per job kind -----------------------------------------------------------
def _run_analysis(engine: Engine, config: Config, *, since: datetime, until: datetime) -> int:
    """Re-match stored posts if the defenders changed, then analyse; the analysis run's id."""
    from smearwatch.analyze import run_analysis
    from smearwatch.matching import refresh_stale_mentions

    refresh_stale_mentions(engine, MentionStep(config.defenders))
    return run_analysis(engine, config, since=since, until=until).run_id


def _write_report(engine: Engine, config: Config, *, week: str, out_dir: Path) -> Any:
    from reports.weeks import parse_week
    from smearwatch.reporting import write_week_report

    return write_week_report(engine, config, parse_week(week), out_dir=out_dir)


#: run_analysis(engine, config, *, since, until) -> analysis run id
ANALYZE: Callable[..., Any] = _run_analysis
#: build(engine, config, *, week="2026-W48", out_dir=Path) -> what was written
REPORT: Callable[..., Any] = _write_report
# ---------------------------------------------------------------------------------------------


class ShutdownRequested(SystemExit):
    """Raised inside a job at a safe point (between committed pages) once SIGTERM arrived.

    A `SystemExit` so that the collect pipeline treats it like Ctrl-C: it marks the run
    "interrupted" and lets it through, and no `except Exception` swallows it.
    """

    def __init__(self) -> None:
        super().__init__(0)


@dataclass
class JobResult:
    status: str  # ok, partial, failed, interrupted, skipped
    message: str = ""
    new_data: bool = False
    detail: dict[str, Any] | None = None


@dataclass
class JobContext:
    engine: Engine
    config: Config
    settings: DaemonSettings
    alerts: AlertSettings
    clock: Clock
    mentions: MentionStep
    stopping: threading.Event = field(default_factory=threading.Event)
    state: dict[str, Any] = field(default_factory=dict)  # the job's stored `detail`

    def check_stop(self) -> None:
        if self.stopping.is_set():
            raise ShutdownRequested()


def collect_source(ctx: JobContext, source_name: str) -> JobResult:
    """One collection pass over one source; mentions are stored in each page's transaction."""
    from smearwatch.collect import collect

    ctx.check_stop()

    def progress(summary: Any) -> None:
        if summary.pages and summary.status == "running":
            ctx.check_stop()

    # The same keep-only-relevant filter and mention storage as `smearwatch collect`.
    matching = CollectMatching(ctx.mentions)
    summary = collect(
        ctx.engine,
        ctx.config,
        source_names=[source_name],
        clock=ctx.clock.now,
        progress=progress,
        before_write=matching.before_write,
        after_write=matching.after_write,
    )[0]
    return JobResult(
        summary.status,
        summary.line(),
        new_data=bool(summary.inserted or summary.updated),
        detail={"run_id": summary.run_id},
    )


def _latest_post_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.max(models.Post.__table__.c.id))).scalar() or 0


def analyse(ctx: JobContext) -> JobResult:
    """The coordination analysis over the recent window, only when posts arrived since the
    last run (an hourly analysis of an unchanged database would only repeat itself)."""
    latest = _latest_post_id(ctx.engine)
    if latest <= ctx.state.get("last_post_id", 0):
        return JobResult("skipped", "no new posts since the last analysis")
    now = ctx.clock.now()
    run_id = ANALYZE(
        ctx.engine,
        ctx.config,
        since=now - timedelta(seconds=ctx.settings.analysis_window),
        until=now,
    )
    return JobResult(
        "ok",
        f"analysis run {run_id} over posts up to #{latest}",
        new_data=True,
        detail={"last_post_id": latest, "run_id": run_id},
    )


def last_report_slot(now: datetime, settings: DaemonSettings) -> datetime:
    """The latest weekly report time at or before `now` (UTC), in the configured zone."""
    local = now.astimezone(settings.timezone)
    back = (local.weekday() - WEEKDAYS.index(settings.report_weekday)) % 7
    day = local.date() - timedelta(days=back)
    slot = datetime.combine(day, settings.report_time, tzinfo=settings.timezone)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=7), settings.report_time, settings.timezone)
    return slot.astimezone(UTC)


def report_week(slot: datetime, settings: DaemonSettings) -> str:
    """The ISO week a report made at `slot` covers: the last full week before it."""
    year, week, _ = (slot.astimezone(settings.timezone) - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def weekly_report(ctx: JobContext) -> JobResult:
    """The report for the week before the latest slot, once per slot (a catch-up run after a
    restart and the regular run can never both produce it)."""
    slot = last_report_slot(ctx.clock.now(), ctx.settings)
    done = ctx.state.get("last_slot")
    if done and datetime.fromisoformat(done) >= slot:
        return JobResult("skipped", f"the report for slot {slot.isoformat()} exists")
    week = report_week(slot, ctx.settings)
    out_dir = ctx.settings.report_dir / week
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ctx.settings.report_dir.chmod(0o700)
    out_dir.chmod(0o700)
    REPORT(ctx.engine, ctx.config, week=week, out_dir=out_dir)
    return JobResult(
        "ok",
        f"weekly report {week} in {out_dir}",
        detail={"last_slot": slot.isoformat(), "week": week, "path": str(out_dir)},
    )


def housekeeping(ctx: JobContext) -> JobResult:
    """Drop old collection runs that stored nothing, and keep the query planner informed.

    Only empty runs go: a run that stored posts is their provenance. The newest run of each
    source stays whatever its age, so `status` always has something to show.
    """
    run = models.CollectionRun.__table__
    post = models.Post.__table__
    version = models.PostVersion.__table__
    cutoff = ctx.clock.now() - timedelta(seconds=ctx.settings.retention)
    newest = select(func.max(run.c.id)).group_by(run.c.source_id).scalar_subquery()
    with ctx.engine.begin() as connection:
        removed = connection.execute(
            delete(run).where(
                and_(
                    run.c.finished_at < cutoff,
                    run.c.status == "ok",
                    run.c.inserted == 0,
                    run.c.id.not_in(newest),
                    not_(exists().where(post.c.collection_run_id == run.c.id)),
                    not_(exists().where(version.c.collection_run_id == run.c.id)),
                )
            )
        ).rowcount
    if ctx.engine.dialect.name == "sqlite":
        with ctx.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA optimize")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    else:
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    return JobResult("ok", f"removed {removed} empty collection run(s) older than the retention")


def alerts(ctx: JobContext) -> JobResult:
    """Detect new alert events and deliver what is still undelivered."""
    from smearwatch.alerts import run_alerts

    summary = run_alerts(ctx.engine, ctx.config, ctx.alerts, now=ctx.clock.now(), state=ctx.state)
    return JobResult(
        "failed" if summary.delivery_errors else "ok",
        summary.line(),
        detail=summary.state,
    )
