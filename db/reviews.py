"""Analysts' verdicts on clusters: the one way a `review` record is written and read.

`smearwatch review` and the web page's confirm/dismiss form both call `record_review`, so a
verdict given in either place is the same row, shown the same way by reports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from db import models

__all__ = ["CONFIDENCES", "VERDICTS", "cluster_exists", "record_review", "review_history"]

VERDICTS = ("confirmed", "dismissed")
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
