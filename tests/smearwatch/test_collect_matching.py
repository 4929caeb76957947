"""Collect-time matching: what a broad search returns is kept only when it concerns a defender."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import select

from collector.post import post_from_record
from db import models
from db.engine import open_database
from db.store import PostWriter
from smearwatch.config import Defender
from smearwatch.matching import CollectMatching, MentionStep

DEFENDERS = [Defender("ormanova", "Bakhyt Ormanova", ("Bakhyt Ormanova", "Орманова"), {})]
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _post(n: int, text: str, **extra_fields):
    extra = extra_fields.pop("extra", {"query": "Орманова"})
    record = {
        "platform": "bluesky",
        "post_id": f"at://did:plc:x{n}/app.bsky.feed.post/{n}",
        "created_at": "2026-11-20T10:00:00Z",
        "author": {"id": f"did:plc:x{n}"},
        "text": text,
        **extra_fields,
    }
    return dataclasses.replace(post_from_record(record), extra=extra)


def _page(engine, matching: CollectMatching, posts):
    with engine.begin() as connection:
        kept = matching.before_write(connection, posts)
        writer = PostWriter(connection, collector="test/1", now=NOW)
        writer.write(kept)
        matching.after_write(connection, writer, kept)
        writer.finish()
    return {p.post_id.rsplit("/", 1)[1] for p in kept}


def test_relevant_posts_are_kept_and_their_mentions_stored(db_url: str) -> None:
    engine = open_database(db_url)
    matching = CollectMatching(MentionStep(DEFENDERS))
    first = [
        _post(
            1,
            "Орманова — иностранный агент https://smear.example/a?utm_source=x",
            links=["https://smear.example/a?utm_source=x"],
        ),
        _post(2, "Погода в Алматы"),  # unrelated search noise
        _post(3, "", repost_of="at://did:plc:x1/app.bsky.feed.post/1"),  # repost of a match
        # shares the matched link (tracking tail aside)
        _post(4, "Читайте https://smear.example/a", links=["https://smear.example/a"]),
        _post(5, "Мой кот", extra={"author": "watched.bsky.social"}),  # watched account
    ]
    assert _page(engine, matching, first) == {"1", "3", "4", "5"}
    # Context found in the database on a later page: a reply to the stored match.
    later = [
        _post(6, "Согласен!", reply_to="at://did:plc:x1/app.bsky.feed.post/1"),
        _post(7, "Ещё шум"),
    ]
    assert _page(engine, matching, later) == {"6"}
    assert matching.dropped == 2
    with engine.connect() as connection:
        rows = connection.execute(
            select(models.Post.platform_id, models.Mention.matched_text).join(
                models.Mention, models.Mention.post_id == models.Post.id
            )
        ).all()
    engine.dispose()
    assert [(pid.rsplit("/", 1)[1], text) for pid, text in rows] == [("1", "Орманова")]
