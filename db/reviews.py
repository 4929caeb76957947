"""Analysts' verdicts on clusters: the one way a `review` record is written and read.

`smearwatch review` and the web page's confirm/dismiss form both call `record_review`, so a
verdict given in either place is the same row, shown the same way by reports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from db import models

__all__ = [
    "CONFIDENCES",
    "VERDICTS",
    "cluster_exists",
    "latest_reviews",
    "record_review",
    "review_history",
]

VERDICTS = ("confirmed", "dismissed")
LOOKUP_CHUNK = 900  # bound parameters per IN (...) list: well below every backend's limit
CONFIDENCES = ("low", "medium", "high")
_REVIEW = models.Review.__table__


def cluster_exists(connection: Connection, stable_id: str) -> bool:
    """Whether any analysis run has a cluster with this stable id."""
    found = connection.execute(
        select(models.Cluster.id).where(models.Cluster.stable_id == stable_id).limit(1)
    ).first()
    return found is not None


def record_review(
    connection: Connection,
    stable_id: str,
    verdict: str,
    *,
    note: str | None = None,
    reviewer: str | None = None,
    confidence: str | None = None,
    now: datetime | None = None,
) -> None:
    """Write one verdict; the caller's transaction commits it.

    Raises:
        ValueError: a verdict or confidence outside the known values.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if confidence is not None and confidence not in CONFIDENCES:
        raise ValueError(f"confidence must be one of {', '.join(CONFIDENCES)}, not {confidence!r}")
    connection.execute(
        insert(_REVIEW),
        {
            "stable_id": stable_id,
            "verdict": verdict,
            "confidence": confidence,
            "note": note or None,
            "reviewer": reviewer or None,
            "created_at": now or datetime.now(UTC),
        },
    )


def review_history(connection: Connection, stable_id: str) -> list[Any]:
    """Every verdict on the cluster, oldest first."""
    return list(
        connection.execute(
            select(_REVIEW).where(_REVIEW.c.stable_id == stable_id).order_by(_REVIEW.c.id)
        ).all()
    )


def latest_reviews(connection: Connection, stable_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The verdict in force for each cluster: the newest by time, then by id.

    The report, its PDF and the web pages all ask this one function, so a cluster shows the
    same verdict everywhere. Ties on `created_at` (two verdicts in one second from a script)
    go to the later row. Asked in chunks: a run can have more clusters than SQLite takes
    bound parameters.
    """
    found: dict[str, dict[str, Any]] = {}
    ids = sorted(set(stable_ids))
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(_REVIEW).where(_REVIEW.c.stable_id.in_(chunk)).order_by(_REVIEW.c.id)
        )
        for row in rows:
            previous = found.get(row.stable_id)
            if previous is None or (row.created_at, row.id) >= (
                previous["created_at"],
                previous["id"],
            ):
                found[row.stable_id] = dict(row._mapping)
    return found
