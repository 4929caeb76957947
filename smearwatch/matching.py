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
from collector.post import Post, normalize_url
from db import models
from db.queries import post_children
from db.store import PreparedPost
from smearwatch.config import Defender

__all__ = ["CollectMatching", "MentionStep", "RematchSummary", "refresh_stale_mentions"]

FINGERPRINT_KEY = "mention_matcher_fingerprint"
PAGE = 2000

_MENTION = models.Mention.__table__
_POST = models.Post.__table__


class MentionStep:
    """Finds defender mentions in posts and stores them beside the posts."""

    def __init__(self, defenders: Sequence[Defender]) -> None:
        self.defenders = tuple(defenders)
        self.fingerprint = matcher_fingerprint(self.defenders)
        self._matcher: MentionMatcher | None = None

    @property
    def matcher(self) -> MentionMatcher | None:
        """Built on first use: compiling every alias form takes a second or two, and commands
        that only check whether stored mentions are current never need it."""
        if self._matcher is None and self.defenders:
            self._matcher = MentionMatcher(self.defenders)
        return self._matcher

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

    def store(
        self,
        connection: Connection,
        stored: Iterable[tuple[PreparedPost, int]],
        found: dict[tuple[str, str], list[Mention]] | None = None,
        replaced: Sequence[int] | None = None,
    ) -> int:
        """Replace the mentions of these stored posts (new or edited); returns rows written.

        `replaced`: the ids among them that are edits and may have mentions from before
        (None: any of them may). Matches made already (by the import's worker process, or
        in `found`, by platform and post id) are taken as they are; the others are made here.
        """
        rows: list[dict[str, Any]] = []
        post_ids: list[int] = []
        for prepared, post_id in stored:
            post_ids.append(post_id)
            mentions = prepared.mentions
            if mentions is None and found:
                mentions = found.get((prepared.platform, prepared.post_id))
            if mentions is None:
                if self.matcher is None:
                    mentions = []  # no defenders configured: nothing to find
                elif prepared.post is None:
                    raise ValueError("a prepared post without its Post or its mentions")
                else:
                    mentions = self.find_in_post(prepared.post)
            rows.extend(_rows(post_id, mentions))
        _replace(connection, post_ids if replaced is None else list(replaced), rows)
        return len(rows)

    def __getstate__(self) -> dict[str, Any]:
        # An import's worker process builds its own matcher: compiled patterns don't travel.
        return {**self.__dict__, "_matcher": None}


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


# Provenance keys a collector sets on posts read from an explicitly watched stream: a watched
# account's feed, a channel, a feed. Posts from searches and hashtag timelines carry "query"
# or "hashtag" instead and are kept only when they are relevant.
WATCHED_STREAM_KEYS = ("author", "account", "channel", "feed")


class CollectMatching:
    """The collect pipeline's two hooks: keep what matters, then store its mentions.

    A collected post is kept when it mentions a defender, comes from a watched account,
    channel or feed, or is context for a matched post: it replies to, reposts or quotes one,
    or shares a link with one (in the same page or already stored). Everything else a broad
    search returns is dropped before it is written: it would only dilute the analysis and
    keep personal data about bystanders.
    """

    def __init__(self, step: MentionStep) -> None:
        self.step = step
        self._found: dict[tuple[str, str], list[Mention]] = {}
        self.dropped = 0
        self.mentions = 0

    def before_write(self, connection: Connection, posts: list[Post]) -> list[Post]:
        found = {(p.platform, p.post_id): self.step.find_in_post(p) for p in posts}
        self._found = found
        matched_ids = {key for key, mentions in found.items() if mentions}
        matched_links = {
            normalize_url(link)
            for p in posts
            if (p.platform, p.post_id) in matched_ids
            for link in p.links
        }
        undecided = [
            p for p in posts if (p.platform, p.post_id) not in matched_ids and not _watched(p)
        ]
        targets = {
            (p.platform, t) for p in undecided for t in (p.reply_to, p.repost_of, p.quote_of) if t
        }
        links = {normalize_url(link) for p in undecided for link in p.links}
        matched_ids |= _stored_matched_posts(connection, targets - matched_ids)
        matched_links |= _stored_matched_links(connection, links - matched_links)
        keep: list[Post] = []
        for post in posts:
            key = (post.platform, post.post_id)
            relevant = (
                key in matched_ids
                or _watched(post)
                or any(
                    (post.platform, t) in matched_ids
                    for t in (post.reply_to, post.repost_of, post.quote_of)
                    if t
                )
                or any(normalize_url(link) in matched_links for link in post.links)
            )
            if relevant:
                keep.append(post)
            else:
                self.dropped += 1
        return keep

    def after_write(self, connection: Connection, writer: Any, posts: list[Post]) -> None:
        self.mentions += self.step.store(
            connection, writer.last_stored, self._found, writer.last_edited_ids
        )
        self._found = {}


def _watched(post: Post) -> bool:
    extra = post.extra or {}
    return any(extra.get(key) for key in WATCHED_STREAM_KEYS)


def _stored_matched_posts(
    connection: Connection, keys: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of these (platform, post id) are stored posts that mention a defender."""
    found: set[tuple[str, str]] = set()
    by_platform: dict[str, list[str]] = {}
    for platform, post_id in keys:
        by_platform.setdefault(platform, []).append(post_id)
    for platform, ids in by_platform.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = connection.execute(
                select(_POST.c.platform_id)
                .join(_MENTION, _MENTION.c.post_id == _POST.c.id)
                .where(_POST.c.platform == platform, _POST.c.platform_id.in_(chunk))
                .distinct()
            )
            found.update((platform, row[0]) for row in rows)
    return found


def _stored_matched_links(connection: Connection, links: set[str]) -> set[str]:
    """Which of these normalised links were shared by a stored post that mentions a defender."""
    link = models.PostLink.__table__
    found: set[str] = set()
    wanted = sorted(links)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = connection.execute(
            select(link.c.normalized_url)
            .join(_MENTION, _MENTION.c.post_id == link.c.post_id)
            .where(link.c.normalized_url.in_(chunk))
            .distinct()
        )
        found.update(row[0] for row in rows)
    return found
