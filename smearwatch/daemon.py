"""`smearwatch daemon`: collection, analysis, the weekly report, alerts and housekeeping on a
schedule, for months, on a server nobody watches.

How the guarantees are kept:

* **Catch-up, not pile-up.** Every job is `max_instances=1`, `coalesce=True` with a misfire
  grace time, and its first run after a start is computed from what the database says it last
  did: after three days of downtime each job runs once, now, and then on its interval.
* **State survives restarts.** Each run's start, end, result and the next run time go to the
  `job_state` table; a source's history also lives in its `collection_run` rows. The weekly
  report remembers the slot it last covered, so a slot missed while the daemon was down is
  produced once after the restart, and never twice.
* **Clean stops.** SIGTERM/SIGINT set a flag that jobs check between committed pages; the
  scheduler then waits for running jobs up to `shutdown_timeout` and the process exits 0.
  Anything not committed by then is rolled back by the database when the process ends, and
  `kill -9` is no different: every page is one transaction (see `smearwatch.collect`).
  A signal reaches a watcher thread through the wakeup fd, at once even while the main
  thread waits inside the database driver (where Python-level handlers cannot run); the
  last database writes of the stop run under the same deadline, and the watcher ends the
  process `EXIT_GRACE` seconds after it, so a job or a heartbeat stuck on a lock or a
  socket cannot keep a stopping daemon alive.
* **A failing source backs off** (its interval doubled per consecutive failure, capped by
  `backoff_max`), is logged and shown by `status`; the other jobs carry on.
* **One daemon per database** (`smearwatch.lock`); a heartbeat in the `state` table lets
  `status --check` tell a live daemon from a dead one.
"""

from __future__ import annotations

import logging
import os
import random
import selectors
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import TIMEOUT_MAX
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, select

from db import models
from smearwatch import jobs
from smearwatch.clock import Clock, install_in_apscheduler
from smearwatch.config import Config
from smearwatch.jobs import JobContext, JobResult, ShutdownRequested
from smearwatch.jobstate import (
    JobRecord,
    ensure_job,
    record_finish,
    record_next_runs,
    record_start,
    write_heartbeat,
)
from smearwatch.lock import DaemonLock
from smearwatch.matching import MentionStep, refresh_stale_mentions
from smearwatch.memory import release_freed_memory
from smearwatch.settings import AlertSettings, DaemonSettings, config_secrets

__all__ = ["Daemon", "JobPlan", "backoff_delay", "plan_jobs", "warn_if_config_exposed"]

log = logging.getLogger("smearwatch.daemon")

#: Seconds after `shutdown_timeout` at which a stopping daemon ends itself, whatever still runs.
EXIT_GRACE = 1.5
#: Jobs after which freed memory is handed back to the system (see `smearwatch.memory`).
HEAVY_JOBS = frozenset({"analysis", "report"})
#: SQLite page cache per pooled connection (MiB): months of running fill every cache.
DAEMON_SQLITE_CACHE_MIB = 8
#: How often the stop watcher looks whether the daemon was stopped otherwise.
SIGNAL_POLL = 0.1


def backoff_delay(every: float, failures: int, cap: float) -> float:
    """Seconds until a source that failed `failures` times in a row is tried again."""
    if failures <= 0:
        return every
    return max(every, min(every * 2**failures, cap))


@dataclass
class JobPlan:
    """One job to schedule: what it runs, on which trigger, and when it first runs."""

    id: str
    kind: str
    trigger: BaseTrigger
    first_run: datetime
    run: Callable[[JobContext], JobResult]
    every: float | None = None  # seconds, for interval jobs


def _jitter(settings: DaemonSettings, every: float) -> float:
    if settings.jitter is not None:
        return float(settings.jitter)
    return min(60.0, every / 10)


def plan_jobs(
    config: Config,
    settings: DaemonSettings,
    alert_settings: AlertSettings,
    records: dict[str, JobRecord],
    now: datetime,
) -> tuple[list[JobPlan], list[str]]:
    """The jobs this config asks for, each with its first run derived from its stored record.

    Returns the plans and a note per job kind that is not scheduled (and why).
    """
    plans: list[JobPlan] = []
    notes: list[str] = []

    def first_after(record: JobRecord | None, every: float, *, never: datetime) -> datetime:
        if record is None or record.last_started_at is None:
            return never
        delay = backoff_delay(every, record.failures, settings.backoff_max)
        return max(now, record.last_started_at + timedelta(seconds=delay))

    for source in config.sources:
        if not source.enabled:
            continue
        job_id = f"collect:{source.name}"
        every = float(max(1, source.every_seconds))
        # Sources starting together would all hit the network at once: spread the first runs.
        spread = timedelta(seconds=random.uniform(0, min(_jitter(settings, every), 5.0)))
        first = first_after(records.get(job_id), every, never=now + spread)
        plans.append(
            JobPlan(
                job_id,
                "collect",
                IntervalTrigger(
                    seconds=every,
                    start_date=first,
                    jitter=_jitter(settings, every) or None,
                    timezone=UTC,
                ),  # fmt: skip
                first,
                lambda ctx, name=source.name: jobs.collect_source(ctx, name),
                every,
            )
        )
    every = float(settings.analysis_every)
    first = first_after(records.get("analysis"), every, never=now)
    plans.append(
        JobPlan(
            "analysis",
            "analysis",
            IntervalTrigger(seconds=every, start_date=first, timezone=UTC),
            first,
            jobs.analyse,
            every,
        )
    )
    trigger = CronTrigger(
        day_of_week=settings.report_weekday,
        hour=settings.report_time.hour,
        minute=settings.report_time.minute,
        timezone=settings.timezone,
    )
    slot = jobs.last_report_slot(now, settings)
    record = records.get("report")
    done = (record.detail or {}).get("last_slot") if record else None
    missed = (
        record is not None
        and record.created_at <= slot
        and (done is None or datetime.fromisoformat(done) < slot)
    )
    first = now if missed else trigger.get_next_fire_time(None, now)
    plans.append(JobPlan("report", "report", trigger, first, jobs.weekly_report))
    if alert_settings.enabled:
        every = float(alert_settings.every)
        first = first_after(records.get("alerts"), every, never=now)
        plans.append(
            JobPlan(
                "alerts",
                "alerts",
                IntervalTrigger(seconds=every, start_date=first, timezone=UTC),
                first,
                jobs.alerts,
                every,
            )
        )
    every = float(settings.housekeeping_every)
    first = first_after(
        records.get("housekeeping"), every, never=now + timedelta(seconds=min(every, 600))
    )
    plans.append(
        JobPlan(
            "housekeeping",
            "housekeeping",
            IntervalTrigger(seconds=every, start_date=first, timezone=UTC),
            first,
            jobs.housekeeping,
            every,
        )
    )
    return plans, notes


class _Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler, with its waits scaled to a fast fake clock."""

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        self._clock = clock
        super().__init__(**kwargs)

    def _main_loop(self) -> None:
        wait_seconds: float | None = TIMEOUT_MAX
        while self.state != STATE_STOPPED:
            if wait_seconds is not None and wait_seconds < TIMEOUT_MAX:
                wait_seconds = self._clock.real_seconds(wait_seconds)
            self._event.wait(wait_seconds)
            self._event.clear()
            wait_seconds = self._process_jobs()


def warn_if_config_exposed(config: Config) -> str | None:
    """A warning when the config file holds a secret and others than its owner can read it."""
    if config.path is None:
        return None
    try:
        mode = config.path.stat().st_mode
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    secrets = config_secrets(config.path)
    if not secrets:
        return None
    return (
        f"config file {config.path} holds {', '.join(secrets)} and is readable by other users "
        f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {config.path}"
    )


class Daemon:
    """Runs the planned jobs until `stop()` (or SIGTERM/SIGINT when run in the main thread)."""

    def __init__(self, engine: Engine, config: Config, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock or Clock()
        self.settings = DaemonSettings.from_config(config)
        self.alert_settings = AlertSettings.from_config(config)
        self.stopping = threading.Event()
        # The signal wakeup socket pair, held so that its descriptors stay open while the
        # signal module writes to one of them.
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self.lock = DaemonLock(engine)
        self.plans: dict[str, JobPlan] = {}
        self.scheduler: _Scheduler | None = None
        self.mentions: MentionStep | None = None
        self.started_at = self.clock.now()
        self._state_lock = threading.Lock()
        self.clean_exit = True
        self._job_detail: dict[str, dict[str, Any]] = {}
        # Jobs in progress, to name the ones that hold up a shutdown.
        self._running: set[str] = set()
        self._running_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def run(self, *, install_signals: bool = True) -> int:
        """Block until stopped; returns the exit code (0 after a requested stop).

        `install_signals`: the daemon owns the process, so SIGTERM/SIGINT stop it and a stop
        that hangs past its deadline ends the process (off when it runs in a test's thread).

        Raises:
            LockHeld: another daemon runs on this database.
        """
        self.lock.acquire()
        try:
            return self._run(install_signals)
        finally:
            self.lock.release()

    def stop(self, *_args: Any) -> None:
        """Ask the daemon to stop (from any thread, but not from a signal handler)."""
        if not self.stopping.is_set():
            log.info("stop requested: finishing the work in progress")
        self.stopping.set()

    def _on_signal(self, *_args: Any) -> None:
        # Python runs this in the main thread, and only once that thread is back in Python
        # code: not while it waits inside the database driver. The stop itself comes from
        # `_watch_for_signal`, woken at once through the wakeup fd; nothing to do here (and
        # taking a lock here, as setting an Event or logging does, could deadlock).
        pass

    def _install_signals(self) -> None:
        wake_read, wake_write = socket.socketpair()
        wake_write.setblocking(False)
        self._wakeup = (wake_read, wake_write)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        threading.Thread(
            target=self._watch_for_signal, args=(wake_read,), name="stop-watch", daemon=True
        ).start()

    def _watch_for_signal(self, wake: socket.socket) -> None:
        """Turn SIGTERM/SIGINT into a stop, then hold the process to its deadline.

        A thread of its own, so the stop reaches the jobs and the clock starts even while
        the main thread waits on the database (a heartbeat blocked by another transaction).
        """
        wanted = {int(signal.SIGTERM), int(signal.SIGINT)}
        with selectors.DefaultSelector() as selector:
            selector.register(wake, selectors.EVENT_READ)
            while not self.stopping.is_set():
                if selector.select(SIGNAL_POLL) and wanted.intersection(wake.recv(64)):
                    break
        self.stop()
        deadline = float(self.settings.shutdown_timeout) + EXIT_GRACE
        time.sleep(deadline)
        log.warning("still running %.1fs after the stop was asked for; forcing the exit", deadline)
        logging.shutdown()
        os._exit(0)

    def _run(self, install_signals: bool) -> int:
        if install_signals:
            self._install_signals()
        warning = warn_if_config_exposed(self.config)
        if warning:
            log.warning(warning)
        self.settings.report_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.mentions = MentionStep(self.config.defenders)
        refreshed = refresh_stale_mentions(self.engine, self.mentions)
        if refreshed is not None:
            log.info("re-matched %d stored posts (%s)", refreshed.posts, refreshed.reason)
        install_in_apscheduler(self.clock)
        now = self.clock.now()
        self.started_at = now
        records = {}
        for job_id, kind in self._wanted(now):
            records[job_id] = ensure_job(self.engine, job_id, kind, now)
        plans, notes = plan_jobs(self.config, self.settings, self.alert_settings, records, now)
        for note in notes:
            log.info(note)
        self.scheduler = _Scheduler(
            self.clock,
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(self.settings.workers)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": self.settings.misfire_grace,
            },
        )
        for plan in plans:
            self.plans[plan.id] = plan
            self._job_detail[plan.id] = dict(records[plan.id].detail or {})
            self.scheduler.add_job(
                self._execute,
                plan.trigger,
                args=[plan.id],
                id=plan.id,
                name=plan.id,
                next_run_time=plan.first_run,
            )
        write_heartbeat(self.engine, now, started_at=self.started_at)
        self.scheduler.start()
        self._record_next_runs()
        log.info("daemon started with %d job(s): %s", len(plans), ", ".join(p.id for p in plans))
        try:
            while not self.stopping.wait(self.clock.real_seconds(self.settings.heartbeat)):
                try:
                    write_heartbeat(self.engine, self.clock.now(), started_at=self.started_at)
                    self._record_next_runs()
                except Exception:  # noqa: BLE001 - a database hiccup must not end the daemon
                    log.exception("cannot write the heartbeat")
        finally:
            self._shutdown()
        return 0

    def _wanted(self, now: datetime) -> list[tuple[str, str]]:
        plans, _ = plan_jobs(self.config, self.settings, self.alert_settings, {}, now)
        return [(p.id, p.kind) for p in plans]

    def _shutdown(self) -> None:
        self.stopping.set()
        scheduler = self.scheduler
        if scheduler is None:
            return
        timeout = float(self.settings.shutdown_timeout)
        scheduler.pause()
        jobs_done = threading.Event()
        recorded = threading.Event()

        def finish() -> None:
            scheduler.shutdown(wait=True)
            jobs_done.set()
            # After the jobs, so the last next-run times and the "stopped" heartbeat are not
            # overwritten by a job finishing late.
            try:
                self._record_next_runs()
                write_heartbeat(
                    self.engine, self.clock.now(), started_at=self.started_at, stopped=True
                )
            except Exception:  # noqa: BLE001 - best effort on the way out
                log.exception("cannot record the shutdown")
            recorded.set()

        began = time.monotonic()
        threading.Thread(target=finish, name="shutdown", daemon=True).start()
        if not jobs_done.wait(timeout):
            self.clean_exit = False
            # A job is stuck in a request or a long query. Its open transaction is rolled
            # back when the process exits; the collection run it left "running" is marked
            # "interrupted" by the next run of its source.
            with self._running_lock:
                running = ", ".join(sorted(self._running)) or "none in a job any more"
            log.warning(
                "jobs still running after %ss (%s); exiting, their open transactions roll back",
                self.settings.shutdown_timeout,
                running,
            )
        elif not recorded.wait(max(0.0, timeout - (time.monotonic() - began)) + 0.5):
            # The last writes wait on a lock (a stuck transaction elsewhere); status shows
            # the daemon as not running once its heartbeat is old, which is the truth.
            self.clean_exit = False
            log.warning("cannot record the shutdown in time; exiting without it")
        log.info("daemon stopped")

    # -- running one job ------------------------------------------------------------------------

    def _context(self, job_id: str) -> JobContext:
        assert self.mentions is not None
        return JobContext(
            engine=self.engine,
            config=self.config,
            settings=self.settings,
            alerts=self.alert_settings,
            clock=self.clock,
            mentions=self.mentions,
            stopping=self.stopping,
            state=dict(self._job_detail.get(job_id, {})),
        )

    def _execute(self, job_id: str) -> None:
        """Run one job and record its result; never raises (the scheduler would only log it)."""
        if self.stopping.is_set():
            return
        plan = self.plans[job_id]
        started = self.clock.now()
        if plan.kind == "analysis" and self._too_soon(plan, started):
            return
        began = time.monotonic()
        with self._running_lock:
            self._running.add(job_id)
        try:
            self._execute_recorded(job_id, plan, started, began)
        finally:
            with self._running_lock:
                self._running.discard(job_id)

    def _execute_recorded(
        self, job_id: str, plan: JobPlan, started: datetime, began: float
    ) -> None:
        try:
            record_start(self.engine, job_id, started)
            result = plan.run(self._context(job_id))
        except ShutdownRequested:
            result = JobResult("interrupted", "stopped by the daemon's shutdown")
        except Exception as exc:  # noqa: BLE001 - the error boundary of one job
            log.exception("job %s failed", job_id, extra={"job": job_id})
            result = JobResult("failed", f"{type(exc).__name__} (details in the log)")
        if plan.kind in HEAVY_JOBS:
            release_freed_memory()
        finished = self.clock.now()
        try:
            failures = record_finish(
                self.engine,
                job_id,
                finished,
                status=result.status,
                message=result.message,
                detail=result.detail,
            )
        except Exception:  # noqa: BLE001
            log.exception("cannot record the result of job %s", job_id)
            failures = 0
        if result.detail:
            self._job_detail.setdefault(job_id, {}).update(result.detail)
        level = logging.WARNING if failures else logging.INFO
        log.log(
            level,
            "job %s: %s: %s",
            job_id,
            result.status,
            result.message,
            extra={
                "job": job_id,
                "status": result.status,
                "seconds": round(time.monotonic() - began, 3),
                "failures": failures,
            },
        )
        if self.stopping.is_set():
            return
        try:
            self._after(plan, result, failures, started)
            self._record_next_runs()
        except Exception:  # noqa: BLE001 - a database hiccup must not escape into the scheduler
            log.exception("cannot reschedule after job %s", job_id)

    def _after(self, plan: JobPlan, result: JobResult, failures: int, started: datetime) -> None:
        """Back off a failing source; bring the analysis and alerts forward after new data."""
        now = self.clock.now()
        if plan.kind == "collect" and failures and plan.every:
            delay = backoff_delay(plan.every, failures, self.settings.backoff_max)
            self._reschedule(plan.id, started + timedelta(seconds=delay), only_earlier=False)
            log.warning(
                "source job %s failed %d time(s) in a row; next try in %ds",
                plan.id,
                failures,
                delay,
                extra={"job": plan.id, "failures": failures},
            )
        if result.new_data and plan.kind == "collect":
            analysis = self.plans.get("analysis")
            if analysis is not None and analysis.every:
                earliest = self._interval_after_last_start(analysis) or now
                self._reschedule("analysis", max(now, earliest))
            self._reschedule("alerts", now)
        if result.new_data and plan.kind == "analysis":
            self._reschedule("alerts", now)

    def _too_soon(self, plan: JobPlan, now: datetime) -> bool:
        """Whether the analysis would start less than its interval after the last start.

        Its interval trigger counts from when a run was due, not from when it began: a run
        that began late (all job threads busy) would be followed by one too soon. That one is
        put off to a full interval after the last start instead.
        """
        if not plan.every:
            return False
        earliest = self._interval_after_last_start(plan)
        if earliest is None or now >= earliest:
            return False
        self._reschedule(plan.id, earliest, only_earlier=False)
        return True

    def _interval_after_last_start(self, plan: JobPlan) -> datetime | None:
        """A full interval after the job last started; None if it never did."""
        table = models.JobState.__table__
        with self.engine.connect() as connection:
            last = connection.execute(
                select(table.c.last_started_at).where(table.c.name == plan.id)
            ).scalar()
        return None if last is None else last + timedelta(seconds=plan.every)

    def _reschedule(self, job_id: str, when: datetime, *, only_earlier: bool = True) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        with self._state_lock:
            job = scheduler.get_job(job_id)
            if job is None:
                return
            if only_earlier and job.next_run_time is not None and job.next_run_time <= when:
                return
            job.modify(next_run_time=when)
        scheduler.wakeup()

    def _record_next_runs(self) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        # By name: the heartbeat and the job threads write these rows concurrently, and on
        # PostgreSQL two transactions updating rows in different orders deadlock.
        jobs_by_name = sorted(scheduler.get_jobs(), key=lambda job: job.id)
        next_runs = {job.id: job.next_run_time for job in jobs_by_name}
        record_next_runs(self.engine, next_runs, self.clock.now())


def run_daemon(
    config: Config,
    *,
    log_format: str | None = None,
    verbose: bool = False,
    fail: Callable[[str], None],
) -> int:
    """What `smearwatch daemon` does: private files, logging, the lock, the run, the exit."""
    from db.engine import open_database
    from smearwatch.clock import clock_from_env
    from smearwatch.lock import LockHeld
    from smearwatch.logs import configure_logging

    # Files the daemon creates (database, lock, reports, logs) are readable by its owner only.
    os.umask(0o077)
    settings = DaemonSettings.from_config(config)
    configure_logging(
        log_format or settings.log_format,
        level=logging.DEBUG if verbose else logging.INFO,
        file=settings.log_file,
    )
    engine = open_database(config.database_url, sqlite_cache_mib=DAEMON_SQLITE_CACHE_MIB)
    daemon = Daemon(engine, config, clock=clock_from_env())
    try:
        code = daemon.run()
    except LockHeld as exc:
        engine.dispose()
        fail(str(exc))
        return 1
    if not daemon.clean_exit:
        # Worker threads stuck in a request would keep the interpreter alive at exit; their
        # transactions are uncommitted and roll back with the connection.
        logging.shutdown()
        os._exit(code)
    engine.dispose()
    return code
