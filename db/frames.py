"""Window queries that answer with pandas frames, in the shape the analysis engine reads.

The analysis never touches the database: it gets these frames for a time window. Child rows
(links, hashtags, mentions) are selected with a join on the same window, so each frame is
one query whatever the number of posts, and the accounts frame holds only the accounts that
posted in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Select, select

from db import models

__all__ = ["WindowFrames", "load_window"]

_POST = models.Post.__table__
_ACCOUNT = models.Account.__table__


@dataclass
class WindowFrames:
    posts: pd.DataFrame
    links: pd.DataFrame
    hashtags: pd.DataFrame
    mentions: pd.DataFrame
    accounts: pd.DataFrame


def _frame(connection: Connection, query: Select, columns: list[str]) -> pd.DataFrame:
    rows = connection.execute(query).all()
    return pd.DataFrame.from_records(rows, columns=columns)


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.as_unit("ns")
    return frame


def load_window(
    connection: Connection, since: datetime | None, until: datetime | None
) -> WindowFrames:
    """Posts created in [since, until) with their links, hashtags, mentions and accounts."""
    conditions = []
    if since is not None:
        conditions.append(_POST.c.created_at >= since)
    if until is not None:
        conditions.append(_POST.c.created_at < until)

    posts = _frame(
        connection,
        select(
            _POST.c.id,
            _POST.c.platform,
            _POST.c.platform_id,
            _POST.c.evidence_id,
            _POST.c.account_id,
            _ACCOUNT.c.platform_id,
            _POST.c.author_handle,
            _POST.c.created_at,
            _POST.c.text,
            _POST.c.lang,
            _POST.c.url,
            _POST.c.reply_to,
            _POST.c.repost_of,
            _POST.c.quote_of,
        )
        .join(_ACCOUNT, _ACCOUNT.c.id == _POST.c.account_id)
        .where(*conditions)
        .order_by(_POST.c.id),
        [
            "post_pk",
            "platform",
            "post_id",
            "evidence_id",
            "account_pk",
            "author_id",
            "handle",
            "created_at",
            "text",
            "lang",
            "url",
            "reply_to",
            "repost_of",
            "quote_of",
        ],  # fmt: skip
    )
    _utc(posts, "created_at")

    def child(table: type[models.Base], columns: list[str], names: list[str]) -> pd.DataFrame:
        t = table.__table__
        query = (
            select(t.c.post_id, *(t.c[c] for c in columns))
            .join(_POST, _POST.c.id == t.c.post_id)
            .where(*conditions)
            .order_by(t.c.post_id, t.c.id)
        )
        return _frame(connection, query, ["post_pk", *names])

    links = child(
        models.PostLink, ["url", "normalized_url", "domain"], ["url", "normalized_url", "domain"]
    )
    hashtags = child(models.PostHashtag, ["tag", "position"], ["tag", "position"])
    mentions = child(models.Mention, ["defender_id"], ["defender_id"]).drop_duplicates()

    account_ids = select(_POST.c.account_id).where(*conditions).distinct().scalar_subquery()
    accounts = _frame(
        connection,
        select(
            _ACCOUNT.c.id,
            _ACCOUNT.c.platform,
            _ACCOUNT.c.platform_id,
            _ACCOUNT.c.handle,
            _ACCOUNT.c.display_name,
            _ACCOUNT.c.created_at,
            _ACCOUNT.c.first_seen,
            _ACCOUNT.c.last_seen,
        )
        .where(_ACCOUNT.c.id.in_(account_ids))
        .order_by(_ACCOUNT.c.id),
        [
            "account_pk",
            "platform",
            "author_id",
            "handle",
            "display_name",
            "created_at",
            "first_seen",
            "last_seen",
        ],  # fmt: skip
    )
    _utc(accounts, "created_at", "first_seen", "last_seen")
    return WindowFrames(posts, links, hashtags, mentions.reset_index(drop=True), accounts)
