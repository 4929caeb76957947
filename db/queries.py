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

from sqlalchemy import Connection, func, select

from collector.post import format_time, raw_as_value, sha256_text
from db import models

__all__ = [
    "PayloadMismatch",
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


def iter_post_records(
    connection: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    platform: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Posts in the smearwatch JSONL shape, plus their evidence fields, in storage order."""
    last_id = 0
    while True:
        query = (
            select(
                _POST,
                _ACCOUNT.c.platform_id.label("author_id"),
                _ACCOUNT.c.created_at.label("author_created_at"),
            )
            .join(_ACCOUNT, _ACCOUNT.c.id == _POST.c.account_id)
            .where(_POST.c.id > last_id)
            .order_by(_POST.c.id)
            .limit(PAGE)
        )
        if since is not None:
            query = query.where(_POST.c.created_at >= since)
        if until is not None:
            query = query.where(_POST.c.created_at < until)
        if platform is not None:
            query = query.where(_POST.c.platform == platform)
        rows = connection.execute(query).all()
        if not rows:
            return
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
                "collector": row.collector,
                "raw": raw_as_value(row.raw),
            }
        last_id = rows[-1].id


def iter_accounts(
    connection: Connection, *, platform: str | None = None
) -> Iterator[dict[str, Any]]:
    counts = (
        select(_POST.c.account_id, func.count().label("posts"))
        .group_by(_POST.c.account_id)
        .subquery()
    )
    last_id = 0
    while True:
        query = (
            select(_ACCOUNT, func.coalesce(counts.c.posts, 0).label("posts"))
            .outerjoin(counts, counts.c.account_id == _ACCOUNT.c.id)
            .where(_ACCOUNT.c.id > last_id)
            .order_by(_ACCOUNT.c.id)
            .limit(PAGE)
        )
        if platform is not None:
            query = query.where(_ACCOUNT.c.platform == platform)
        rows = connection.execute(query).all()
        if not rows:
            return
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
        last_id = rows[-1].id


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
    post_count = version_count = 0
    last_id = 0
    while True:
        query = (
            select(
                _POST.c.id,
                _POST.c.evidence_id,
                _POST.c.platform,
                _POST.c.platform_id,
                _POST.c.version,
                _POST.c.raw,
                _POST.c.raw_sha256,
            )
            .where(_POST.c.id > last_id)
            .order_by(_POST.c.id)
            .limit(PAGE)
        )
        if evidence_ids:
            query = query.where(_POST.c.evidence_id.in_(evidence_ids))
        rows = connection.execute(query).all()
        if not rows:
            break
        for row in rows:
            post_count += 1
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
        last_id = rows[-1].id
    version = models.PostVersion.__table__
    last_id = 0
    while True:
        query = (
            select(
                version.c.id,
                version.c.version,
                version.c.raw,
                version.c.raw_sha256,
                _POST.c.evidence_id,
                _POST.c.platform,
                _POST.c.platform_id,
            )
            .join(_POST, _POST.c.id == version.c.post_id)
            .where(version.c.id > last_id)
            .order_by(version.c.id)
            .limit(PAGE)
        )
        if evidence_ids:
            query = query.where(_POST.c.evidence_id.in_(evidence_ids))
        rows = connection.execute(query).all()
        if not rows:
            break
        for row in rows:
            version_count += 1
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
        last_id = rows[-1].id
    if checked is not None:
        checked.extend([post_count, version_count])


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
    return {
        "posts": posts,
        "accounts": accounts,
        "spans": spans,
        "versions": versions,
        "imports": imports,
        "mentions": mentions,
    }


def iter_mentions(
    connection: Connection, *, defender_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every stored defender mention with the post it is in, for `export mentions`."""
    mention = models.Mention.__table__
    last_id = 0
    while True:
        query = (
            select(
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
            )
            .join(_POST, _POST.c.id == mention.c.post_id)
            .where(mention.c.id > last_id)
            .order_by(mention.c.id)
            .limit(PAGE)
        )
        if defender_id is not None:
            query = query.where(mention.c.defender_id == defender_id)
        rows = connection.execute(query).all()
        if not rows:
            return
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
        last_id = rows[-1].id


def iter_cluster_members(
    connection: Connection, *, platform: str | None = None
) -> Iterator[dict[str, Any]]:
    """Accounts of the clusters of the latest successful analysis run, for `export clusters`."""
    run = models.AnalysisRun.__table__
    latest = connection.execute(
        select(run.c.id)
        .where(run.c.status.in_(["ok", "success", "succeeded", "completed", "done"]))
        .order_by(run.c.id.desc())
        .limit(1)
    ).scalar()
    if latest is None:
        return
    cluster = models.Cluster.__table__
    member = models.ClusterMember.__table__
    query = (
        select(
            cluster.c.stable_id,
            cluster.c.score,
            cluster.c.confidence,
            cluster.c.defender_id,
            cluster.c.stance,
            member.c.signals,
            _ACCOUNT.c.platform,
            _ACCOUNT.c.platform_id,
            _ACCOUNT.c.handle,
        )
        .join(member, member.c.cluster_id == cluster.c.id)
        .join(_ACCOUNT, _ACCOUNT.c.id == member.c.account_id)
        .where(cluster.c.analysis_run_id == latest)
        .order_by(cluster.c.score.desc(), cluster.c.stable_id, _ACCOUNT.c.platform_id)
    )
    if platform is not None:
        query = query.where(_ACCOUNT.c.platform == platform)
    for row in connection.execute(query):
        yield {
            "cluster_id": row.stable_id,
            "platform": row.platform,
            "account_id": row.platform_id,
            "handle": row.handle,
            "score": row.score,
            "confidence": row.confidence,
            "signals": row.signals or {},
            "defender_id": row.defender_id,
            "stance": row.stance,
            "run_id": latest,
        }
