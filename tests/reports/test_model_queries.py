"""The week's aggregates come from SQL; they must equal counting every mention row in Python."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text

from db import models
from reports.model import BASELINE_WEEKS, _smear_counts, build_week_report, utc_day
from reports.vocabulary import BUILTIN_TERMS, Vocabulary
from reports.weeks import parse_week
from tests.reports.conftest import World

W47 = parse_week("2026-W47")
POST = models.Post.__table__
MENTION = models.Mention.__table__
ACCOUNT = models.Account.__table__


def _reference(world: World, defender: str | None) -> dict:
    """The counts as the report defines them, computed row by row."""
    start = W47.shifted(-BASELINE_WEEKS).start
    query = (
        select(
            POST.c.id,
            POST.c.created_at,
            POST.c.platform,
            POST.c.account_id,
            MENTION.c.defender_id,
            ACCOUNT.c.created_at,
            POST.c.text,
        )
        .join(MENTION, MENTION.c.post_id == POST.c.id)
        .join(ACCOUNT, ACCOUNT.c.id == POST.c.account_id)
        .where(POST.c.created_at >= start, POST.c.created_at < W47.end)
        .distinct()
    )
    if defender:
        query = query.where(MENTION.c.defender_id == defender)
    with world.engine.connect() as connection:
        rows = connection.execute(query).all()
    in_week = [r for r in rows if r[1] >= W47.start]
    prev = W47.shifted(-1)
    accounts: dict[str, set[int]] = defaultdict(set)
    first: dict[int, tuple] = {}
    for r in in_week:
        accounts[r[4]].add(r[3])
        if r[3] not in first or r[1] < first[r[3]][0]:
            first[r[3]] = (r[1], r[5])
    vocabulary = Vocabulary(BUILTIN_TERMS, "test")
    texts = {r[0]: r[6] for r in in_week}
    terms: Counter[str] = Counter()
    for post_text in texts.values():
        terms.update(vocabulary.matches(post_text or ""))
    per_week: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        if r[1] < W47.start:
            year, week, _ = r[1].isocalendar()
            per_week[r[4]][f"{year}-W{week:02d}"] += 1
    return {
        "daily": sorted(Counter((r[1].date(), r[4], r[2]) for r in in_week).items()),
        "this": Counter(r[4] for r in in_week),
        "prev": Counter(r[4] for r in rows if prev.start <= r[1] < prev.end),
        "posts": len(texts),
        "accounts": {d: len(a) for d, a in accounts.items()},
        "unique": len(first),
        "young": sum(1 for t, c in first.values() if c and t - c < timedelta(days=30)),
        "terms": terms,
        "per_week": per_week,
    }


@pytest.mark.parametrize("defender", [None, "ormanova"])
def test_week_aggregates_equal_row_by_row_counts(world: World, defender: str | None) -> None:
    report = build_week_report(world.engine, world.inputs, W47, defender=defender)
    expected = _reference(world, defender)
    daily = sorted(((d.day, d.defender_id, d.platform), d.posts) for d in report.daily)
    assert daily == expected["daily"]
    assert report.totals["mentions"] == sum(expected["this"].values())
    assert report.totals["posts"] == expected["posts"]
    assert report.totals["unique_accounts"] == expected["unique"]
    assert report.totals["young_accounts"] == expected["young"]
    ranked = sorted(expected["terms"].items(), key=lambda kv: (-kv[1], kv[0]))
    assert report.smear_terms == ranked[: report.settings.top_terms]
    for row in report.watch:
        assert row.mentions == expected["this"][row.defender_id]
        assert row.mentions_prev == expected["prev"][row.defender_id]
        assert row.unique_accounts == expected["accounts"].get(row.defender_id, 0)
        weekly = [expected["per_week"][row.defender_id][w] for w in report.baseline_weeks]
        assert report.baseline_daily[row.defender_id] == pytest.approx(statistics.fmean(weekly) / 7)


def test_smear_counts_once_per_post_and_defender(world: World) -> None:
    """Two aliases of one defender in a post count once; two defenders count once each."""
    with world.engine.begin() as connection:
        post_id = connection.execute(
            select(POST.c.id).where(POST.c.text.like("%грантоед, работает%")).limit(1)
        ).scalar_one()
        connection.execute(
            insert(MENTION),
            [
                {"post_id": post_id, "defender_id": d, "alias": a, "matched_text": a,
                 "field": "text", "start": 0, "end": 1}
                for d, a in (("ormanova", "Ormanova"), ("kesler", "Kesler"))
            ],
        )  # fmt: skip
        vocabulary = Vocabulary(BUILTIN_TERMS, "test")
        before = _reference(world, None)["terms"]
        terms, per_defender = _smear_counts(connection, W47.start, W47.end, None, vocabulary)
    assert terms == before  # the extra mention rows do not count the text twice
    assert per_defender["kesler"] >= 1


@pytest.mark.parametrize("zone", ["UTC", "Asia/Almaty", "America/Los_Angeles"])
def test_utc_day_is_the_utc_calendar_day(db_url: str, zone: str) -> None:
    from db.engine import open_database

    engine = open_database(db_url)
    moments = [
        datetime(2026, 11, 16, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 16, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 17, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 16, 20, 30, tzinfo=UTC),  # already the 17th in Almaty
    ]
    table = models.CollectionRun.__table__
    with engine.begin() as connection:
        source = connection.execute(
            insert(models.Source.__table__).returning(models.Source.id),
            {"name": "s", "platform": "rss", "created_at": moments[0], "updated_at": moments[0]},
        ).scalar_one()
        connection.execute(
            insert(table),
            [{"source_id": source, "started_at": m, "status": "ok"} for m in moments],
        )
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SET TIME ZONE '{zone}'"))
        day = utc_day(connection, table.c.started_at)
        found = connection.execute(select(day).order_by(table.c.id)).scalars().all()
    engine.dispose()
    assert [date.fromisoformat(str(d)) for d in found] == [m.date() for m in moments]


TRICKY_TEXTS = [
    "",
    "ТРАİTOR и ПРЕДАТЕЛЬ",
    "traıtor",
    "ſoros",
    "Sᴏros",
    "ИНОАГЕНТ",
    "Foreign \u00a0 AGENT",
    "ᲀраг народа",
    "ВРАГ НАРОДА",
    "ΣOROS",
    "сорос\u0307",
    "Халық жауы, САТҚЫН",
    "grant-eater ГРАНТОЕДЫ",
    "нет ничего такого",
    "İ" * 3 + "предател",
]


@pytest.mark.parametrize(
    "terms",
    [
        BUILTIN_TERMS,
        {"ıslam": ("ıslam",), "x": ("sᴏros",)},  # stems with letters `re` folds specially
        {"Шпион": ("шпион",), "σ": ("σκ",)},
    ],
)
def test_vocabulary_screen_finds_what_case_insensitive_patterns_find(terms) -> None:
    vocabulary = Vocabulary(terms, "test")
    patterns = vocabulary._patterns  # type: ignore[attr-defined]
    for sample in TRICKY_TEXTS:
        exact = [t for t, p in patterns.items() if p.search(sample)]
        assert vocabulary.matches(sample) == exact, sample


def test_a_run_of_the_analysis_counts_its_hostile_terms_and_never_support_words() -> None:
    """What the analysis stores (`Vocabulary.to_dict`) names categories, not terms: the report
    reads the file's hostile terms, so "solidarity" is no smear term and real smears count."""
    from analysis.smear import load_vocabulary
    from reports.vocabulary import vocabulary_from_run

    stored = load_vocabulary().to_dict()
    vocabulary = vocabulary_from_run(stored)
    assert vocabulary.origin == f"analysis vocabulary {stored['version']}"
    assert vocabulary.matches("Орманова — иностранный агент и #грантоед") == [
        "foreign agent",
        "grant eater",
    ]
    assert vocabulary.matches("Иностранного агента Орманову снова позвали") == ["foreign agent"]
    assert vocabulary.matches("Solidarity with Ormanova! Қолдаймыз!") == []
    assert vocabulary.matches("ворота открыты") == []  # "вор$" is a whole word only
    changed = vocabulary_from_run({**stored, "sha256": "0" * 64, "version": "old"})
    assert "the analysis run used version old" in changed.origin


@pytest.mark.parametrize("defender", [None, "ormanova", "kesler"])
def test_top_hashtags_and_domains_equal_row_by_row_counts(world: World, defender) -> None:
    """Posts per hashtag and per domain among the week's mention posts (each post once per
    value), most used first: what the one `UNION ALL` statement of `_week_counts` gives."""
    hashtag = models.PostHashtag.__table__
    link = models.PostLink.__table__
    report = build_week_report(world.engine, world.inputs, W47, defender=defender)
    expected = {}
    with world.engine.connect() as connection:
        mentioned = select(MENTION.c.post_id)
        if defender:
            mentioned = mentioned.where(MENTION.c.defender_id == defender)
        posts = set(
            connection.execute(
                select(POST.c.id).where(
                    POST.c.created_at >= W47.start,
                    POST.c.created_at < W47.end,
                    POST.c.id.in_(mentioned),
                )
            ).scalars()
        )
        for name, table, column in (("tags", hashtag, "tag"), ("domains", link, "domain")):
            per_value: dict[str, set[int]] = defaultdict(set)
            for post_id, value in connection.execute(select(table.c.post_id, table.c[column])):
                if post_id in posts and value is not None:
                    per_value[value].add(post_id)
            ranked = sorted(
                ((v, len(p)) for v, p in per_value.items()), key=lambda kv: (-kv[1], kv[0])
            )
            expected[name] = ranked[: report.settings.top_terms]
    assert expected["tags"] and expected["domains"]  # the world has both to count
    assert report.hashtags == expected["tags"]
    assert report.domains == expected["domains"]


def test_a_database_in_memory_is_read_on_one_connection(tmp_path) -> None:
    """The report's side reads run on connections of their own; a database in memory has
    only the one (another connection would open another, empty database)."""
    from db.engine import open_database
    from smearwatch.config import load_config
    from smearwatch.matching import MentionStep
    from smearwatch.pipeline import import_file
    from smearwatch.reporting import report_inputs
    from tests.reports.conftest import CONFIG, _write_jsonl, world_posts

    path = tmp_path / "smearwatch.toml"
    path.write_text(CONFIG.format(url="sqlite://", key_file=tmp_path / "k"), encoding="utf-8")
    config = load_config(path)
    engine = open_database(config.database_url)
    import_file(
        engine,
        _write_jsonl(tmp_path / "posts.jsonl", world_posts()),
        mentions=MentionStep(config.defenders),
    )
    report = build_week_report(engine, report_inputs(config), W47)
    engine.dispose()
    assert report.totals["mentions"] > 0 and report.daily and report.hashtags


def test_daily_counts_kept_per_week_give_the_same_report(world: World) -> None:
    """With a daily cache (the web keeps one per data fingerprint) each report equals the one
    built without it; the week before reuses the four weeks the two share, which are read
    from the cache, not counted again."""
    cache: dict = {}
    report = build_week_report(world.engine, world.inputs, W47, daily_cache=cache)
    assert report == build_week_report(world.engine, world.inputs, W47)
    window = [W47.shifted(-i) for i in range(BASELINE_WEEKS, -1, -1)]
    assert set(cache) == {(w.label, None) for w in window}
    assert all(d.posts for d in report.daily)
    w46 = W47.shifted(-1)
    assert build_week_report(
        world.engine, world.inputs, w46, daily_cache=cache
    ) == build_week_report(world.engine, world.inputs, w46)
    assert (w46.shifted(-BASELINE_WEEKS).label, None) in cache  # only that week was new
    # The cached weeks are what the report reads: empty the week before W47 in the cache and
    # its "last week" column follows.
    assert any(row.mentions_prev for row in report.watch)
    cache[(w46.label, None)] = []
    emptied = build_week_report(world.engine, world.inputs, W47, daily_cache=cache)
    assert [row.mentions_prev for row in emptied.watch] == [0] * len(emptied.watch)
    assert emptied.daily == report.daily  # the week itself is W47's own rows
