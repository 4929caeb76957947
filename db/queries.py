"""Read-side queries: streaming exports, status counts and payload verification.

Everything that walks the post table pages through it by primary key (keyset pagination), so an
export or a verification of millions of posts runs in constant memory on both backends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, func, select

from collector.post import format_time, raw_as_value, sha256_text
from db import models

__all__ = [
    "PayloadMismatch",
    "cluster_network",
    "iter_cluster_members",
    "latest_analysis_run",
    "iter_mentions",
    "post_children",
    "iter_accounts",
    "iter_cluster_members",
    "iter_post_records",
    "iter_payload_mismatches",
    "status_counts",
]

PAGE = 2000
_POST = models.Post.__table__
_ACCOUNT = models.Account.__table__


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


def post_children(connection: Connection, post_ids: list[int]) -> dict[str, dict[int, list[str]]]:
    found: dict[str, dict[int, list[str]]] = {
        "links": defaultdict(list),
        "hashtags": defaultdict(list),
        "mentions": defaultdict(list),
    }
    for key, table, column in (
        ("links", models.PostLink.__table__, "url"),
        ("hashtags", models.PostHashtag.__table__, "tag"),
        ("mentions", models.PostTag.__table__, "handle"),
    ):
        rows = connection.execute(
            select(table.c.post_id, table.c[column])
            .where(table.c.post_id.in_(post_ids))
            .order_by(table.c.post_id, table.c.position)
        )
        for post_id, value in rows:
            found[key][post_id].append(value)
    return found


def _pages(
    connection: Connection, query: Select[Any], key: ColumnElement[int], attribute: str = "id"
) -> Iterator[list[Row[Any]]]:
    """The query's rows in `key` order, PAGE at a time: constant memory on any table size.

    Keyset pagination (WHERE key > last) rather than OFFSET, so each page is an index range
    scan and the last page costs what the first did.
    """
    last = 0
    while True:
        rows = connection.execute(query.where(key > last).order_by(key).limit(PAGE)).all()
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], attribute)


def iter_post_records(
    connection: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    platform: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Posts in the smearwatch JSONL shape, plus their evidence fields, in storage order."""
    query = select(
        _POST,
        _ACCOUNT.c.platform_id.label("author_id"),
        _ACCOUNT.c.created_at.label("author_created_at"),
    ).join(_ACCOUNT, _ACCOUNT.c.id == _POST.c.account_id)
    if since is not None:
        query = query.where(_POST.c.created_at >= since)
    if until is not None:
        query = query.where(_POST.c.created_at < until)
    if platform is not None:
        query = query.where(_POST.c.platform == platform)
    for rows in _pages(connection, query, _POST.c.id):
        children = post_children(connection, [r.id for r in rows])
        for row in rows:
            yield {
                "platform": row.platform,
                "post_id": row.platform_id,
                "url": row.url,
                "created_at": _time(row.created_at),
                "collected_at": _time(row.collected_at),
                "author": {
                    "id": row.author_id,
                    "handle": row.author_handle,
                    "display_name": row.author_display_name,
                    "created_at": _time(row.author_created_at),
                },
                "text": row.text,
                "lang": row.lang,
                "links": children["links"].get(row.id, []),
                "hashtags": children["hashtags"].get(row.id, []),
                "mentions": children["mentions"].get(row.id, []),
                "reply_to": row.reply_to,
                "repost_of": row.repost_of,
                "quote_of": row.quote_of,
                "evidence_id": row.evidence_id,
                "raw_sha256": row.raw_sha256,
                "version": row.version,
                # A tombstone: when a re-read found the post deleted on its platform.
                "deleted_at": _time(row.deleted_at),
                "collector": row.collector,
                "raw": raw_as_value(row.raw),
            }


def iter_accounts(
    connection: Connection, *, platform: str | None = None
) -> Iterator[dict[str, Any]]:
    counts = (
        select(_POST.c.account_id, func.count().label("posts"))
        .group_by(_POST.c.account_id)
        .subquery()
    )
    query = select(_ACCOUNT, func.coalesce(counts.c.posts, 0).label("posts")).outerjoin(
        counts, counts.c.account_id == _ACCOUNT.c.id
    )
    if platform is not None:
        query = query.where(_ACCOUNT.c.platform == platform)
    for rows in _pages(connection, query, _ACCOUNT.c.id):
        for row in rows:
            yield {
                "platform": row.platform,
                "account_id": row.platform_id,
                "handle": row.handle,
                "display_name": row.display_name,
                "created_at": _time(row.created_at),
                "first_seen": _time(row.first_seen),
                "last_seen": _time(row.last_seen),
                "posts": row.posts,
            }


@dataclass(frozen=True)
class PayloadMismatch:
    evidence_id: str
    platform: str
    post_id: str
    version: int
    stored_sha256: str
    actual_sha256: str


def iter_payload_mismatches(
    connection: Connection,
    evidence_ids: list[str] | None = None,
    *,
    checked: list[int] | None = None,
) -> Iterator[PayloadMismatch]:
    """Re-hash every stored payload (current and earlier versions); yield those that differ.

    `checked`, if given, gets the number of payloads hashed appended to it (posts, versions).
    """
    version = models.PostVersion.__table__
    current = select(
        _POST.c.id.label("key"),
        _POST.c.version,
        _POST.c.raw,
        _POST.c.raw_sha256,
        _POST.c.evidence_id,
        _POST.c.platform,
        _POST.c.platform_id,
    )
    earlier = select(
        version.c.id.label("key"),
        version.c.version,
        version.c.raw,
        version.c.raw_sha256,
        _POST.c.evidence_id,
        _POST.c.platform,
        _POST.c.platform_id,
    ).join(_POST, _POST.c.id == version.c.post_id)
    counts = []
    for query, key in ((current, _POST.c.id), (earlier, version.c.id)):
        if evidence_ids:
            query = query.where(_POST.c.evidence_id.in_(evidence_ids))
        count = 0
        for rows in _pages(connection, query, key, "key"):
            for row in rows:
                count += 1
                actual = sha256_text(row.raw)
                if actual != row.raw_sha256:
                    yield PayloadMismatch(
                        row.evidence_id,
                        row.platform,
                        row.platform_id,
                        row.version,
                        row.raw_sha256,
                        actual,
                    )
        counts.append(count)
    if checked is not None:
        checked.extend(counts)


def status_counts(connection: Connection) -> dict[str, Any]:
    """Counts per platform and the latest imports, for `smearwatch status`."""
    posts = dict(
        connection.execute(select(_POST.c.platform, func.count()).group_by(_POST.c.platform)).all()
    )
    accounts = dict(
        connection.execute(
            select(_ACCOUNT.c.platform, func.count()).group_by(_ACCOUNT.c.platform)
        ).all()
    )
    spans = {
        platform: (first, last)
        for platform, first, last in connection.execute(
            select(
                _POST.c.platform, func.min(_POST.c.created_at), func.max(_POST.c.created_at)
            ).group_by(_POST.c.platform)
        )
    }
    versions = connection.execute(
        select(func.count()).select_from(models.PostVersion.__table__)
    ).scalar_one()
    deleted = connection.execute(
        select(func.count()).select_from(_POST).where(_POST.c.deleted_at.is_not(None))
    ).scalar_one()
    batch = models.ImportBatch.__table__
    imports = connection.execute(select(batch).order_by(batch.c.id.desc()).limit(5)).all()
    mention = models.Mention.__table__
    mentions = dict(
        connection.execute(
            select(mention.c.defender_id, func.count(func.distinct(mention.c.post_id))).group_by(
                mention.c.defender_id
            )
        ).all()
    )
    source = models.Source.__table__
    run = models.CollectionRun.__table__
    last_run = (
        select(run.c.source_id, func.max(run.c.id).label("run_id")).group_by(run.c.source_id)
    ).subquery()
    last_ok = (
        select(run.c.source_id, func.max(run.c.finished_at).label("ok_at"))
        .where(run.c.status == "ok")
        .group_by(run.c.source_id)
    ).subquery()
    sources = connection.execute(
        select(
            source.c.name,
            source.c.platform,
            run.c.status,
            run.c.started_at,
            run.c.fetched,
            run.c.inserted,
            run.c.error,
            last_ok.c.ok_at,
        )
        .outerjoin(last_run, last_run.c.source_id == source.c.id)
        .outerjoin(run, run.c.id == last_run.c.run_id)
        .outerjoin(last_ok, last_ok.c.source_id == source.c.id)
        .order_by(source.c.name)
    ).all()
    return {
        "sources": sources,
        "posts": posts,
        "accounts": accounts,
        "spans": spans,
        "versions": versions,
        "deleted": deleted,
        "imports": imports,
        "mentions": mentions,
    }


def iter_mentions(
    connection: Connection, *, defender_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every stored defender mention with the post it is in, for `export mentions`."""
    mention = models.Mention.__table__
    query = select(
        mention.c.id,
        _POST.c.platform,
        _POST.c.platform_id,
        _POST.c.evidence_id,
        _POST.c.created_at,
        _POST.c.author_handle,
        _POST.c.url,
        mention.c.defender_id,
        mention.c.alias,
        mention.c.matched_text,
        mention.c.field,
        mention.c.start,
        mention.c.end,
    ).join(_POST, _POST.c.id == mention.c.post_id)
    if defender_id is not None:
        query = query.where(mention.c.defender_id == defender_id)
    for rows in _pages(connection, query, mention.c.id):
        for row in rows:
            yield {
                "platform": row.platform,
                "post_id": row.platform_id,
                "defender_id": row.defender_id,
                "alias": row.alias,
                "matched_text": row.matched_text,
                "field": row.field,
                "start": row.start,
                "end": row.end,
                "evidence_id": row.evidence_id,
                "created_at": _time(row.created_at),
                "author_handle": row.author_handle,
                "url": row.url,
            }


def latest_analysis_run(connection: Connection) -> Any:
    """The newest analysis run that finished, or None."""
    run = models.AnalysisRun.__table__
    return connection.execute(
        select(run).where(run.c.status == "ok").order_by(run.c.id.desc()).limit(1)
    ).first()


def iter_cluster_members(
    connection: Connection, run_id: int | None = None
) -> Iterator[dict[str, Any]]:
    """One row per member account of each cluster of a run (default: the newest run)."""
    if run_id is None:
        latest = latest_analysis_run(connection)
        if latest is None:
            return
        run_id = latest.id
    cluster = models.Cluster.__table__
    member = models.ClusterMember.__table__
    rows = connection.execute(
        select(
            cluster.c.stable_id,
            cluster.c.defender_id,
            cluster.c.score,
            cluster.c.confidence,
            cluster.c.stance,
            cluster.c.size,
            _ACCOUNT.c.platform,
            _ACCOUNT.c.platform_id,
            _ACCOUNT.c.handle,
            _ACCOUNT.c.created_at,
            member.c.posts,
            member.c.centrality,
            member.c.signals,
        )
        .join(member, member.c.cluster_id == cluster.c.id)
        .join(_ACCOUNT, _ACCOUNT.c.id == member.c.account_id)
        .where(cluster.c.analysis_run_id == run_id)
        .order_by(cluster.c.score.desc(), cluster.c.stable_id, member.c.centrality.desc())
    )
    for row in rows:
        yield {
            "cluster_id": row.stable_id,
            "defender_id": row.defender_id,
            "stance": row.stance,
            "score": row.score,
            "confidence": row.confidence,
            "cluster_size": row.size,
            "platform": row.platform,
            "account_id": row.platform_id,
            "handle": row.handle,
            "account_created_at": _time(row.created_at),
            "posts": row.posts,
            "centrality": round(row.centrality, 4),
            "signals": row.signals,
            "analysis_run": run_id,
        }


def cluster_network(
    connection: Connection, run_id: int | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Member accounts (nodes) and coordination edges of a run's clusters (default: newest)."""
    if run_id is None:
        latest = latest_analysis_run(connection)
        if latest is None:
            return [], []
        run_id = latest.id
    nodes = list(iter_cluster_members(connection, run_id))
    cluster = models.Cluster.__table__
    edge = models.CoordinationEdge.__table__
    a = _ACCOUNT.alias("a")
    b = _ACCOUNT.alias("b")
    rows = connection.execute(
        select(
            cluster.c.stable_id,
            a.c.platform.label("platform_a"),
            a.c.platform_id.label("account_a"),
            b.c.platform.label("platform_b"),
            b.c.platform_id.label("account_b"),
            edge.c.weight,
            edge.c.shared_objects,
            edge.c.expected,
            edge.c.excess,
            edge.c.p_value,
            edge.c.fast,
            edge.c.min_dt_seconds,
            edge.c.layers,
        )
        .join(cluster, cluster.c.id == edge.c.cluster_id)
        .join(a, a.c.id == edge.c.account_a)
        .join(b, b.c.id == edge.c.account_b)
        .where(edge.c.analysis_run_id == run_id)
        .order_by(edge.c.id)
    )
    edges = [dict(row._mapping) for row in rows]
    return nodes, edges
