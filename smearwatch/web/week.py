"""This week: the report model's figures for one ISO week, kept until the data changes.

The page shows `reports.model.build_week_report` (the PDF's model), never its own counts.
Building it reads the week and the four before it (the baseline), which on a million posts
still takes seconds (counting five weeks of mentions per day, the week's counts; on a busy
2-core machine 3-6 s on SQLite, 5-9 s on PostgreSQL), so the built report is cached per
(week, defender) and data fingerprint (largest ids of posts, mentions, runs, imports: index
look-ups). Only the analysts' verdicts, which change while one looks at the page, are read
again on each view (`refresh_reviews`).

A report not built yet is built in a background thread. The page waits for it a moment
(`WeekCache.page_wait`, under a second) and otherwise answers at once with a "being
prepared" page that reloads itself (a meta refresh: no script), so a new week, a defender
filter or the first visit after new data never leave the analyst at a blank tab for many
seconds. Downloads (PDF, CSV, exports) wait for the same build: they are the report itself.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import threading
import time
from collections import OrderedDict, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reports.model import WeekReport, build_week_report, refresh_reviews
from reports.settings import ReportInputs, UnknownDefender
from reports.weeks import Week, parse_week, week_of
from smearwatch.web import queries

__all__ = ["WeekCache", "daily_chart", "daily_csv", "home", "week_export", "week_page"]

log = logging.getLogger(__name__)
CACHED_REPORTS = 8
PAGE_WAIT_S = 0.8  # the week page answers within 1 s (issue 17), ready or not
REFRESH_S = 2  # seconds between reloads of the 'being prepared' page
EXPORTS = {
    "clusters.csv": "text/csv",
    "accounts.csv": "text/csv",
    "evidence.csv": "text/csv",
    "network.gexf": "application/gexf+xml",
    "summary.json": "application/json",
}


class _Build:
    """One report being built in its own thread; its result or its error, once done."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = threading.Event()
        self.report: WeekReport | None = None
        self.error: BaseException | None = None


class WeekCache:
    """Built week reports by (week, defender, data fingerprint); one build at a time per key."""

    def __init__(self, engine: Engine, inputs: ReportInputs) -> None:
        self.engine = engine
        self.inputs = inputs
        # How long the page waits for a build before answering "being prepared": a small
        # database gets its report in the same response, a large one an answer within 1 s.
        self.page_wait = PAGE_WAIT_S
        self.last_build_seconds: float | None = None
        self._reports: OrderedDict[tuple[Any, ...], WeekReport] = OrderedDict()
        self._lock = threading.Lock()
        self._builds: dict[tuple[Any, ...], _Build] = {}
        # Daily mention counts per (week, defender) for the current data fingerprint, shared
        # by the builds (`build_week_report(daily_cache=...)`): the week before or after
        # reuses four of the five weeks its baseline counts. A new fingerprint starts afresh.
        self._daily: tuple[Any, dict[tuple[str, str | None], Any]] = (None, {})

    def _key(self, week: Week, defender: str | None) -> tuple[Any, ...]:
        with self.engine.connect() as connection:
            return (week.label, defender, queries.data_fingerprint(connection))

    def _start(self, key: tuple[Any, ...], week: Week, defender: str | None) -> _Build:
        """The build of `key`: the one under way, else a new one in a background thread (a
        page that stops waiting leaves it running, so its reload finds the report)."""
        with self._lock:
            build = self._builds.get(key)
            if build is not None:
                return build
            build = self._builds[key] = _Build()
            if self._daily[0] != key[2]:
                self._daily = (key[2], {})
            daily = self._daily[1]

        def run() -> None:
            try:
                report = build_week_report(
                    self.engine, self.inputs, week, defender=defender, daily_cache=daily
                )
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for it
                build.error = exc
                with self._lock:
                    self._builds.pop(key, None)  # the next visit tries again
            else:
                build.report = report
                with self._lock:
                    self._reports[key] = report
                    self._builds.pop(key, None)
                    while len(self._reports) > CACHED_REPORTS:
                        self._reports.popitem(last=False)
                    self.last_build_seconds = time.monotonic() - build.started
            finally:
                build.done.set()

        threading.Thread(target=run, name=f"smearwatch-week-{key[0]}", daemon=True).start()
        return build

    def _ready(self, key: tuple[Any, ...]) -> WeekReport | None:
        with self._lock:
            return self._reports.get(key)

    def _check(self, defender: str | None) -> None:
        """An unknown defender is the caller's error (404), not a build to start."""
        if defender is not None:
            self.inputs.check_defender(defender)

    def get(self, week: Week, defender: str | None = None) -> WeekReport:
        """The built report, waiting for its build however long it takes (downloads)."""
        report, _ = self.get_or_prepare(week, defender, wait=None)
        assert report is not None
        return report

    def get_or_prepare(
        self, week: Week, defender: str | None = None, wait: float | None = None
    ) -> tuple[WeekReport | None, float]:
        """The report if it is built within `wait` seconds (None: however long it takes),
        else None while its build goes on in the background; and how long that build has
        been running (0 for a report that was ready).

        Raises the build's error when it failed (the next visit starts a new build)."""
        self._check(defender)
        key = self._key(week, defender)
        report = self._ready(key)
        if report is not None:
            return refresh_reviews(self.engine, report), 0.0
        build = self._start(key, week, defender)
        if not build.done.wait(wait):
            return None, time.monotonic() - build.started
        if build.error is not None:
            raise build.error
        assert build.report is not None
        return refresh_reviews(self.engine, build.report), time.monotonic() - build.started

    def warm_in_background(self) -> threading.Thread:
        """Build the default week's report in a thread, so the first visit finds it ready
        (on millions of posts the report model takes seconds)."""

        def build() -> None:
            try:
                self.get(self.default_week())
            except Exception:  # noqa: BLE001 - the page will build it (and show the error)
                log.warning("could not prepare the week's report in advance", exc_info=True)

        thread = threading.Thread(target=build, name="smearwatch-week-warmup", daemon=True)
        thread.start()
        return thread

    def default_week(self) -> Week:
        """The week of the newest stored post (not later than now), else the current week."""
        now = datetime.now(UTC)
        with self.engine.connect() as connection:
            latest = queries.latest_post_time(connection)
        return week_of(min(latest, now) if latest else now)


def _week(request: Request) -> Week:
    try:
        return parse_week(request.path_params["label"])
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None


def _report(request: Request) -> WeekReport:
    cache: WeekCache = request.app.state.weeks
    defender = request.query_params.get("defender") or None
    try:
        return cache.get(_week(request), defender)
    except UnknownDefender as exc:
        raise HTTPException(404, str(exc)) from None


def home(request: Request) -> Response:
    cache: WeekCache = request.app.state.weeks
    return RedirectResponse(f"/week/{cache.default_week().label}", status_code=303)


def daily_table(report: WeekReport) -> list[dict[str, Any]]:
    """Mentions per defender per day, from the model's daily counts (summed over platforms)."""
    counts: dict[tuple[str, Any], int] = defaultdict(int)
    for item in report.daily:
        counts[(item.defender_id, item.day)] += item.posts
    days = report.week.days()
    rows = []
    for defender_id, name in report.defenders:
        per_day = [counts.get((defender_id, d), 0) for d in days]
        rows.append(
            {
                "defender_id": defender_id,
                "name": name,
                "days": per_day,
                "total": sum(per_day),
                "baseline": report.baseline_daily.get(defender_id),
            }
        )
    return rows


def week_page(request: Request) -> Response:
    from smearwatch.web.app import render

    cache: WeekCache = request.app.state.weeks
    week = _week(request)
    defender = request.query_params.get("defender") or None
    try:
        report, running = cache.get_or_prepare(week, defender, wait=cache.page_wait)
    except UnknownDefender as exc:
        raise HTTPException(404, str(exc)) from None
    if report is None:
        names = dict(request.app.state.settings.inputs.defenders)
        return render(
            request,
            "week_preparing.html",
            status_code=202,
            week=week,
            defender_name=names.get(defender) if defender else None,
            running=running,
            last=cache.last_build_seconds,
            refresh=REFRESH_S,
        )
    with request.app.state.engine.connect() as connection:
        alerts = queries.alerts_between(connection, report.week.start, report.week.end)
    defender = request.query_params.get("defender") or ""
    return render(
        request,
        "week.html",
        report=report,
        days=report.week.days(),
        daily=daily_table(report),
        alerts=alerts,
        bursts=[a for a in alerts if a.kind == "burst"],
        moving=[c for c in report.clusters if c.flagged and c.status in ("new", "escalating")],
        flagged=report.flagged,
        others=[c for c in report.clusters if not c.flagged],
        prev=report.week.shifted(-1).label,
        next=report.week.shifted(1).label,
        defender=defender,
        all_defenders=request.app.state.settings.inputs.defenders,
        query=f"?defender={quote(defender)}" if defender else "",
    )


def daily_chart(request: Request) -> Response:
    from reports import charts

    report = _report(request)
    data = charts.daily_mentions_chart(
        report.daily, report.week.days(), report.defenders, report.baseline_daily
    )
    return Response(data, media_type="image/png")


def daily_csv(request: Request) -> Response:
    report = _report(request)
    out = io.StringIO()
    writer = csv.writer(out)
    days = report.week.days()
    writer.writerow(["defender_id", "name", *[d.isoformat() for d in days], "week", "baseline_day"])
    for row in daily_table(report):
        base = row["baseline"]
        baseline = "" if base is None else f"{base:.2f}"
        writer.writerow([row["defender_id"], row["name"], *row["days"], row["total"], baseline])
    name = f"smearwatch-{report.week.label}-daily.csv"
    return _download(out.getvalue().encode("utf-8"), "text/csv", name)


def _download(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def week_pdf(request: Request) -> Response:
    """The week's internal PDF, rendered by `reports.pdf` from the same model as the page."""
    from reports.pdf import render_pdf

    report = _report(request)
    with tempfile.TemporaryDirectory(prefix="smearwatch-web-") as tmp:
        path = Path(tmp) / f"smearwatch-{report.week.label}-internal.pdf"
        render_pdf(report, path)
        data = path.read_bytes()
    return _download(data, "application/pdf", path.name)


def week_export(request: Request) -> Response:
    """One of the report's export files (CSV, GEXF, JSON), written by `reports.exports`."""
    from reports.exports import write_exports

    name = request.path_params["name"]
    if name not in EXPORTS:
        raise HTTPException(404, f"no export {name!r} (known: {', '.join(EXPORTS)})")
    report = _report(request)
    with tempfile.TemporaryDirectory(prefix="smearwatch-web-") as tmp:
        written = {p.name: p for p in write_exports(report, Path(tmp))}
        data = written[name].read_bytes()
    return _download(data, EXPORTS[name], f"smearwatch-{report.week.label}-{name}")
