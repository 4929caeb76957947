"""The report's smear terms per mention post, found once and stored (`post_smear_terms`).

A cold week report used to read every mention text of the week and run the matcher over it
(on bench/web.py's 1,001,000 posts: ~100,000 texts, about 1 s of reading and 2-3 s of
matching), although a post's terms change only when its text or the vocabulary does.
`store_post_terms` finds them for the mention posts of a time window, under the vocabulary
the report will use, and `smearwatch analyze` calls it for its window after the run is
stored (`vocabulary_from_run` of that run is exactly what the week report takes).

A stored row is an answer, not a fact of its own: the week report takes it only when its
vocabulary key (`Vocabulary.key`: terms, stems, matcher version) is the report's and its
`content_sha256` is the post's current one, and matches the text itself otherwise (a post
imported after the analysis, an edit, a new vocabulary file, posts outside the analysed
window). So the report's figures are the same with, without or with stale rows; only the
time differs. Rows are written per day of posts, each day in its own short transaction,
so a daemon's import waits for at most one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache

import orjson
from sqlalchemy import Connection, Engine, and_, delete, insert, select

from db import models
from reports.vocabulary import Vocabulary

__all__ = ["decode_terms", "encode_terms", "fresh_terms", "store_post_terms"]

CHUNK = 900  # bound parameters per IN (...) list
SLICE = timedelta(days=1)  # posts classified and written per transaction

_POST = models.Post.__table__
_MENTION = models.Mention.__table__
_TERMS = models.PostSmearTerms.__table__


def encode_terms(found: list[str]) -> str:
    return orjson.dumps(found).decode()


@lru_cache(maxsize=4096)
def decode_terms(stored: str) -> tuple[str, ...]:
    """The terms of a stored row; a week has few distinct term sets, so each is decoded once."""
    return tuple(orjson.loads(stored))


def fresh_terms(vocabulary: Vocabulary) -> tuple[object, object]:
    """(table, ON clause) to LEFT JOIN the stored terms that are right for `vocabulary` and
    the post's current content; a NULL `terms` then means "match the text"."""
    condition = and_(
        _TERMS.c.post_id == _POST.c.id,
        _TERMS.c.vocabulary == vocabulary.key,
        _TERMS.c.content_sha256 == _POST.c.content_sha256,
    )
    return _TERMS, condition


def _slices(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    while start < end:
        yield start, min(start + SLICE, end)
        start += SLICE


def _pending(
    connection: Connection, vocabulary: Vocabulary, start: datetime, end: datetime
) -> list[tuple[int, str, str | None]]:
    """(post id, content SHA-256, text) of the mention posts in [start, end) without a row
    that is right for `vocabulary` and their current content."""
    table, condition = fresh_terms(vocabulary)
    mentioned = select(_MENTION.c.id).where(_MENTION.c.post_id == _POST.c.id).exists()
    fresh = select(table.c.post_id).where(condition).exists()
    rows = connection.execute(
        select(_POST.c.id, _POST.c.content_sha256, _POST.c.text).where(
            _POST.c.created_at >= start, _POST.c.created_at < end, mentioned, ~fresh
        )
    )
    return [(post_id, sha, text) for post_id, sha, text in rows]


def store_post_terms(
    engine: Engine, vocabulary: Vocabulary, since: datetime, until: datetime
) -> int:
    """Find and store the terms of the mention posts created in [since, until) that have no
    right row yet; returns the rows written.

    A post keeps one row: its rows under other vocabularies or older content are replaced.
    The content hash stored is the one read with the text, so a post edited meanwhile keeps
    a row the report will not take (its hash is no longer the post's) until the next run.
    """
    key = vocabulary.key
    written = 0
    for start, end in _slices(since, until):
        with engine.begin() as connection:
            pending = _pending(connection, vocabulary, start, end)
            if not pending:
                continue
            ids = [post_id for post_id, _, _ in pending]
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i : i + CHUNK]
                connection.execute(delete(_TERMS).where(_TERMS.c.post_id.in_(chunk)))
            connection.execute(
                insert(_TERMS),
                [
                    {
                        "post_id": post_id,
                        "vocabulary": key,
                        "content_sha256": sha,
                        "terms": encode_terms(vocabulary.matches(text or "")),
                    }
                    for post_id, sha, text in pending
                ],
            )
            written += len(pending)
    return written
