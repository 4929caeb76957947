"""Stored smear terms (`reports.terms`): the week report takes them only where they are right.

Each test builds the report with the stored rows and checks it against the report built from
the texts alone (no rows), after whatever could make a row wrong: an edit, another
vocabulary, a tombstone, a removed post. The matcher is counted to show the rows are used.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from db import models
from reports.model import build_week_report
from reports.terms import store_post_terms
from reports.vocabulary import BUILTIN_TERMS, Vocabulary, vocabulary_from_run
from reports.weeks import parse_week
from smearwatch.pipeline import import_file
from tests.reports.conftest import World, _write_jsonl, world_posts

W47 = parse_week("2026-W47")
SINCE = W47.shifted(-2).start
POST = models.Post.__table__
MENTION = models.Mention.__table__
TERMS = models.PostSmearTerms.__table__


@pytest.fixture
def matched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the matcher is asked about from now on."""
    asked: list[str] = []
    original = Vocabulary.matches

    def counting(self: Vocabulary, text: str) -> list[str]:
        asked.append(text)
        return original(self, text)

    monkeypatch.setattr(Vocabulary, "matches", counting)
    return asked


def _from_texts(world: World, defender: str | None = None):
    """The report as the texts alone give it: every stored row set aside, then put back."""
    with world.engine.begin() as connection:
        kept = [dict(r._mapping) for r in connection.execute(select(TERMS))]
        connection.execute(delete(TERMS))
    report = build_week_report(world.engine, world.inputs, W47, defender=defender)
    if kept:
        with world.engine.begin() as connection:
            connection.execute(TERMS.insert(), kept)
    return report


def _mention_posts(world: World, start, end) -> int:
    with world.engine.connect() as connection:
        return connection.execute(
            select(func.count(func.distinct(MENTION.c.post_id)))
            .join(POST, POST.c.id == MENTION.c.post_id)
            .where(POST.c.created_at >= start, POST.c.created_at < end)
        ).scalar_one()


def _builtin() -> Vocabulary:
    return vocabulary_from_run(None)  # the world's run records no vocabulary


@pytest.mark.parametrize("defender", [None, "ormanova"])
def test_stored_terms_give_the_same_report_without_matching(
    world: World, matched: list[str], defender: str | None
) -> None:
    expected = _from_texts(world, defender)
    assert expected.smear_terms  # the world has smear terms to count
    written = store_post_terms(world.engine, _builtin(), SINCE, W47.end)
    assert written == _mention_posts(world, SINCE, W47.end) > 0
    assert store_post_terms(world.engine, _builtin(), SINCE, W47.end) == 0  # all there
    matched.clear()
    report = build_week_report(world.engine, world.inputs, W47, defender=defender)
    assert matched == []  # every term came from a stored row
    assert report == expected


def test_an_edited_post_is_not_answered_from_its_old_row(world: World) -> None:
    store_post_terms(world.engine, _builtin(), SINCE, W47.end)
    before = build_week_report(world.engine, world.inputs, W47)
    records = world_posts()
    index = next(
        i
        for i, r in enumerate(records)
        if "грантоед" in r["text"] and r["created_at"] >= f"{W47.start:%Y-%m-%d}"
    )
    edited = dict(records[index], text="Орманова — шпион и провокатор")
    import_file(world.engine, _write_jsonl(world.tmp / "edit.jsonl", [edited]))
    with world.engine.connect() as connection:
        version = connection.execute(
            select(POST.c.version).where(POST.c.platform_id == edited["post_id"])
        ).scalar_one()
    assert version == 2  # stored as an edit of the same post row
    report = build_week_report(world.engine, world.inputs, W47)
    assert report == _from_texts(world)
    assert report.smear_terms != before.smear_terms  # the edit changed the counts
    # The next store replaces the stale row; the report is still the texts' one.
    assert store_post_terms(world.engine, _builtin(), SINCE, W47.end) == 1
    assert build_week_report(world.engine, world.inputs, W47) == report


def test_rows_of_another_vocabulary_are_not_taken(world: World, matched: list[str]) -> None:
    other = Vocabulary({**BUILTIN_TERMS, "суд": ("суд",)}, "another file")
    assert other.key != _builtin().key
    assert Vocabulary(BUILTIN_TERMS, "another origin").key == _builtin().key
    store_post_terms(world.engine, other, SINCE, W47.end)
    matched.clear()
    report = build_week_report(world.engine, world.inputs, W47)
    assert len(matched) == _mention_posts(world, W47.start, W47.end)
    assert report == _from_texts(world)
    # Storing under the report's vocabulary replaces them: one row per post.
    written = store_post_terms(world.engine, _builtin(), SINCE, W47.end)
    with world.engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(TERMS)).scalar_one()
        keys = set(connection.execute(select(TERMS.c.vocabulary)).scalars())
    assert rows == written and keys == {_builtin().key}


def test_tombstoned_and_removed_posts(world: World) -> None:
    from db.store import mark_deleted

    store_post_terms(world.engine, _builtin(), SINCE, W47.end)
    with world.engine.connect() as connection:
        first, second = connection.execute(
            select(POST.c.id, POST.c.platform, POST.c.platform_id)
            .where(
                POST.c.created_at >= W47.start,
                POST.c.text.like("%грантоед%"),
                select(MENTION.c.id).where(MENTION.c.post_id == POST.c.id).exists(),
            )
            .order_by(POST.c.id)
            .limit(2)
        ).all()
    with world.engine.begin() as connection:
        mark_deleted(
            connection,
            first.platform,
            [first.platform_id],
            when=W47.end,
            deletion={"method": "recheck"},
        )
    assert build_week_report(world.engine, world.inputs, W47) == _from_texts(world)
    before = _from_texts(world)
    with world.engine.begin() as connection:
        connection.execute(delete(POST).where(POST.c.id == second.id))
        left = connection.execute(
            select(func.count()).select_from(TERMS).where(TERMS.c.post_id == second.id)
        ).scalar_one()
    assert left == 0  # the row went with its post
    report = build_week_report(world.engine, world.inputs, W47)
    assert report == _from_texts(world)
    assert report.totals["posts"] == before.totals["posts"] - 1


def test_analyze_stores_the_terms_of_its_window(world: World, matched: list[str]) -> None:
    from smearwatch.analyze import run_analysis

    summary = run_analysis(world.engine, world.config, since=W47.start, until=W47.end)
    run = models.AnalysisRun.__table__
    with world.engine.connect() as connection:
        stored = connection.execute(
            select(run.c.vocabulary).where(run.c.id == summary.run_id)
        ).scalar_one()
        keys = set(connection.execute(select(TERMS.c.vocabulary)).scalars())
    assert keys == {vocabulary_from_run(stored).key}  # what the week report will read
    assert _count_rows(world) == _mention_posts(world, W47.start, W47.end) > 0
    matched.clear()
    report = build_week_report(world.engine, world.inputs, W47)
    assert matched == []
    assert report == _from_texts(world)
    # Outside the window nothing was stored: the week before matches its texts.
    matched.clear()
    build_week_report(world.engine, world.inputs, W47.shifted(-1))
    assert len(matched) == _mention_posts(world, W47.shifted(-1).start, W47.start) > 0


def _count_rows(world: World) -> int:
    with world.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(TERMS)).scalar_one()


def test_stores_day_by_day_across_a_partial_day(world: World) -> None:
    """A window not on day boundaries: every mention post in it, none outside."""
    start = W47.start + timedelta(hours=13)
    end = W47.end - timedelta(hours=5)
    assert store_post_terms(world.engine, _builtin(), start, end) == _mention_posts(
        world, start, end
    )
    with world.engine.connect() as connection:
        outside = connection.execute(
            select(func.count())
            .select_from(TERMS.join(POST, POST.c.id == TERMS.c.post_id))
            .where((POST.c.created_at < start) | (POST.c.created_at >= end))
        ).scalar_one()
    assert outside == 0


def test_a_reimport_keeps_the_rows_and_a_new_mention_post_is_matched(
    world: World, matched: list[str]
) -> None:
    """Importing the same posts again changes no content: the rows stay right and are used.
    A post that becomes a mention post later (an alias added, mentions matched again) has no
    row yet, so its text is matched."""
    store_post_terms(world.engine, _builtin(), SINCE, W47.end)
    import_file(world.engine, _write_jsonl(world.tmp / "again.jsonl", world_posts()))
    matched.clear()
    assert build_week_report(world.engine, world.inputs, W47) == _from_texts(world)
    assert len(matched) == _mention_posts(world, W47.start, W47.end)  # _from_texts alone
    with world.engine.begin() as connection:
        quiet = connection.execute(
            select(POST.c.id)
            .where(
                POST.c.created_at >= W47.start,
                POST.c.created_at < W47.end,
                ~select(MENTION.c.id).where(MENTION.c.post_id == POST.c.id).exists(),
            )
            .limit(1)
        ).scalar_one()
        connection.execute(
            MENTION.insert(),
            {"post_id": quiet, "defender_id": "kesler", "alias": "Kesler",
             "matched_text": "Kesler", "field": "text", "start": 0, "end": 6},
        )  # fmt: skip
    matched.clear()
    report = build_week_report(world.engine, world.inputs, W47)
    assert len(matched) == 1  # only the new mention post's text
    assert report == _from_texts(world)
