"""Defender matching wired into storage: mentions are written with the posts they come from.

Matching runs inside the same transaction that stores the posts, so a post is never stored
without its mentions. The matcher's fingerprint (defenders, aliases, handles and rule data) is
kept in the `state` table; when the config changes, `refresh_stale_mentions` matches every
stored post again, so an alias added today also finds last month's posts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from analysis.mentions import Mention, MentionMatcher, matcher_fingerprint
from collector.post import Post
from db import models
from db.queries import post_children
from smearwatch.config import Defender

__all__ = ["MentionStep", "RematchSummary", "refresh_stale_mentions"]

FINGERPRINT_KEY = "mention_matcher_fingerprint"
PAGE = 2000

_MENTION = models.Mention.__table__
_POST = models.Post.__table__


class MentionStep:
    """Finds defender mentions in posts and stores them beside the posts."""

    def __init__(self, defenders: Sequence[Defender]) -> None:
        self.defenders = tuple(defenders)
        self.matcher = MentionMatcher(self.defenders) if self.defenders else None
        self.fingerprint = matcher_fingerprint(self.defenders)

    def find(
        self,
        text: str,
        *,
        hashtags: Sequence[str] = (),
        mentions: Sequence[str] = (),
        links: Sequence[str] = (),
        url: str | None = None,
    ) -> list[Mention]:
        if self.matcher is None:
            return []
        return self.matcher.find(text, hashtags=hashtags, mentions=mentions, links=links, url=url)

    def find_in_post(self, post: Post) -> list[Mention]:
        return self.find(
            post.text,
            hashtags=post.hashtags,
            mentions=post.mentions,
            links=post.links,
            url=post.url,
        )

    def store(self, connection: Connection, stored: Iterable[tuple[Post, int]]) -> int:
        """Replace the mentions of these stored posts (new or edited); returns rows written."""
        rows: list[dict[str, Any]] = []
        post_ids: list[int] = []
        for post, post_id in stored:
            post_ids.append(post_id)
            rows.extend(_rows(post_id, self.find_in_post(post)))
        _replace(connection, post_ids, rows)
        return len(rows)


def _rows(post_id: int, mentions: Iterable[Mention]) -> list[dict[str, Any]]:
    return [
        {
            "post_id": post_id,
            "defender_id": m.defender_id,
            "alias": m.alias,
            "matched_text": m.matched_text,
            "field": m.field,
            "start": m.start,
            "end": m.end,
        }
        for m in mentions
    ]


def _replace(connection: Connection, post_ids: list[int], rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(post_ids), 900):
        chunk = post_ids[start : start + 900]
        connection.execute(delete(_MENTION).where(_MENTION.c.post_id.in_(chunk)))
    if rows:
        connection.execute(insert(_MENTION), rows)


def stored_fingerprint(connection: Connection) -> str | None:
    state = models.State.__table__
    return connection.execute(
        select(state.c.value).where(state.c.key == FINGERPRINT_KEY)
    ).scalar_one_or_none()


def _save_fingerprint(connection: Connection, value: str) -> None:
    state = models.State.__table__
    connection.execute(delete(state).where(state.c.key == FINGERPRINT_KEY))
    connection.execute(
        insert(state), {"key": FINGERPRINT_KEY, "value": value, "updated_at": datetime.now(UTC)}
    )


@dataclass
class RematchSummary:
    posts: int
    mentions: int
    reason: str


def refresh_stale_mentions(engine: Engine, step: MentionStep) -> RematchSummary | None:
    """Match every stored post again if the defenders or rules changed since the last match.

    One transaction: an interrupted re-match leaves the old mentions and the old fingerprint,
    so the next command simply tries again.
    """
    with engine.begin() as connection:
        previous = stored_fingerprint(connection)
        if previous == step.fingerprint:
            return None
        has_posts = connection.execute(select(_POST.c.id).limit(1)).first() is not None
        if not has_posts:
            _save_fingerprint(connection, step.fingerprint)
            return None
        connection.execute(delete(_MENTION))
        posts = written = 0
        last_id = 0
        while True:
            page = connection.execute(
                select(_POST.c.id, _POST.c.text, _POST.c.url)
                .where(_POST.c.id > last_id)
                .order_by(_POST.c.id)
                .limit(PAGE)
            ).all()
            if not page:
                break
            ids = [row.id for row in page]
            children = post_children(connection, ids)
            rows: list[dict[str, Any]] = []
            for row in page:
                found = step.find(
                    row.text,
                    hashtags=children["hashtags"].get(row.id, ()),
                    mentions=children["mentions"].get(row.id, ()),
                    links=children["links"].get(row.id, ()),
                    url=row.url,
                )
                rows.extend(_rows(row.id, found))
            if rows:
                connection.execute(insert(_MENTION), rows)
            posts += len(page)
            written += len(rows)
            last_id = ids[-1]
        _save_fingerprint(connection, step.fingerprint)
    reason = "first match of stored posts" if previous is None else "defenders or rules changed"
    return RematchSummary(posts=posts, mentions=written, reason=reason)
