"""This week: the report model's figures for one ISO week, kept until the data changes.

The page shows `reports.model.build_week_report` (the PDF's model), never its own counts.
Building it reads the whole week, which on millions of posts takes seconds, so the built
report is cached per (week, defender) and data fingerprint (largest ids of posts, mentions,
runs, imports: index look-ups). Only the analysts' verdicts, which change while one looks at
the page, are read again on each view (`refresh_reviews`).
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import threading
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
EXPORTS = {
    "clusters.csv": "text/csv",
    "accounts.csv": "text/csv",
    "evidence.csv": "text/csv",
    "network.gexf": "application/gexf+xml",
    "summary.json": "application/json",
}


class WeekCache:
    """Built week reports by (week, defender, data fingerprint); one build at a time per key."""

    def __init__(self, engine: Engine, inputs: ReportInputs) -> None:
        self.engine = engine
        self.inputs = inputs
        self._reports: OrderedDict[tuple[Any, ...], WeekReport] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[Any, ...], threading.Lock] = defaultdict(threading.Lock)

    def get(self, week: Week, defender: str | None = None) -> WeekReport:
        with self.engine.connect() as connection:
            key = (week.label, defender, queries.data_fingerprint(connection))
        with self._lock:
            gate = self._building[key]
        with gate:
            with self._lock:
                report = self._reports.get(key)
            if report is None:
                report = build_week_report(self.engine, self.inputs, week, defender=defender)
                with self._lock:
                    self._reports[key] = report
                    while len(self._reports) > CACHED_REPORTS:
                        old, _ = self._reports.popitem(last=False)
                        self._building.pop(old, None)
            return refresh_reviews(self.engine, report)

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

    report = _report(request)
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
