"""The collector interface: settings, registry, and the exactly-once walk bookkeeping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import COLLECTORS, build_collector, collector_class
from collector.base import (
    CollectorContext,
    NewestFirstWalk,
    example_toml,
    parse_duration,
    validate_settings,
)
from collector.errors import SettingsError


def test_registry_has_the_four_platforms() -> None:
    assert set(COLLECTORS) == {"bluesky", "mastodon", "telegram", "rss"}
    for platform, cls in COLLECTORS.items():
        assert cls.platform == platform


def test_unknown_platform_names_the_source() -> None:
    with pytest.raises(SettingsError, match="source 'x': unknown platform 'myspace'"):
        collector_class({"name": "x", "platform": "myspace"})
    with pytest.raises(SettingsError, match="source 'x': required key 'platform'"):
        collector_class({"name": "x"})


def test_missing_required_key_names_the_source(context: CollectorContext) -> None:
    with pytest.raises(SettingsError, match="source 'tg': required key 'channels' is missing"):
        build_collector({"name": "tg", "platform": "telegram"}, context)
    with pytest.raises(SettingsError, match="source 'm': required key 'base_url'"):
        build_collector({"name": "m", "platform": "mastodon"}, context)


def test_common_settings_and_defaults(context: CollectorContext) -> None:
    collector = build_collector(
        {
            "name": "news",
            "platform": "rss",
            "feeds": ["https://example.org/feed.xml"],
            "every": "1h30m",
            "enabled": False,
        },
        context,
    )
    assert collector.config["every"] == timedelta(minutes=90)
    assert collector.config["backfill"] == timedelta(days=7)
    assert collector.config["enabled"] is False
    again = validate_settings(type(collector), collector.config)
    assert again == collector.config  # idempotent


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15m", 900), ("7d", 604800), ("1h30m", 5400), ("90s", 90), (60, 60), ("2w", 1209600)],
)
def test_parse_duration(text: object, expected: int) -> None:
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("bad", ["soon", "15x", "", "-5m", True])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_every_collector_writes_an_example() -> None:
    import tomllib

    for platform, cls in COLLECTORS.items():
        text = example_toml(cls)
        table = tomllib.loads(text)["sources"][0]
        assert table["platform"] == platform
        assert "SMEARWATCH_" not in "".join(str(v) for v in table.values())


# -- NewestFirstWalk: nothing is skipped whatever page a run crashes after ---------------------


def _run(
    listing: list[int],
    state: dict | None,
    floor0: int,
    page_size: int,
    crash_after: int | None,
    committed: set[int],
) -> dict:
    """One run over a newest-first listing of integer keys; returns the last committed state."""
    walk = NewestFirstWalk(state, floor=(state or {}).get("hwm") or floor0)
    newest_first = sorted(listing, reverse=True)
    start = 0
    if walk.next is not None:
        start = next((i for i, k in enumerate(newest_first) if k < walk.next), len(newest_first))
    pages = 0
    last_state = state or {"hwm": None, "walk": None}
    while True:
        chunk = newest_first[start : start + page_size]
        start += page_size
        token = chunk[-1] if chunk and start < len(newest_first) else None
        committed.update(k for k in chunk if walk.keep(k))
        walk.advance(chunk, token)
        last_state = walk.state()
        pages += 1
        if walk.done or (crash_after is not None and pages >= crash_after):
            return last_state


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=6),
    page_size=st.integers(min_value=1, max_value=5),
    crashes=st.lists(
        st.one_of(st.none(), st.integers(min_value=1, max_value=3)), min_size=6, max_size=6
    ),
)
def test_walk_never_skips(batches: list[int], page_size: int, crashes: list[int | None]) -> None:
    listing: list[int] = list(range(1, 6))  # old items below the horizon
    horizon = 10
    next_key = horizon
    state = None
    committed: set[int] = set()
    for i, count in enumerate(batches):
        listing.extend(range(next_key, next_key + count))
        next_key += count
        state = _run(listing, state, horizon, page_size, crashes[i], committed)
    # runs without crashes: one finishes any resumed walk, the next starts from the newest
    # item and so picks up what arrived while the resumed walk was in progress
    state = _run(listing, state, horizon, page_size, None, committed)
    assert state["walk"] is None
    state = _run(listing, state, horizon, page_size, None, committed)
    wanted = {k for k in listing if k >= horizon}
    assert wanted <= committed
    assert not {k for k in committed if k < horizon}
