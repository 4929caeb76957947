"""Cluster alerts through the daemon's own jobs: the bundled demo data, the analysis job, then
the alerts job. A new high-confidence hostile cluster alerts once; the same cluster found again
by a later analysis run (same stable id) does not; a supportive cluster never alerts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from db import models
from db.engine import open_database
from smearwatch import jobs
from smearwatch.clock import Clock
from smearwatch.config import load_config
from smearwatch.demo import DEMO_PACKAGE
from smearwatch.jobs import JobContext
from smearwatch.matching import MentionStep
from smearwatch.pipeline import import_file
from smearwatch.settings import AlertSettings, DaemonSettings

from .collect_helpers import query

# The end of the demo data's second week: the analysis window (7 days) is its week W47.
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def cluster_alerts(db_url: str) -> list[tuple[str, str]]:
    return [
        (row[0], row[1])
        for row in query(db_url, "SELECT key, title FROM alert WHERE kind = 'cluster' ORDER BY id")
    ]


def test_a_new_hostile_cluster_alerts_once_and_a_supportive_one_never(
    tmp_path: Path, db_url: str
) -> None:
    data = resources.files(DEMO_PACKAGE)
    path = tmp_path / "smearwatch.toml"
    path.write_text((data / "demo.toml").read_text(encoding="utf-8"), encoding="utf-8")
    config = load_config(path, database_url=db_url)
    engine = open_database(db_url)
    mentions = MentionStep(config.defenders)
    with resources.as_file(data / "posts.jsonl.gz") as posts:
        import_file(engine, posts, mentions=mentions)
    states: dict[str, dict[str, Any]] = {"analysis": {}, "alerts": {}}

    def run(job: str) -> jobs.JobResult:
        ctx = JobContext(
            engine=engine,
            config=config,
            settings=DaemonSettings.from_config(config),
            alerts=AlertSettings.from_config(config),
            clock=Clock(NOW, speed=1),
            mentions=mentions,
            stopping=threading.Event(),
            state=dict(states[job]),
        )
        result = jobs.analyse(ctx) if job == "analysis" else jobs.alerts(ctx)
        assert result.status == "ok", result.message
        states[job].update(result.detail or {})
        return result

    try:
        run("analysis")
        cluster = models.Cluster.__table__
        hostile = query(
            db_url,
            "SELECT stable_id FROM cluster WHERE stance = 'hostile' AND confidence = 'high'",
        )
        assert hostile, "the demo data has a high-confidence hostile campaign"
        run("alerts")
        first = cluster_alerts(db_url)
        assert [key for key, _ in first] == [f"cluster:{sid}" for (sid,) in hostile]
        assert "hostile cluster" in first[0][1] and "Bakhyt Ormanova" in first[0][1]
        run("alerts")  # the same run again: nothing new
        # A second analysis run finds the same campaign under the same stable id: no new alert.
        states["analysis"].clear()
        run("analysis")
        runs = query(db_url, "SELECT count(*) FROM analysis_run WHERE status = 'ok'")[0][0]
        assert runs == 2
        again = query(
            db_url,
            "SELECT c.stable_id FROM cluster c WHERE c.analysis_run_id = "
            "(SELECT max(id) FROM analysis_run) AND c.stance = 'hostile' "
            "AND c.confidence = 'high'",
        )
        assert sorted(again) == sorted(hostile)
        run("alerts")
        assert cluster_alerts(db_url) == first
        # The latest run's cluster, as a supportive one (people defending her) under a new id.
        with engine.begin() as connection:
            latest = connection.execute(select(models.AnalysisRun.id).order_by(
                models.AnalysisRun.id.desc()).limit(1)).scalar_one()  # fmt: skip
            connection.execute(
                update(cluster)
                .where(cluster.c.analysis_run_id == latest)
                .values(stance="supportive", stable_id="C900")
            )
        run("alerts")
        assert cluster_alerts(db_url) == first
        assert query(db_url, "SELECT count(*) FROM alert WHERE key LIKE 'cluster:C900%'") == [(0,)]
    finally:
        engine.dispose()
