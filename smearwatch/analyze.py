"""The analysis job: load a window of posts, run the engine, store the run and its clusters.

The run row is committed as "running" before the work starts and closed as "ok" or "failed"
afterwards, so `status` and the daemon can see a run that crashed. The clusters, their members,
evidence and edges are written in one transaction with the closing of the run: a report never
sees half a run. Cluster ids are carried over from earlier runs by member overlap (the
engine's `match_cluster_ids`), so "C7" next week is still C7.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from analysis.engine import CODE_VERSION, analyze
from analysis.frames import DEFENDERS_COLUMNS, AnalysisInput
from analysis.params import AnalysisParams
from analysis.results import AnalysisResult, PreviousCluster, jsonable
from db import models
from db.frames import load_window
from smearwatch.config import Config, ConfigError

__all__ = ["AnalysisSummary", "analysis_params", "run_analysis"]

DEFAULT_WINDOW = timedelta(days=7)
log = logging.getLogger(__name__)


@dataclass
class AnalysisSummary:
    run_id: int
    since: datetime
    until: datetime
    posts: int
    accounts: int
    result: AnalysisResult


def analysis_params(config: Config) -> AnalysisParams:
    """`[analysis]` of the config as engine parameters; unknown keys are config errors."""
    known = {f.name for f in dataclasses.fields(AnalysisParams)}
    options = dict(config.analysis.options)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"[analysis]: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(known))})"
        )
    if "layers" in options:
        options["layers"] = tuple(options["layers"])
    try:
        return AnalysisParams(
            window_seconds=config.analysis.window_seconds,
            min_repetitions=config.analysis.min_repetitions,
            **options,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[analysis]: {exc}") from exc


def default_window(connection: Connection, now: datetime) -> tuple[datetime, datetime]:
    """The seven days up to the newest post (or now, if there is none).

    Ending at the newest post rather than the wall clock makes `analyze` on an imported
    archive look at the archive, not at an empty last week.
    """
    newest = connection.execute(select(func.max(models.Post.created_at))).scalar_one_or_none()
    until = min(now, newest + timedelta(seconds=1)) if newest else now
    return until - DEFAULT_WINDOW, until


def _previous_clusters(connection: Connection) -> list[PreviousCluster]:
    """Every stable id ever used, with its membership in the latest run that had it."""
    cluster = models.Cluster.__table__
    member = models.ClusterMember.__table__
    run = models.AnalysisRun.__table__
    rows = connection.execute(
        select(cluster.c.stable_id, cluster.c.id, member.c.account_id)
        .join(run, run.c.id == cluster.c.analysis_run_id)
        .join(member, member.c.cluster_id == cluster.c.id)
        .where(run.c.status == "ok")
        .order_by(cluster.c.id)
    ).all()
    latest: dict[str, int] = {}
    for stable_id, cluster_id, _ in rows:
        latest[stable_id] = max(cluster_id, latest.get(stable_id, 0))
    members: dict[str, set[int]] = {}
    for stable_id, cluster_id, account_id in rows:
        if latest[stable_id] == cluster_id:
            members.setdefault(stable_id, set()).add(account_id)
    return [PreviousCluster(sid, frozenset(accounts)) for sid, accounts in members.items()]


def _defenders_frame(config: Config) -> pd.DataFrame:
    rows = [
        {
            "defender_id": d.id,
            "name": d.name,
            "handles": ", ".join(h for handles in d.handles.values() for h in handles),
        }
        for d in config.defenders
    ]
    return pd.DataFrame(rows, columns=list(DEFENDERS_COLUMNS))


def run_analysis(
    engine: Engine,
    config: Config,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AnalysisSummary:
    """Analyse posts created in [since, until) and store the run; returns what was found.

    Raises:
        ConfigError: invalid `[analysis]` settings.
    """
    params = analysis_params(config)
    run = models.AnalysisRun.__table__
    with engine.begin() as connection:
        if until is None:
            until = default_window(connection, clock())[1]
        if since is None:
            since = until - DEFAULT_WINDOW
        run_id = connection.execute(
            insert(run).returning(run.c.id),
            {
                "started_at": clock(),
                "status": "running",
                "since": since,
                "until": until,
                "code_version": CODE_VERSION,
                "parameters": jsonable(params.to_dict()),
            },
        ).scalar_one()
    try:
        with engine.connect() as connection:
            frames = load_window(connection, since, until)
            previous = _previous_clusters(connection)
        inp = AnalysisInput(
            posts=frames.posts,
            links=frames.links,
            hashtags=frames.hashtags,
            mentions=frames.mentions,
            accounts=frames.accounts,
            defenders=_defenders_frame(config),
            since=since,
            until=until,
        )
        result = analyze(inp, params, previous)
        with engine.begin() as connection:
            _store(connection, run_id, result)
            connection.execute(
                update(run)
                .where(run.c.id == run_id)
                .values(
                    status="ok",
                    finished_at=clock(),
                    vocabulary=jsonable(result.vocabulary),
                    stats=jsonable(result.stats),
                    layers=jsonable(result.layers),
                )
            )
    except BaseException as exc:
        with engine.begin() as connection:
            connection.execute(
                update(run)
                .where(run.c.id == run_id)
                .values(status="failed", finished_at=clock(), error=f"{type(exc).__name__}: {exc}")
            )
        raise
    _store_report_terms(engine, run_id, since, until)
    return AnalysisSummary(
        run_id=run_id,
        since=since,
        until=until,
        posts=len(frames.posts),
        accounts=len(frames.accounts),
        result=result,
    )


def _store_report_terms(engine: Engine, run_id: int, since: datetime, until: datetime) -> None:
    """Store the week report's smear terms of the window's mention posts (`reports.terms`).

    After the run is closed, under the vocabulary the report reads from that run, so that a
    cold week report need not match every mention text (seconds on a million posts). The
    rows are stored answers the report checks before taking: if writing them fails (a busy
    database), the run stands and the report matches the texts itself, as before.
    """
    from reports.terms import store_post_terms
    from reports.vocabulary import vocabulary_from_run

    run = models.AnalysisRun.__table__
    with engine.connect() as connection:
        stored = connection.execute(select(run.c.vocabulary).where(run.c.id == run_id)).scalar()
    try:
        store_post_terms(engine, vocabulary_from_run(stored), since, until)
    except SQLAlchemyError as exc:
        log.warning("analysis run %s: report smear terms not stored: %s", run_id, exc)


def _store(connection: Connection, run_id: int, result: AnalysisResult) -> None:
    cluster_table = models.Cluster.__table__
    cluster_ids: dict[int, int] = {}
    for cluster in result.clusters:
        data = cluster.to_dict()
        main_target = cluster.targets[0].defender_id if cluster.targets else None
        cluster_ids[cluster.local_id] = connection.execute(
            insert(cluster_table).returning(cluster_table.c.id),
            {
                "analysis_run_id": run_id,
                "stable_id": cluster.stable_id or f"R{run_id}-{cluster.local_id}",
                "local_id": cluster.local_id,
                "defender_id": main_target,
                "size": len(cluster.members),
                "score": float(cluster.score),
                "confidence": cluster.confidence,
                "stance": cluster.stance,
                "first_activity": _aware(cluster.first_at),
                "last_activity": _aware(cluster.last_at),
                "components": data["components"],
                "signals": data["signals"],
                "targets": data["targets"],
                "narratives": data["narratives"],
                "explanation": data["explanation"],
                "alternatives": data["alternatives"],
            },
        ).scalar_one()
        cid = cluster_ids[cluster.local_id]
        members = [
            {
                "cluster_id": cid,
                "account_id": int(m.account_pk),
                "centrality": float(m.centrality),
                "posts": int(m.posts),
                "signals": jsonable(m.signals),
            }
            for m in cluster.members
        ]
        if members:
            connection.execute(insert(models.ClusterMember.__table__), members)
        evidence = [
            {
                "cluster_id": cid,
                "kind": e.layer,
                "object": e.object,
                "display": e.display,
                "accounts": int(e.accounts),
                "outside_accounts": int(e.outside_accounts),
                "first_at": _aware(e.first_at),
                "span_seconds": float(e.span_s),
                "posts": jsonable(e.posts),
            }
            for e in cluster.evidence
        ]
        if evidence:
            connection.execute(insert(models.ClusterEvidence.__table__), evidence)
    edges = [
        {
            "analysis_run_id": run_id,
            "cluster_id": cluster_ids[edge.cluster],
            "account_a": int(edge.a),
            "account_b": int(edge.b),
            "weight": float(edge.weight),
            "shared_objects": int(edge.n),
            "expected": float(edge.expected),
            "excess": float(edge.excess),
            "p_value": float(edge.p_value),
            "fast": bool(edge.fast),
            "min_dt_seconds": float(edge.min_dt_s),
            "layers": jsonable(edge.layers),
            "evidence": jsonable(edge.evidence),
        }
        for edge in result.edges
        # Edges outside any cluster are not evidence of anything; the run's layer statistics
        # keep their counts.
        if edge.cluster is not None and edge.cluster in cluster_ids
    ]
    if edges:
        connection.execute(insert(models.CoordinationEdge.__table__), edges)


def _aware(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()
